"""Hot-plug (thick mode): a running pod's networks follow its annotation.

The daemon watches the pods of its node; when the `k8s.v1.cni.cncf.io/networks`
annotation of a pod it attached changes, it adds and removes attachments, writes
network-status and posts events, as Multus's dynamic networks controller does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.e2e.conftest import E2E
from tests.kubeapi.server import PODS

NETWORKS = "k8s.v1.cni.cncf.io/networks"


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """`check()` once it is truthy (the daemon works from its watch, a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


pytestmark = pytest.mark.parametrize("e2e", ["thick"], indirect=True)


@pytest.fixture
def hot(e2e: E2E) -> E2E:
    """Thick mode, the daemon configured with the meta plugin's cniDir (where hot-plug finds
    the delegate caches, as the DaemonSet's daemon config says)."""
    e2e.reconfigure_daemon({"cniDir": str(e2e.cni_dir)})
    return e2e


def set_networks(e2e: E2E, name: str, networks: list[dict[str, Any]] | str) -> None:
    pod = e2e.api.pod(name)
    assert pod is not None
    pod["metadata"]["annotations"][NETWORKS] = (
        networks if isinstance(networks, str) else json.dumps(networks))
    e2e.api.server.update(PODS, pod)


def interfaces(e2e: E2E, pod) -> list[str]:
    return [s["interface"] for s in e2e.network_status(pod) or []]


def added(e2e: E2E, name: str, networks: list[dict[str, Any]]):
    pod = e2e.sandbox(name, networks=networks)
    rc, out = e2e.run_cni("ADD", pod)
    assert rc == 0, (out, e2e.logs()[-3000:])
    return pod


@pytest.fixture
def nads(hot: E2E) -> E2E:
    hot.add_nad("mv-a", hot.macvlan_conf("mv-a", master=0))
    hot.add_nad("mv-b", hot.macvlan_conf("mv-b", master=1))
    hot.add_nad("mv-hl", hot.macvlan_conf("mv-hl", master=1, ipam={
        "type": "host-local", "dataDir": str(hot.tmp / "hl"),
        "ranges": [[{"subnet": "198.51.100.0/24"}]]}))
    hot.add_nad("mv-broken", {**hot.macvlan_conf("mv-broken"), "master": "nosuchnic0"})
    return hot


def test_add_then_remove_an_attachment(nads: E2E) -> None:
    e2e = nads
    first = {"name": "mv-a", "interface": "data0", "ips": ["192.0.2.21/24"]}
    pod = added(e2e, "hp-add", [first])
    assert interfaces(e2e, pod) == ["eth0", "data0"]

    set_networks(e2e, "hp-add", [first, {"name": "mv-b", "interface": "data1",
                                         "ips": ["198.51.100.21/24"]}])

    assert eventually(lambda: "data1" in e2e.links(pod.netns)), e2e.logs()[-3000:]
    assert e2e.addresses(pod.netns, "data1") == ["198.51.100.21/24"]
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0", "data0", "data1"])
    [event] = e2e.events(pod, "AddedInterface")[-1:]
    assert event == "Add data1 [198.51.100.21/24] from default/mv-b"

    set_networks(e2e, "hp-add", [first])

    assert eventually(lambda: "data1" not in e2e.links(pod.netns)), e2e.logs()[-3000:]
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0", "data0"])
    assert e2e.events(pod, "RemovedInterface") == ["Remove data1 from default/mv-b"]
    # DEL removes what the pod has now, from the updated delegate cache
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


def test_add_and_remove_in_one_update_and_host_local(nads: E2E) -> None:
    e2e = nads
    pod = added(e2e, "hp-swap", [{"name": "mv-a", "interface": "data0",
                                  "ips": ["192.0.2.22/24"]}])

    set_networks(e2e, "hp-swap", [{"name": "mv-hl", "interface": "hl0"}])

    assert eventually(lambda: e2e.links(pod.netns) >= {"hl0"} and
                      "data0" not in e2e.links(pod.netns)), e2e.logs()[-3000:]
    [ip] = e2e.addresses(pod.netns, "hl0")
    held = e2e.allocations(e2e.tmp / "hl", "mv-hl")
    assert list(held) == [ip.split("/")[0]] and pod.container_id in held[ip.split("/")[0]]
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0", "hl0"])

    set_networks(e2e, "hp-swap", "")  # only the cluster network is left

    assert eventually(lambda: "hl0" not in e2e.links(pod.netns))
    assert eventually(lambda: e2e.allocations(e2e.tmp / "hl", "mv-hl") == {})
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0"])
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod, (e2e.tmp / "hl", "mv-hl"))


def test_a_pod_with_only_the_cluster_network_gets_one(nads: E2E) -> None:
    e2e = nads
    pod = added(e2e, "hp-plain", [])
    set_networks(e2e, "hp-plain", [{"name": "mv-a", "interface": "extra0",
                                    "ips": ["192.0.2.23/24"]}])
    assert eventually(lambda: "extra0" in e2e.links(pod.netns)), e2e.logs()[-3000:]
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0", "extra0"])
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


def test_refused_changes_and_failed_additions_change_nothing(nads: E2E) -> None:
    e2e = nads
    first = {"name": "mv-a", "interface": "data0", "ips": ["192.0.2.24/24"]}
    pod = added(e2e, "hp-refuse", [first])
    before = e2e.links(pod.netns)

    set_networks(e2e, "hp-refuse", [first, {"name": "mv-b", "ips": ["198.51.100.24/24"]}])

    [rejected] = e2e.events(pod, "InterfaceAddRejected")
    assert 'names no "interface"' in rejected and "default/mv-b" in rejected
    # two additions, the second cannot work: neither stays
    set_networks(e2e, "hp-refuse", [first, {"name": "mv-b", "interface": "data1",
                                            "ips": ["198.51.100.24/24"]},
                                    {"name": "mv-broken", "interface": "data2",
                                     "ips": ["192.0.2.25/24"]}])

    [failed] = e2e.events(pod, "FailedAddingInterface")
    assert "nosuchnic0" in failed and "data2" in failed
    assert e2e.links(pod.netns) == before
    assert interfaces(e2e, pod) == ["eth0", "data0"]
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


def test_hostnetwork_pods_are_refused(nads: E2E) -> None:
    e2e = nads
    obj = e2e.api.add_pod("hp-host", annotations={NETWORKS: ""})
    obj["spec"]["hostNetwork"] = True
    e2e.api.server.update(PODS, obj)
    set_networks(e2e, "hp-host", [{"name": "mv-a", "interface": "data0"}])
    pod = type("P", (), {"name": "hp-host", "namespace": "default"})()
    [rejected] = e2e.events(pod, "InterfaceAddRejected")
    assert "hostNetwork" in rejected


def test_changes_made_while_the_daemon_was_away_apply_on_start(nads: E2E) -> None:
    e2e = nads
    first = {"name": "mv-a", "interface": "data0", "ips": ["192.0.2.26/24"]}
    pod = added(e2e, "hp-away", [first])
    assert e2e.daemon is not None
    e2e.daemon.stop()
    set_networks(e2e, "hp-away", [first, {"name": "mv-b", "interface": "data1",
                                          "ips": ["198.51.100.26/24"]}])
    time.sleep(0.3)
    assert "data1" not in e2e.links(pod.netns)

    e2e.daemon.launch()

    assert eventually(lambda: "data1" in e2e.links(pod.netns)), e2e.logs()[-3000:]
    assert eventually(lambda: interfaces(e2e, pod) == ["eth0", "data0", "data1"])
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)
