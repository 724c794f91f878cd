"""KubeClient against the fake API server (tests/kubeapi)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kubeapi.fixture import KubeAPIHandle
from tests.kubeapi.incluster import ServiceAccountVolume, TLSFiles, make_tls
from tests.kubeapi.server import PODS, FakeKubeAPI

from netattach.kube import (
    NETWORK_STATUS_ANNOTATION,
    KubeError,
    NetworkStatus,
    NotFound,
    Unauthorized,
    Unreachable,
    format_network_status,
)
from netattach.kube.client import KubeClient

STATUS = format_network_status([NetworkStatus(name="default/vlan100-conf", interface="net1")])


@pytest.fixture
def client(kube_api: KubeAPIHandle) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(kube_api.kubeconfig_path, timeout=2.0) as c:
        yield c


def test_get_pod(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    stored = kube_api.add_pod(
        "vlan-multi", annotations={"k8s.v1.cni.cncf.io/networks": "vlan100-conf"}
    )
    pod = client.get_pod("default", "vlan-multi")
    assert (pod.namespace, pod.name, pod.node_name) == ("default", "vlan-multi", "node-1")
    assert pod.uid == stored["metadata"]["uid"]
    assert pod.resource_version == stored["metadata"]["resourceVersion"]
    assert pod.networks_annotation == "vlan100-conf"


def test_get_nad(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_nad(
        "vlan100-conf",
        config='{"cniVersion": "0.3.1", "type": "vlan", "master": "eth0", "vlanId": 100}',
        annotations={"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"},
    )
    kube_api.add_nad("empty-spec")
    nad = client.get_nad("default", "vlan100-conf")
    assert nad.key == "default/vlan100-conf"
    assert '"vlanId": 100' in nad.config
    assert nad.resource_name == "intel.com/sriov"
    assert client.get_nad("default", "empty-spec").config == ""


def test_missing_pod_and_nad_give_named_not_found(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    with pytest.raises(NotFound) as pod_err:
        client.get_pod("default", "vlan-multi")
    assert str(pod_err.value).startswith("pod default/vlan-multi: 404 NotFound")
    assert 'pods "vlan-multi" not found' in str(pod_err.value)
    with pytest.raises(NotFound) as nad_err:
        client.get_nad("default", "vlan100-conf")
    message = str(nad_err.value)
    assert message.startswith("NetworkAttachmentDefinition default/vlan100-conf: 404 NotFound")
    assert "kubectl get net-attach-def -n default" in message
    assert nad_err.value.status == 404


def test_status_update_writes_annotation_via_status_subresource(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    stored = kube_api.add_pod("vlan-multi", annotations={"keep": "me"}, labels={"app": "x"})
    assert client.set_network_status("default", "vlan-multi", stored["metadata"]["uid"], STATUS)
    annotations = kube_api.pod_annotations("vlan-multi")
    assert annotations == {"keep": "me", NETWORK_STATUS_ANNOTATION: STATUS}
    pod = kube_api.pod("vlan-multi")
    assert (
        pod is not None
        and pod["spec"] == stored["spec"]
        and pod["metadata"]["labels"] == {"app": "x"}
    )
    calls = [(r.method, r.resource, r.verb) for r in kube_api.requests()]
    assert calls == [("PATCH", "pods/status", "patch")]  # one call, no read-modify-write


def test_status_patch_keeps_what_another_writer_changed(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    """A merge patch touches only our annotation: a concurrent writer's change survives and
    nothing conflicts (there is no resourceVersion to race on)."""
    uid = kube_api.add_pod("vlan-multi", annotations={"other": "x"})["metadata"]["uid"]

    def bump(method: str, path: str) -> None:
        if method == "PATCH":
            pod = kube_api.pod("vlan-multi")
            assert pod is not None
            pod["metadata"].setdefault("labels", {})["touched"] = "yes"
            kube_api.server.update(PODS, pod)

    kube_api.server.add_hook(bump)
    assert client.set_network_status("default", "vlan-multi", uid, STATUS)
    pod = kube_api.pod("vlan-multi")
    assert pod is not None and pod["metadata"]["labels"] == {"touched": "yes"}
    assert pod["metadata"]["annotations"] == {"other": "x", NETWORK_STATUS_ANNOTATION: STATUS}
    assert [r.status for r in kube_api.requests() if r.method == "PATCH"] == [200]


def test_status_update_tolerates_pod_deleted_meanwhile(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    uid = kube_api.add_pod("vlan-multi")["metadata"]["uid"]
    kube_api.server.add_hook(
        lambda method, path: kube_api.delete_pod("vlan-multi") if method == "PATCH" else None
    )
    assert client.set_network_status("default", "vlan-multi", uid, STATUS) is False
    assert client.set_network_status("default", "never-existed", "", STATUS) is False


def test_status_update_skips_other_pod_with_same_name(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    kube_api.add_pod("vlan-multi")
    assert client.set_network_status("default", "vlan-multi", "old-uid", STATUS) is False
    assert NETWORK_STATUS_ANNOTATION not in kube_api.pod_annotations("vlan-multi")
    # the UID is a precondition of the patch itself: the API server refused it
    assert [r.status for r in kube_api.requests() if r.method == "PATCH"] == [409]


def test_status_update_forbidden_names_missing_rbac(
    kube_api: KubeAPIHandle, client: KubeClient
) -> None:
    uid = kube_api.add_pod("vlan-multi")["metadata"]["uid"]
    kube_api.server.forbid("patch", "pods/status")
    with pytest.raises(Unauthorized) as info:
        client.set_network_status("default", "vlan-multi", uid, STATUS)
    message = str(info.value)
    assert "403 Forbidden" in message
    assert 'grant verb "patch" on resource "pods/status" in API group ""' in message


def test_record_event(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_pod("vlan-multi")
    pod = client.get_pod("default", "vlan-multi")
    message = "Add net1 [192.168.100.211/24] from default/vlan100-conf"
    assert client.record_event(pod, "Normal", "AddedInterface", message, host="node-1")
    (event,) = kube_api.events("default")
    assert event["reason"] == "AddedInterface" and event["type"] == "Normal"
    assert event["message"] == message
    assert event["source"] == {"component": "netattach", "host": "node-1"}
    assert event["involvedObject"]["uid"] == pod.uid
    assert event["involvedObject"]["kind"] == "Pod"
    assert event["count"] == 1 and event["firstTimestamp"]


def test_record_event_is_best_effort(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_pod("vlan-multi")
    pod = client.get_pod("default", "vlan-multi")
    kube_api.server.forbid("create", "events")
    assert client.record_event(pod, "Warning", "NoNetworkFound", "x") is False
    with pytest.raises(ValueError):
        client.record_event(pod, "Error", "X", "x")


def test_unreachable_is_quick_and_recovers(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_pod("vlan-multi")
    client.get_pod("default", "vlan-multi")  # warm the connection pool
    kube_api.server.set_unreachable(True)
    start = time.monotonic()
    with pytest.raises(Unreachable) as info:
        client.get_pod("default", "vlan-multi")
    assert time.monotonic() - start < 1.5
    assert str(info.value).startswith(
        "pod default/vlan-multi: cannot reach API server http://127.0.0.1:"
    )
    kube_api.server.set_unreachable(False)
    assert client.get_pod("default", "vlan-multi").name == "vlan-multi"


def test_slow_server_times_out_as_unreachable(kube_api: KubeAPIHandle) -> None:
    kube_api.add_pod("vlan-multi")
    kube_api.server.set_latency(2.0)
    with KubeClient.from_kubeconfig(kube_api.kubeconfig_path, timeout=0.3) as fast:
        start = time.monotonic()
        with pytest.raises(Unreachable, match="did not answer in time"):
            fast.get_pod("default", "vlan-multi")
        assert time.monotonic() - start < 1.5


def test_server_errors_are_unreachable(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.server.fail_next("GET", "/pods/", 503)
    with pytest.raises(Unreachable, match="503"):
        client.get_pod("default", "vlan-multi")


def test_token_rotation(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    """The projected token rotates and the old one is rejected: calls keep working."""
    kube_api.add_pod("vlan-multi")
    client.get_pod("default", "vlan-multi")
    kube_api.rotate_token("token-2")
    assert client.get_pod("default", "vlan-multi").name == "vlan-multi"
    kube_api.rotate_token("token-3")
    uid = client.get_pod("default", "vlan-multi").uid
    kube_api.rotate_token("token-4")
    assert client.set_network_status("default", "vlan-multi", uid, STATUS)  # PUT body re-sent
    tokens = [r.token for r in kube_api.requests() if r.status == 200]
    assert tokens[-1] == "token-4"


def test_wrong_token_is_unauthorized(kube_api: KubeAPIHandle, tmp_path: Path) -> None:
    path = kube_api.write_kubeconfig(tmp_path / "bad", token="nope")
    with KubeClient.from_kubeconfig(path) as bad, pytest.raises(Unauthorized) as info:
        bad.get_pod("default", "x")
    assert "401 Unauthorized" in str(info.value) and "tokenFile" in str(info.value)


def test_relative_token_file(kube_api: KubeAPIHandle, tmp_path: Path) -> None:
    kube_api.add_pod("p")
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "tok").write_text(kube_api.token)
    path = kube_api.write_kubeconfig(sub / "kubeconfig", token_file=Path("tok"))
    with KubeClient.from_kubeconfig(path) as c:
        assert c.get_pod("default", "p").name == "p"


def test_in_cluster_with_rotating_token(kube_api: KubeAPIHandle) -> None:
    kube_api.add_pod("p")
    with KubeClient.in_cluster(
        token_path=kube_api.token_path, ca_path=None, server=kube_api.server.url
    ) as c:
        assert c.get_pod("default", "p").name == "p"
        kube_api.rotate_token("rotated")
        assert c.get_pod("default", "p").name == "p"


def test_in_cluster_without_token(tmp_path: Path) -> None:
    with pytest.raises(Unauthorized, match="does not exist"):
        KubeClient.in_cluster(
            token_path=tmp_path / "missing", ca_path=None, server="http://127.0.0.1:1"
        )


@pytest.fixture
def https_api(tmp_path: Path) -> Iterator[tuple[FakeKubeAPI, TLSFiles]]:
    """The fake API server over HTTPS, its certificate signed by a throw-away CA."""
    tls = make_tls(tmp_path / "tls")
    server = FakeKubeAPI(tokens=["sa-token-1"], tls=tls.server_pair).start()
    try:
        yield server, tls
    finally:
        server.stop()


def test_from_service_account_as_in_a_pod_with_a_rotating_token(
    https_api: tuple[FakeKubeAPI, TLSFiles], tmp_path: Path
) -> None:
    server, tls = https_api
    server.create(PODS, {"metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    sa = ServiceAccountVolume(tmp_path / "serviceaccount", "sa-token-1", tls.ca)
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)}
    assert KubeClient.service_account_present(sa.directory, env)
    with KubeClient.from_service_account(sa.directory, environ=env, timeout=5) as c:
        assert c.server == f"https://127.0.0.1:{server.port}"
        assert c.get_pod("default", "p").name == "p"
        for token in ("sa-token-2", "sa-token-3"):  # the kubelet refreshes, the old one expires
            sa.rotate(token)
            server.set_tokens([token])
            assert c.get_pod("default", "p").name == "p"
    server.settle()
    assert [r.token for r in server.requests if r.status == 200] == [
        "sa-token-1", "sa-token-2", "sa-token-3"]
    assert [r.token for r in server.requests if r.status == 401] == ["sa-token-1", "sa-token-2"]


def test_from_service_account_verifies_the_api_server_against_its_ca(
    https_api: tuple[FakeKubeAPI, TLSFiles], tmp_path: Path
) -> None:
    server, _ = https_api
    other = make_tls(tmp_path / "other")
    sa = ServiceAccountVolume(tmp_path / "serviceaccount", "sa-token-1", other.ca)
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)}
    with (KubeClient.from_service_account(sa.directory, environ=env, timeout=5) as c,
          pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED")):
        c.get_pod("default", "p")


def test_service_account_missing_pieces(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert not KubeClient.service_account_present(tmp_path, env)  # no token
    (tmp_path / "token").write_text("t")
    assert KubeClient.service_account_present(tmp_path, env)
    assert not KubeClient.service_account_present(tmp_path, {})  # not in a pod
    with pytest.raises(KubeError, match="ca.crt does not exist"):
        KubeClient.from_service_account(tmp_path, environ=env)
    with pytest.raises(KubeError, match="KUBERNETES_SERVICE_HOST"):
        KubeClient.from_service_account(tmp_path, environ={})
    (tmp_path / "ca.crt").write_text(make_tls(tmp_path / "tls").ca.read_text())
    with KubeClient.from_service_account(tmp_path, environ=env) as c:
        assert c.server == "https://[fd00::1]:443"


def test_bad_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeError, match="kubeconfig .*cannot load"):
        KubeClient.from_kubeconfig(tmp_path / "absent")


def test_watch_pods_added_then_modified(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_pod("mine")
    kube_api.add_pod("elsewhere", node_name="node-2")
    events = client.list_and_watch_pods("node-1", server_timeout=5)
    etype, pod = next(events)
    assert (etype, pod.name) == ("ADDED", "mine")
    kube_api.add_pod("new-one")
    # The server queues changes; the open watch delivers them on the next read.
    changed = kube_api.pod("mine")
    assert changed is not None
    changed["metadata"]["annotations"] = {NETWORK_STATUS_ANNOTATION: STATUS}
    kube_api.server.update(PODS, changed)
    assert [(t, p.name) for t, p in (next(events), next(events))] == [
        ("ADDED", "new-one"),
        ("MODIFIED", "mine"),
    ]
    kube_api.delete_pod("new-one")
    etype, pod = next(events)
    assert (etype, pod.name) == ("DELETED", "new-one")
    events.close()
    watch = [r for r in kube_api.requests() if r.verb == "watch"]
    assert all(r.query.get("fieldSelector") == "spec.nodeName=node-1" for r in watch)


def test_watch_relists_after_expiry(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_nad("a")
    kube_api.add_nad("b", namespace="other")
    events = client.list_and_watch_nads(server_timeout=1)
    assert sorted((t, n.key) for t, n in (next(events), next(events))) == [
        ("ADDED", "default/a"),
        ("ADDED", "other/b"),
    ]
    # While no watch is open, history is compacted and b is deleted: the next watch
    # gets 410, re-lists and reports the deletion.
    kube_api.server.set_unreachable(True)
    kube_api.delete_nad("b", namespace="other")
    kube_api.server.compact()
    kube_api.server.set_unreachable(False)
    etype, nad = next(events)
    assert (etype, nad.key) == ("DELETED", "other/b")
    events.close()


def test_stop_callback_ends_watch(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    kube_api.add_pod("a")
    kube_api.add_pod("b")
    stop = threading.Event()
    seen = []
    for _, pod in client.list_and_watch_pods("node-1", stop=stop.is_set):
        seen.append(pod.name)
        stop.set()
    assert seen == ["a"]


def test_import_cost_of_light_modules() -> None:
    code = (
        "import sys, netattach.kube, netattach.kube.annotations, netattach.kube.models, "
        "netattach.kube.network_status, netattach.kube.errors\n"
        "heavy = {'lightkube', 'httpx2', 'httpx', 'msgspec', 'yaml'}\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
