"""Meta plugin ADD end to end: annotations -> interfaces, addresses, network-status, events.

The installed `netattach` executable runs in a node namespace against the fake API server;
the cluster network is the reference Go ptp + host-local, secondary networks macvlan.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.e2e.conftest import MODES

FIELD_REPORT = [{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]},
                {"name": "vlan200-conf", "ips": ["198.51.100.211/24"]}]


def _field_report_nads(e2e):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf", master=0, version="0.3.1"))
    e2e.add_nad("vlan200-conf", e2e.macvlan_conf("vlan200-conf", master=1, version="0.3.1"))


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_field_report_json_annotation(e2e):
    _field_report_nads(e2e)
    pod = e2e.sandbox("vlan-multi", networks=FIELD_REPORT)

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 0, (out, e2e.last_stderr)
    assert e2e.links(pod.netns) == {"lo", "eth0", "net1", "net2"}
    assert e2e.addresses(pod.netns, "net1") == ["192.0.2.211/24"]
    assert e2e.addresses(pod.netns, "net2") == ["198.51.100.211/24"]
    [eth0_ip] = e2e.addresses(pod.netns, "eth0")
    assert eth0_ip.startswith("203.0.113.") and eth0_ip.endswith("/24")
    # the runtime gets the cluster network's result
    assert out["cniVersion"] == "1.0.0"
    assert [ip["address"] for ip in out["ips"]] == [eth0_ip]
    assert e2e.cluster_allocations()[eth0_ip.split("/")[0]].startswith(pod.container_id)

    eth0_mac = e2e.mac(pod.netns, "eth0")
    assert e2e.network_status(pod) == [
        {"name": "e2e-cluster", "interface": "eth0", "ips": [eth0_ip.split("/")[0]],
         "mac": eth0_mac, "default": True, "dns": {}},
        {"name": "default/vlan100-conf", "interface": "net1", "ips": ["192.0.2.211"],
         "mac": e2e.mac(pod.netns, "net1"), "dns": {}},
        {"name": "default/vlan200-conf", "interface": "net2", "ips": ["198.51.100.211"],
         "mac": e2e.mac(pod.netns, "net2"), "dns": {}},
    ]
    raw = e2e.api.pod_annotations(pod.name)["k8s.v1.cni.cncf.io/network-status"]
    assert raw.startswith('[{\n    "name": "e2e-cluster",\n')  # Multus's indentation
    assert sorted(e2e.events(pod, "AddedInterface", count=3)) == sorted([
        f"Add eth0 [{eth0_ip}] from e2e-cluster",
        "Add net1 [192.0.2.211/24] from default/vlan100-conf",
        "Add net2 [198.51.100.211/24] from default/vlan200-conf"])
    assert pod.container_id in e2e.delegate_caches()
    # CHECK: the 0.3.1 NADs have no CHECK and are skipped, the cluster network is checked
    rc, out = e2e.run_cni("CHECK", pod)
    assert (rc, out) == (0, None), (out, e2e.last_stderr)
    assert "skipping network 'vlan100-conf' (net1): cniVersion 0.3.1 has no CHECK" \
        in e2e.logs()
    subprocess.run(["ip", "-n", pod.netns.name, "link", "del", "eth0"], check=True)
    rc, out = e2e.run_cni("CHECK", pod)
    assert rc == 1 and "e2e-cluster" in out["msg"] and "eth0" in out["msg"], out

    rc, out = e2e.run_cni("DEL", pod)
    assert (rc, out) == (0, None), e2e.last_stderr
    e2e.assert_nothing_left(pod)


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_comma_form_with_namespace_and_interface(e2e):
    e2e.add_nad("net-a", e2e.macvlan_conf("net-a", ipam={}), namespace="other")
    e2e.add_nad("net-b", e2e.macvlan_conf("net-b", master=1, ipam={}))
    pod = e2e.sandbox("comma", networks="other/net-a@data0, net-b")

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 0, (out, e2e.last_stderr)
    # network-status is one merge patch (the pod's UID its precondition): nothing to retry
    assert [(r.method, r.status) for r in e2e.api.requests()
            if r.resource == "pods/status"] == [("PATCH", 200)]
    assert e2e.links(pod.netns) == {"lo", "eth0", "data0", "net2"}
    status = e2e.network_status(pod)
    assert [(s["name"], s["interface"]) for s in status] == [
        ("e2e-cluster", "eth0"), ("other/net-a", "data0"), ("default/net-b", "net2")]
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_same_nad_twice_gives_net1_and_net2(e2e):
    _field_report_nads(e2e)
    pod = e2e.sandbox("twice", networks=[{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]},
                                         {"name": "vlan100-conf", "ips": ["192.0.2.212/24"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 0, (out, e2e.last_stderr)
    assert e2e.addresses(pod.netns, "net1") == ["192.0.2.211/24"]
    assert e2e.addresses(pod.netns, "net2") == ["192.0.2.212/24"]
    assert [(s["name"], s["interface"]) for s in e2e.network_status(pod)][1:] == [
        ("default/vlan100-conf", "net1"), ("default/vlan100-conf", "net2")]
    # two attachments of one network: two libcni result caches, both removed by DEL
    assert len([c for c in e2e.result_caches() if c.startswith("vlan100-conf-")]) == 2
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


def test_pod_not_found_is_an_empty_success(e2e):
    pod = e2e.sandbox("gone", in_api=False)

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 0, (out, e2e.last_stderr)
    assert out["interfaces"] == [{"name": "eth0", "sandbox": pod.netns.path}]
    assert e2e.links(pod.netns) == {"lo"}
    assert e2e.cluster_allocations() == {}
    assert "not found" in e2e.last_stderr


def test_pod_uid_mismatch_fails(e2e):
    pod = e2e.sandbox("recreated")

    rc, out = e2e.run_cni("ADD", pod, uid="00000000-0000-4000-8000-000000000000")

    assert rc == 1
    assert "expected pod UID" in out["msg"] and "default/recreated" in out["msg"]
    e2e.assert_nothing_left(pod)


def test_cri_pod_annotations_win_over_the_api(e2e):
    _field_report_nads(e2e)
    # the API's annotation asks for vlan200-conf; the runtime's copy (CRI) for vlan100-conf
    pod = e2e.sandbox("cri", networks=[{"name": "vlan200-conf", "ips": ["198.51.100.9/24"]}])
    conf = e2e.meta_config(runtimeConfig={"io.kubernetes.cri.pod-annotations": {
        "k8s.v1.cni.cncf.io/networks": json.dumps([{"name": "vlan100-conf",
                                                    "ips": ["192.0.2.9/24"]}])}})

    rc, out = e2e.run_cni("ADD", pod, config=conf)

    assert rc == 0, (out, e2e.last_stderr)
    assert e2e.addresses(pod.netns, "net1") == ["192.0.2.9/24"]
    assert [s["name"] for s in e2e.network_status(pod)] == ["e2e-cluster",
                                                            "default/vlan100-conf"]
    assert e2e.run_cni("DEL", pod, config=conf)[0] == 0
    e2e.assert_nothing_left(pod)
