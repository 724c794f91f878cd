"""The sandbox's in-memory API server speaks what the meta plugin sends: network-status is
one JSON merge patch of pods/status with the pod's UID as a precondition (KubeClient)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netattach.kube.client import KubeClient
from netattach.sandbox.apiserver import LocalApi

STATUS = "k8s.v1.cni.cncf.io/network-status"


@pytest.fixture
def served(tmp_path: Path):
    api = LocalApi()
    pod = api.put("Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p1", "namespace": "default", "annotations": {"keep": "me"}}})
    url = api.serve()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "s",
        "clusters": [{"name": "s", "cluster": {"server": url}}],
        "users": [{"name": "s", "user": {"token": "t"}}],
        "contexts": [{"name": "s", "context": {"cluster": "s", "user": "s"}}]}))
    client = KubeClient.from_kubeconfig(kubeconfig)
    try:
        yield api, client, pod["metadata"]["uid"]
    finally:
        client.close()
        api.stop()


def test_network_status_is_a_merge_patch_with_the_uid_as_precondition(served):
    api, client, uid = served

    assert client.set_network_status("default", "p1", uid, '[{"name": "x"}]') is True

    stored = api.get("Pod", "default", "p1")["metadata"]["annotations"]
    assert stored == {"keep": "me", STATUS: '[{"name": "x"}]'}
    assert client.get_pod("default", "p1").network_status_annotation == '[{"name": "x"}]'
    # a pod re-created under the same name (another UID) is never annotated
    assert client.set_network_status("default", "p1", "other-uid", "[]") is False
    assert api.get("Pod", "default", "p1")["metadata"]["annotations"][STATUS] \
        == '[{"name": "x"}]'
    assert client.set_network_status("default", "gone", "", "[]") is False


def test_null_removes_a_key():
    api = LocalApi()
    api.put("Pod", {"metadata": {"name": "p1", "annotations": {"a": "1", "b": "2"}}})
    code, obj = api.handle("PATCH", "/api/v1/namespaces/default/pods/p1/status",
                           {"metadata": {"annotations": {"a": None, "c": "3"}}})
    assert code == 200 and obj["metadata"]["annotations"] == {"b": "2", "c": "3"}
