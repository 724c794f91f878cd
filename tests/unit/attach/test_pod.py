"""lookup_pod: which pod a CNI call is for, from CNI_ARGS, the API or the runtime."""

import pytest

from netattach.attach import pod as pod_module
from netattach.attach.pod import PodLookup, lookup_pod
from netattach.cni.errors import CNIError, Code, TryAgainLater
from netattach.kube.errors import NotFound, Unauthorized, Unreachable
from netattach.kube.models import CONFIG_SOURCE_ANNOTATION, Pod

from .support import POD_ARGS, meta_config, meta_request

NETWORKS = "k8s.v1.cni.cncf.io/networks"
POD = Pod("team-a", "web", "uid-1", annotations={NETWORKS: "net-a"})


class FakeKube:
    """get_pod answers from a script: each entry is a Pod to return or an error to raise."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def get_pod(self, namespace, name):
        self.calls.append((namespace, name))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def not_found():
    return NotFound('pods "web" not found', obj="pod team-a/web", status=404)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(pod_module, "POD_LOOKUP_INTERVAL", 0)


def lookup(kube, cni_args=POD_ARGS, runtime_config=None):
    conf = {"runtimeConfig": runtime_config} if runtime_config is not None else None
    return lookup_pod(meta_request(conf, cni_args=cni_args), kube, meta_config(conf))


def test_found():
    kube = FakeKube(POD)
    assert lookup(kube) == PodLookup.found(POD)
    assert kube.calls == [("team-a", "web")]


def test_not_found_is_retried_until_it_appears():
    kube = FakeKube(not_found(), not_found(), not_found(), POD)
    assert lookup(kube).pod == POD
    assert len(kube.calls) == 4


def test_not_found_every_time_means_deleted():
    kube = FakeKube(not_found())
    found = lookup(kube)
    assert found == PodLookup.deleted() and found.gone and found.pod is None
    assert len(kube.calls) == pod_module.POD_LOOKUP_ATTEMPTS


def test_a_del_asks_once():
    """containerd's second DEL comes after the pod is gone: no 2.5 s of retries for it."""
    kube = FakeKube(not_found(), POD)
    found = lookup_pod(meta_request(None, cni_args=POD_ARGS), kube, meta_config(None),
                       retry=False)
    assert found == PodLookup.deleted() and kube.calls == [("team-a", "web")]


def test_a_malformed_pod_is_a_plugin_error_not_try_again_later():
    from netattach.kube.errors import MalformedObject

    kube = FakeKube(MalformedObject("pod team-a/web: metadata.annotations must map strings "
                                    "to strings", obj="pod team-a/web", hint="fix it"))
    with pytest.raises(CNIError) as e:
        lookup(kube)
    assert e.value.code == Code.INTERNAL and "metadata.annotations" in e.value.msg
    assert e.value.details == "fix it" and len(kube.calls) == 1


@pytest.mark.parametrize("error", [
    Unreachable("pod team-a/web: connection refused", obj="pod team-a/web"),
    Unauthorized("pod team-a/web: forbidden", obj="pod team-a/web", status=403),
])
def test_api_failure_is_try_again_later(error):
    kube = FakeKube(error)
    with pytest.raises(TryAgainLater) as e:
        lookup(kube)
    assert e.value.code == Code.TRY_AGAIN_LATER == 11
    assert e.value.msg == f"[team-a/web]: cannot read the pod: {error}"
    assert len(kube.calls) == 1  # not retried here: the runtime retries


def test_uid_mismatch_refused():
    other = Pod("team-a", "web", "uid-2")
    with pytest.raises(CNIError) as e:
        lookup(FakeKube(other))
    assert e.value.code == Code.INTERNAL
    assert e.value.msg == "[team-a/web]: expected pod UID 'uid-1' but got 'uid-2' from the API"


def test_uid_mismatch_accepted_for_static_pods():
    static = Pod("team-a", "web", "uid-2", annotations={CONFIG_SOURCE_ANNOTATION: "file"})
    assert lookup(FakeKube(static)).pod == static


def test_no_uid_in_cni_args_accepts_any():
    other = Pod("team-a", "web", "uid-2")
    assert lookup(FakeKube(other), cni_args="K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web").pod \
        == other


def test_runtime_pod_annotations_win_over_the_api():
    runtime = {"io.kubernetes.cri.pod-annotations": {NETWORKS: "net-b", "x": "y"}}
    found = lookup(FakeKube(POD), runtime_config=runtime)
    assert (found.pod.namespace, found.pod.name, found.pod.uid) == ("team-a", "web", "uid-1")
    assert dict(found.pod.annotations) == {NETWORKS: "net-b", "x": "y"}


def test_runtime_pod_annotations_that_are_not_strings_are_ignored():
    runtime = {"io.kubernetes.cri.pod-annotations": {NETWORKS: 5}}
    assert lookup(FakeKube(POD), runtime_config=runtime).pod == POD


def test_without_api_the_runtime_annotations_make_the_pod():
    runtime = {"io.kubernetes.cri.pod-annotations": {NETWORKS: "net-b"}}
    found = lookup(None, runtime_config=runtime)
    assert found.pod == Pod("team-a", "web", "uid-1", annotations={NETWORKS: "net-b"})


def test_without_api_or_runtime_annotations_the_pod_is_unknown():
    assert lookup(None) == PodLookup()


@pytest.mark.parametrize("cni_args", ["", "K8S_POD_NAMESPACE=team-a", "K8S_POD_NAME=web",
                                      "IgnoreUnknown=1"])
def test_no_pod_in_cni_args(cni_args):
    kube = FakeKube(POD)
    assert lookup(kube, cni_args=cni_args) == PodLookup()
    assert kube.calls == []


@pytest.mark.parametrize("cni_args,problem", [
    ("K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=../secrets/x", "invalid pod name '../secrets/x' "
     "(from CNI_ARGS K8S_POD_NAME): a lowercase RFC 1123 subdomain"),
    ("K8S_POD_NAMESPACE=../kube-system;K8S_POD_NAME=web", "invalid namespace "
     "'../kube-system' (from CNI_ARGS K8S_POD_NAMESPACE): a lowercase RFC 1123 label"),
    ("K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=Web", "invalid pod name 'Web'"),
    ("K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=a/b",
     "invalid pod UID 'a/b' (from CNI_ARGS K8S_POD_UID)"),
])
def test_bad_pod_names_refused_before_the_api(cni_args, problem):
    kube = FakeKube(POD)
    for api in (kube, None):
        with pytest.raises(CNIError) as e:
            lookup(api, cni_args=cni_args)
        assert e.value.code == Code.INVALID_ENVIRONMENT == 4
        assert e.value.msg.startswith(problem), e.value.msg
    assert kube.calls == []
