"""Thick mode with in-cluster credentials: no kubeconfig anywhere, the daemon uses the
service account a pod gets (token and CA in the projected volume, the API server from
KUBERNETES_SERVICE_HOST/PORT), over HTTPS verified against that CA, and keeps working when
the kubelet rotates the token and the old one is rejected.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.daemon_support import DaemonProcess, Transport
from tests.e2e.conftest import E2E
from tests.kubeapi.fixture import KubeAPIHandle
from tests.kubeapi.incluster import ServiceAccountVolume, make_tls
from tests.kubeapi.server import FakeKubeAPI


@pytest.mark.parametrize("e2e", ["thin"], indirect=True)  # its node; the daemon is ours
def test_daemon_uses_the_pods_service_account_and_survives_rotation(e2e: E2E,
                                                                    tmp_path: Path) -> None:
    from netattach.linux import run_in_netns

    tls = make_tls(tmp_path / "tls")
    server = run_in_netns(e2e.node.path, lambda: FakeKubeAPI(tokens=["sa-token-1"],
                                                             tls=tls.server_pair).start())
    try:
        sa = ServiceAccountVolume(tmp_path / "serviceaccount", "sa-token-1", tls.ca)
        e2e.api = KubeAPIHandle(server, tmp_path / "no-kubeconfig", sa.directory / "token",
                                "sa-token-1")
        e2e.add_nad("mv", e2e.macvlan_conf("mv"))
        first = e2e.sandbox("first", networks=[{"name": "mv", "ips": ["198.51.100.21/24"]}])
        socket_dir = tmp_path / "sock"
        in_pod = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                  "KUBERNETES_SERVICE_PORT": str(server.port)}
        with DaemonProcess.start(socket_dir=socket_dir, log_path=tmp_path / "daemon.log",
                                 node_netns=e2e.node.name, env=in_pod,
                                 config={"serviceAccountDir": str(sa.directory)}) as daemon:
            e2e.transport = Transport.thick(e2e.bindir, socket_dir)
            e2e.daemon = daemon
            conf = e2e.meta_config(kubeconfig=None)
            assert "kubeconfig" not in conf and "--kubeconfig" not in daemon.argv
            assert f"as the pod's service account ({sa.directory})" in daemon.logs()

            rc, out = e2e.run_cni("ADD", first, config=conf)

            assert rc == 0, (out, daemon.logs()[-3000:])
            assert e2e.addresses(first.netns, "net1") == ["198.51.100.21/24"]
            assert [s["interface"] for s in e2e.network_status(first)] == ["eth0", "net1"]

            # the kubelet refreshes the projected token; the old one is rejected from now on
            sa.rotate("sa-token-2")
            server.set_tokens(["sa-token-2"])
            seen = len(e2e.api.requests())
            second = e2e.sandbox("second", networks=[{"name": "mv",
                                                      "ips": ["198.51.100.22/24"]}])
            rc, out = e2e.run_cni("ADD", second, config=conf)

            assert rc == 0, (out, daemon.logs()[-3000:])
            assert e2e.addresses(second.netns, "net1") == ["198.51.100.22/24"]
            assert [s["interface"] for s in e2e.network_status(second)] == ["eth0", "net1"]
            after = e2e.api.requests()[seen:]
            assert any(r.verb == "patch" and r.status == 200 and r.token == "sa-token-2"
                       for r in after), after
            assert not any(r.status == 200 and r.token == "sa-token-1" for r in after)

            for pod in (first, second):
                rc, out = e2e.run_cni("DEL", pod, config=conf)
                assert (rc, out) == (0, None), daemon.logs()[-3000:]
            for pod in (first, second):
                e2e.assert_nothing_left(pod)
    finally:
        server.stop()
