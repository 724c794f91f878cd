"""End-to-end fixtures for the meta plugin (`"type": "netattach"`, thin mode).

Every test gets its own "node" network namespace. The fake API server listens on the
node's 127.0.0.1, the installed `netattach` executable runs there (`ip netns exec NODE`)
with env + stdin exactly as a runtime passes them, and the cluster network (the reference
Go `ptp` + `host-local` from /usr/lib/cni) creates its host side there, never in the
machine's root namespace. Two veth "NICs" in the node (peers in a "switch" namespace)
carry the secondary networks. Everything is removed in finalizers, even on failure.

    def test_x(e2e):
        e2e.add_nad("net-a", e2e.macvlan_conf("net-a"))
        pod = e2e.sandbox("p1", networks="net-a")
        rc, out = e2e.run_cni("ADD", pod)

Tests parametrized with `@pytest.mark.parametrize("e2e", MODES, indirect=True)` run twice:
through the thin executable and through `netattach-shim` to a `netattach daemon` running
in the same node namespace (thick mode), with the same env, config and assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.daemon_support import DaemonProcess, Transport
from tests.kubeapi.fixture import KubeAPIHandle
from tests.kubeapi.server import FakeKubeAPI
from tests.netns.conftest import NetnsFactory, TestNetns, ip_json, netns_prefix  # noqa: F401

NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
GO_PLUGINS = "/usr/lib/cni"
CLUSTER_NETWORK = "e2e-cluster"
TOKEN = "e2e-token"
MODES = ["thin", "thick"]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class Sandbox:
    """One pod: its API identity plus the network namespace and container ID of its sandbox."""

    name: str
    namespace: str
    uid: str
    netns: TestNetns
    container_id: str


@dataclass
class E2E:
    """A node namespace with a fake API server inside, the installed meta plugin, a confDir."""

    factory: NetnsFactory
    node: TestNetns
    switch: TestNetns
    nics: tuple[str, str]
    api: KubeAPIHandle
    tmp: Path
    bindir: Path
    confdir: Path
    cluster_data_dir: Path
    cni_dir: Path
    transport: Transport | None = None
    daemon: DaemonProcess | None = None
    last_stderr: str = ""

    def logs(self) -> str:
        """The meta plugin's log of the last call (thin) or of the daemon so far (thick)."""
        return self.daemon.logs() if self.daemon is not None else self.last_stderr

    @property
    def srv(self) -> FakeKubeAPI:
        return self.api.server

    def reconfigure_daemon(self, config: Mapping[str, Any]) -> None:
        """Thick mode: restart the daemon with `config` as its --config file (flags win)."""
        assert self.daemon is not None, "only in thick mode"
        path = self.tmp / "daemon-config.json"
        path.write_text(json.dumps(dict(config)))
        self.daemon.stop()
        if "--config" not in self.daemon.argv:
            self.daemon.argv += ["--config", str(path)]
        self.daemon.launch()

    # -- configuration ----------------------------------------------------------------
    def meta_config(self, **overrides: Any) -> dict[str, Any]:
        """The netattach config a runtime would read from /etc/cni/net.d (Multus keys)."""
        conf = {"cniVersion": "1.0.0", "name": "netattach-net", "type": "netattach",
                "kubeconfig": str(self.api.kubeconfig_path),
                "clusterNetwork": str(self.confdir / "10-cluster.conflist"),
                "confDir": str(self.confdir), "cniDir": str(self.cni_dir),
                "binDir": str(self.bindir), "logLevel": "verbose", "logToStderr": True}
        conf.update(overrides)
        return {k: v for k, v in conf.items() if v is not None}

    def macvlan_conf(self, name: str, master: int = 0, ipam: Mapping[str, Any] | None = None,
                     version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
        """A macvlan NAD config on node NIC `master` (0 or 1), static IPAM by default."""
        conf = {"cniVersion": version, "name": name, "type": "macvlan",
                "master": self.nics[master], "mode": "bridge",
                "ipam": dict(ipam) if ipam is not None else {"type": "static"}}
        conf.update(extra)
        return conf

    def add_nad(self, name: str, config: Mapping[str, Any] | str,
                namespace: str = "default") -> dict[str, Any]:
        return self.api.add_nad(name, namespace, config)

    # -- pods -------------------------------------------------------------------------
    def sandbox(self, name: str, namespace: str = "default", *, networks: str | list | None = None,
                annotations: Mapping[str, str] | None = None, in_api: bool = True) -> Sandbox:
        """Create the pod in the fake API (unless `in_api` is False) and its sandbox netns."""
        notes = dict(annotations or {})
        if networks is not None:
            notes[NETWORKS] = networks if isinstance(networks, str) else json.dumps(networks)
        uid = "00000000-0000-4000-8000-" + os.urandom(6).hex()
        if in_api:
            uid = self.api.add_pod(name, namespace, annotations=notes)["metadata"]["uid"]
        return Sandbox(name, namespace, uid, self.factory.make_netns("pod"),
                       "cid" + os.urandom(8).hex())

    def run_cni(self, command: str, pod: Sandbox, ifname: str = "eth0", *,
                netns: str | None = None, config: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None, container_id: str | None = None,
                uid: str | None = None) -> tuple[int, Any]:
        """Exec the installed `netattach` in the node namespace as a runtime does.

        Returns (exit code, parsed stdout or None); stderr is kept in `last_stderr`.
        """
        conf = dict(config if config is not None else self.meta_config())
        cni_args = (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod.namespace};K8S_POD_NAME={pod.name};"
                    f"K8S_POD_INFRA_CONTAINER_ID={pod.container_id};"
                    f"K8S_POD_UID={pod.uid if uid is None else uid}")
        full_env = {"CNI_COMMAND": command,
                    "CNI_CONTAINERID": container_id or pod.container_id,
                    "CNI_NETNS": pod.netns.path if netns is None else netns,
                    "CNI_IFNAME": ifname, "CNI_PATH": GO_PLUGINS, "CNI_ARGS": cni_args,
                    "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        if command in ("GC", "STATUS"):
            for key in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"):
                full_env.pop(key)
        full_env.update(env or {})
        argv, conf = (self.transport or Transport.thin(self.bindir)).prepare(conf)
        proc = subprocess.run(["ip", "netns", "exec", self.node.name, *argv],
                              input=json.dumps(conf), env=full_env, capture_output=True,
                              text=True, timeout=90)
        self.last_stderr = proc.stderr
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc.returncode, out

    # -- observations -----------------------------------------------------------------
    def links(self, ns: TestNetns) -> set[str]:
        return {link["ifname"] for link in ip_json("link", "show", netns=ns.name)}

    def addresses(self, ns: TestNetns, ifname: str) -> list[str]:
        """IPv4 addresses of `ifname` as "ip/prefix"."""
        out = ip_json("-4", "addr", "show", "dev", ifname, netns=ns.name)
        return [f"{a['local']}/{a['prefixlen']}" for link in out for a in link["addr_info"]]

    def mac(self, ns: TestNetns, ifname: str) -> str:
        return ip_json("link", "show", "dev", ifname, netns=ns.name)[0]["address"]

    def default_routes(self, ns: TestNetns) -> list[tuple[str, str]]:
        """IPv4 default routes of the main table as (gateway, dev)."""
        return [(r.get("gateway", ""), r["dev"]) for r in ip_json("-4", "route", netns=ns.name)
                if r["dst"] == "default"]

    @staticmethod
    def allocations(data_dir: Path, network: str) -> dict[str, str]:
        """host-local's store: reserved IP -> "containerID\\r\\nifname" (no lock/last files)."""
        d = data_dir / network
        if not d.is_dir():
            return {}
        return {p.name: p.read_bytes().decode() for p in d.iterdir()
                if p.name != "lock" and not p.name.startswith("last_reserved_ip")}

    def cluster_allocations(self) -> dict[str, str]:
        return self.allocations(self.cluster_data_dir, CLUSTER_NETWORK)

    def delegate_caches(self) -> list[str]:
        """Delegate cache files (<cniDir>/<containerID>)."""
        if not self.cni_dir.is_dir():
            return []
        return sorted(p.name for p in self.cni_dir.iterdir() if p.is_file())

    def result_caches(self) -> list[str]:
        d = self.cni_dir / "results"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    def network_status(self, pod: Sandbox) -> list[dict[str, Any]] | None:
        raw = self.api.pod_annotations(pod.name, pod.namespace).get(NETWORK_STATUS)
        return json.loads(raw) if raw is not None else None

    def events(self, pod: Sandbox, reason: str, count: int = 1) -> list[str]:
        """The pod's events of `reason`, once there are `count` of them (or after 10 s:
        the daemon posts events in the background, as client-go's recorder does)."""
        deadline = time.monotonic() + 10
        while True:
            found = [e.get("message", "") for e in self.api.events(pod.namespace)
                     if e.get("reason") == reason
                     and e.get("involvedObject", {}).get("name") == pod.name]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def assert_nothing_left(self, pod: Sandbox, *data_dirs: tuple[Path, str]) -> None:
        """No pod interfaces but lo, no cluster/secondary IPs, no delegate or result cache."""
        assert self.links(pod.netns) == {"lo"}
        assert self.cluster_allocations() == {}
        for data_dir, network in data_dirs:
            assert self.allocations(data_dir, network) == {}
        assert pod.container_id not in self.delegate_caches()
        assert [c for c in self.result_caches() if pod.container_id in c] == []


@pytest.fixture(scope="session")
def e2e_bindir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the meta plugin is installed: delegates of other types are exec'd from
    /usr/lib/cni (the reference Go plugins), built-in types run inside the meta plugin."""
    bindir = tmp_path_factory.mktemp("bin")
    subprocess.run([sys.executable, "-m", "netattach", "install-bin", str(bindir),
                    "--type", "netattach", "--type", "netattach-shim"], check=True,
                   capture_output=True)
    assert (bindir / "netattach").is_file()
    return bindir


def _write_kubeconfig(path: Path, url: str, token_file: Path) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "netattach", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "netattach"}}],
        "current-context": "fake"}))


@pytest.fixture
def e2e(request: pytest.FixtureRequest, tmp_path: Path, e2e_bindir: Path,
        netns_prefix: str) -> Iterator[E2E]:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if not os.path.exists(f"{GO_PLUGINS}/ptp"):
        pytest.skip(f"the reference CNI plugins are not installed in {GO_PLUGINS}")
    factory = NetnsFactory(netns_prefix)
    server: FakeKubeAPI | None = None
    try:
        node = factory.make_netns("node")
        switch = factory.make_netns("sw")
        nics = ("nic1", "nic2")
        for index, nic in enumerate(nics, 1):
            _ip("-n", node.name, "link", "add", nic, "type", "veth", "peer", "name",
                f"trunk{index}", "netns", switch.name)
            _ip("-n", node.name, "link", "set", nic, "up")
            _ip("-n", switch.name, "link", "set", f"trunk{index}", "up")
        from netattach.linux import run_in_netns

        server = run_in_netns(node.path, lambda: FakeKubeAPI(tokens=[TOKEN]).start())
        token = tmp_path / "token"
        token.write_text(TOKEN)
        kubeconfig = tmp_path / "kubeconfig"
        _write_kubeconfig(kubeconfig, server.url, token)
        confdir = tmp_path / "net.d"
        confdir.mkdir()
        cluster_data = tmp_path / "cluster-ipam"
        (confdir / "10-cluster.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": CLUSTER_NETWORK,
            "plugins": [{"type": "ptp", "ipMasq": False, "mtu": 1400,
                         "ipam": {"type": "host-local", "dataDir": str(cluster_data),
                                  "ranges": [[{"subnet": "203.0.113.0/24"}]],
                                  "routes": [{"dst": "0.0.0.0/0"}]}}]}))
        env = E2E(factory, node, switch, nics, KubeAPIHandle(server, kubeconfig, token, TOKEN),
                  tmp_path, e2e_bindir, confdir, cluster_data, tmp_path / "cni")
        if getattr(request, "param", "thin") == "thin":
            yield env
            return
        socket_dir = tmp_path / "sock"
        with DaemonProcess.start(socket_dir=socket_dir, log_path=tmp_path / "daemon.log",
                                 node_netns=node.name, kubeconfig=kubeconfig) as daemon:
            env.transport = Transport.thick(e2e_bindir, socket_dir)
            env.daemon = daemon
            yield env
    finally:
        if server is not None:
            server.stop()
        factory.cleanup()
