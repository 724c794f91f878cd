"""Names from outside are checked as Kubernetes checks them, before any URL is built."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from tests.kubeapi.fixture import KubeAPIHandle

from netattach.kube import InvalidName, KubeError, Pod, validate_pod_args
from netattach.kube.client import KubeClient
from netattach.kube.names import check_name, check_namespace, check_uid

BAD_NAMES = ["../secrets/db-password", "a/b", "..", ".", "", "UPPER", "-a", "a-", "a_b",
             "a\n", "a b", "a%2Fb", "é", "a" * 254, "a..b", "a.-b"]
BAD_NAMESPACES = [*BAD_NAMES, "a.b", "a" * 64]
GOOD_NAMES = ["p", "web-0", "a.b.c", "0", "a" * 253, "x1.y-2"]
GOOD_UIDS = ["0c1e0f6a-5b2d-4c3e-9f10-2a3b4c5d6e7f", "6a7e8e2f5f3b1a2d9c4e8f7a6b5c4d3e"]


@pytest.mark.parametrize("value", BAD_NAMES)
def test_bad_pod_names(value: str) -> None:
    with pytest.raises(InvalidName) as err:
        check_name(value, "pod", "CNI_ARGS K8S_POD_NAME")
    assert f"invalid pod name {value!r}"[:70] in str(err.value)
    assert "(from CNI_ARGS K8S_POD_NAME)" in str(err.value)
    assert "RFC 1123 subdomain" in str(err.value)
    assert isinstance(err.value, KubeError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("value", BAD_NAMESPACES)
def test_bad_namespaces(value: str) -> None:
    with pytest.raises(InvalidName, match="RFC 1123 label"):
        check_namespace(value)


@pytest.mark.parametrize("value", GOOD_NAMES)
def test_good_names(value: str) -> None:
    assert check_name(value) == value
    if len(value) <= 63 and "." not in value:
        assert check_namespace(value) == value


def test_uids() -> None:
    for uid in GOOD_UIDS:
        assert check_uid(uid) == uid
    for uid in ["../x", "a/b", "-a", "a" * 129, "a\n", "a b", "a;b"]:
        with pytest.raises(InvalidName, match="pod UID"):
            check_uid(uid)


def test_validate_pod_args_names_the_variable() -> None:
    validate_pod_args("default", "web-0", GOOD_UIDS[0])
    validate_pod_args()  # nothing set: nothing to check
    with pytest.raises(InvalidName) as err:
        validate_pod_args("default", "../secrets/db-password")
    assert str(err.value).startswith(
        "invalid pod name '../secrets/db-password' (from CNI_ARGS K8S_POD_NAME)")
    assert err.value.hint.startswith("fix CNI_ARGS K8S_POD_NAME")
    with pytest.raises(InvalidName, match="K8S_POD_NAMESPACE"):
        validate_pod_args("kube/system", "p")
    with pytest.raises(InvalidName, match="K8S_POD_UID"):
        validate_pod_args("default", "p", "../../x")


def test_names_module_is_cheap_to_import() -> None:
    code = ("import sys; import netattach.kube.names; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('lightkube', 'httpx2', 'httpx', 'msgspec', 'yaml')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture
def client(kube_api: KubeAPIHandle) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(kube_api.kubeconfig_path, timeout=2.0) as c:
        yield c


def test_client_never_sends_a_bad_name(kube_api: KubeAPIHandle, client: KubeClient) -> None:
    """The path traversal of issue 16: no request at all, a clear error naming the value."""
    kube_api.add_pod("p")
    before = len(kube_api.requests())
    calls = [
        lambda: client.get_pod("default", "../secrets/db-password"),
        lambda: client.get_pod("default/../kube-system", "p"),
        lambda: client.get_nad("default", "../../../api/v1/secrets"),
        lambda: client.get_nad("Default", "n"),
        lambda: client.set_network_status("default", "../secrets/x", "", "[]"),
        lambda: client.set_network_status("default", "p", "../x", "[]"),
        lambda: client.record_event(Pod(namespace="default", name="../secrets/x"), "Normal",
                                    "AddedInterface", "m"),
    ]
    for call in calls:
        with pytest.raises(InvalidName) as err:
            call()
        assert "invalid " in str(err.value) and "RFC 1123" in str(err.value) \
            or "pod UID" in str(err.value)
    assert kube_api.requests()[before:] == []
    assert client.get_pod("default", "p").name == "p"  # good names still work
    from netattach.kube import NotFound

    with pytest.raises(NotFound) as err:  # a NAD no name can have is not found (code 7 in
        client.get_nad("default", ":")   # the meta plugin), and was never asked for
    assert isinstance(err.value, InvalidName) and "invalid NetworkAttachmentDefinition name"\
        in str(err.value)


def test_malformed_api_objects_are_named_errors(kube_api: KubeAPIHandle,
                                                client: KubeClient) -> None:
    """Issue 16: a pod whose metadata.annotations is a list: nothing of it is trusted, and a
    converter's ValueError is a KubeError naming the object (was code 999)."""
    from tests.kubeapi.server import PODS

    from netattach.kube import MalformedObject
    from netattach.kube.client import _convert

    kube_api.server.create(PODS, {"metadata": {"name": "odd", "namespace": "default",
                                               "annotations": ["nad-a"]},
                                  "spec": {"nodeName": "node-1"}})
    with pytest.raises(MalformedObject, match="pod default/odd: .*metadata.annotations must "
                       "map strings to strings"):
        client.get_pod("default", "odd")
    for raw in ({"metadata": {}}, {"metadata": ["x"]}, ["x"], {"metadata": {"name": ""}}):
        with pytest.raises(MalformedObject, match="pod default/x: the API server sent an "
                           "object") as err:
            _convert(Pod.from_api, raw, "pod default/x")
        assert isinstance(err.value, KubeError)


def test_undecodable_answers_are_named_errors(kube_api: KubeAPIHandle,
                                              client: KubeClient) -> None:
    """A lone surrogate in an annotation ("\\ud800" on the wire) is no valid UTF-8: the
    decoder's ValueError was code 999 in the meta plugin; now MalformedObject naming the pod."""
    from netattach.kube import MalformedObject

    kube_api.add_pod("sur", annotations={"k8s.v1.cni.cncf.io/networks": "\ud800"})
    with pytest.raises(MalformedObject, match="pod default/sur: the API server's answer cannot be "
                       "decoded"):
        client.get_pod("default", "sur")
    with pytest.raises(MalformedObject):
        client.set_network_status("default", "sur", "", "[]")
