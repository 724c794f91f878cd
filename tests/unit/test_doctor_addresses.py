"""duplicate-address-node and duplicate-address-pod on synthetic node snapshots, delegate
caches and network-status: every duplicate case found with its evidence and fix, and the
normal states (different addresses in one subnet, the pod's own sandbox) never flagged."""

from __future__ import annotations

import json
from dataclasses import replace

from netattach.doctor import checks as c
from netattach.doctor.addresses import (
    check_duplicate_address_node,
    check_duplicate_address_pod,
)
from netattach.doctor.delegates import CachedDelegate, CachedPod
from netattach.doctor.findings import Finding
from netattach.doctor.hostconfig import DeclaredDevice, HostConfig
from netattach.doctor.node import NodeLink, NodeSnapshot
from netattach.doctor.sources import NadSource, PodSource

NIC = NodeLink("enp16s0f0", addresses=("192.0.2.10/24", "fe80::1/64"), netns_id="1:1")
UPLINK = NodeLink("enp30s0", addresses=("198.51.100.10/24",), netns_id="1:1")
LO = NodeLink("lo", oper_state="UNKNOWN", addresses=("127.0.0.1/8",), netns_id="1:1")
STATUS = "k8s.v1.cni.cncf.io/network-status"


def node(*links: NodeLink) -> NodeSnapshot:
    return NodeSnapshot((LO, NIC, UPLINK, *links), ("enp30s0",))


def in_pod(name: str, ns: str, addr: str, *, kind: str = "macvlan", parent: str | None =
           "enp16s0f0", vlan_id: int | None = None) -> NodeLink:
    return NodeLink(name, kind=kind, netns=f"/run/netns/{ns}", in_node=False, parent=parent,
                    parent_netns="host" if parent else None, parent_in_node=parent is not None,
                    vlan_id=vlan_id, addresses=(addr,), netns_id=f"2:{ns}")


def conf(name: str, **body: object) -> str:
    return json.dumps({"cniVersion": "1.0.0", "name": name, **body})


def nad(name: str, **body: object) -> NadSource:
    return NadSource("default", name, conf(name, **body), "test")


MV = nad("mv", type="macvlan", master="enp16s0f0", ipam={"type": "static"})
MV_CONF = MV.config


def pod(name: str, *nets: object, status: list[dict] | None = None,
        node_name: str = "") -> PodSource:
    ann = {"k8s.v1.cni.cncf.io/networks": json.dumps(list(nets))}
    if status is not None:
        ann[STATUS] = json.dumps(status)
    return PodSource("default", name, node_name, ann, "API")


def sandbox(name: str, ips: tuple[str, ...], *, config: str = MV_CONF, nad_name: str = "mv",
            ifname: str = "net1", ns: str = "") -> CachedPod:
    cid = f"{name}0123456789abcdef"
    return CachedPod(cid, f"/run/netns/{ns or 'cni-' + name}", "default", name,
                     (CachedDelegate("kube-system/cluster", "cluster", "eth0", "{}",
                                     is_default=True),
                      CachedDelegate(f"default/{nad_name}", nad_name, ifname, config, ips)),
                     f"/var/lib/cni/multus/{cid}", f"2:{ns or 'cni-' + name}")


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# -- duplicate-address-node ---------------------------------------------------------------------
def test_requested_ip_is_the_nodes_own_address_on_the_master() -> None:
    inp = c.Inputs(nads=(MV,), pods=(pod("a", {"name": "mv", "ips": ["192.0.2.10/24"]}),),
                   node=node())
    f = only(check_duplicate_address_node(inp))
    assert (f.id, f.severity, f.reason, f.nad) == ("duplicate-address-node", "error",
                                                    "DuplicateAddress", "default/mv")
    assert f.title == "192.0.2.10 is the node's own address on enp16s0f0"
    assert f.evidence[0] == "pod default/a (API) asks for 192.0.2.10/24 on NAD default/mv"
    assert "enp16s0f0 in the host namespace has 192.0.2.10/24" in f.evidence
    assert "two hosts answer ARP/ND" in f.evidence[2]
    assert f.fix[0].startswith('give default/a another address: its "ips"')
    assert f.fix[1].endswith("ip addr del 192.0.2.10/24 dev enp16s0f0")


def test_static_ipam_address_of_the_nad_is_held_by_the_node() -> None:
    st = nad("st", type="macvlan", master="enp16s0f0",
             ipam={"type": "static", "addresses": [{"address": "192.0.2.10/24"}]})
    inp = c.Inputs(nads=(st,), pods=(pod("a", {"name": "st"}),), node=node())
    f = only(check_duplicate_address_node(inp))
    assert f.severity == "error"
    assert "via the static addresses of NAD default/st" in f.evidence[0]
    assert "the static addresses of NAD default/st (kubectl edit net-attach-def -n default st)" \
        in f.fix[0]
    # no pod uses it yet: the NAD itself is reported, before any pod fails
    f = only(check_duplicate_address_node(replace(inp, pods=())))
    assert f.evidence[0] == ("NAD default/st (test), for any pod attached to it asks for "
                             "192.0.2.10/24 on NAD default/st")
    assert f.fix[0].startswith("give NAD default/st another address: the static addresses")
    # the sandbox that uses the NAD holds its address: that is no duplicate
    user = in_pod("net1", "cni-u", "192.0.2.50/24")
    st50 = nad("st", type="macvlan", master="enp16s0f0",
               ipam={"type": "static", "addresses": [{"address": "192.0.2.50/24"}]})
    inp = c.Inputs(nads=(st50,), node=node(user),
                   cached=(sandbox("u", (), config=st50.config, nad_name="st"),))
    assert check_duplicate_address_node(inp) == []
    assert check_duplicate_address_pod(inp) == []


def test_node_address_on_another_network_is_a_warning() -> None:
    inp = c.Inputs(nads=(MV,), pods=(pod("a", {"name": "mv", "ips": ["198.51.100.10/24"]}),),
                   node=node())
    f = only(check_duplicate_address_node(inp))
    assert (f.severity, f.title) == ("warning",
                                     "198.51.100.10 is the node's own address on enp30s0")
    assert "enp30s0 is on enp30s0, NAD default/mv on enp16s0f0" in f.evidence[2]


def test_address_on_another_pods_macvlan_of_the_same_master() -> None:
    holder = in_pod("net1", "cni-9", "192.0.2.60/24")
    inp = c.Inputs(nads=(MV,), pods=(pod("a", {"name": "mv", "ips": ["192.0.2.60/24"]}),),
                   node=node(holder))
    f = only(check_duplicate_address_node(inp))
    assert (f.severity, f.title) == ("error",
                                     "192.0.2.60 is already on net1 in namespace /run/netns/cni-9")
    assert f.fix[1].endswith("ip -n cni-9 addr del 192.0.2.60/24 dev net1")


def test_vlan_nad_matches_a_pod_vlan_and_ignores_another_vlan() -> None:
    v100 = nad("v100", type="vlan", master="enp16s0f0", vlanId=100, ipam={"type": "static"})
    same = in_pod("net1", "cni-1", "203.0.113.5/24", kind="vlan", vlan_id=100)
    other = in_pod("net1", "cni-2", "203.0.113.5/24", kind="vlan", vlan_id=200)
    inp = c.Inputs(nads=(v100,), pods=(pod("a", {"name": "v100", "ips": ["203.0.113.5/24"]}),),
                   node=node(same, other))
    f = only(check_duplicate_address_node(inp))
    assert f.severity == "error" and "cni-1" in f.title
    assert "on the network of NAD default/v100 (VLAN 100 on enp16s0f0)" in f.evidence[2]


def test_macvlan_on_a_host_vlan_device_is_that_vlans_network() -> None:
    host_vlan = NodeLink("vlan.100", kind="vlan", parent="enp16s0f0", parent_netns="host",
                         parent_in_node=True, vlan_id=100, netns_id="1:1")
    mv100 = nad("mv100", type="macvlan", master="vlan.100", ipam={"type": "static"})
    pod_vlan = in_pod("net1", "cni-1", "203.0.113.5/24", kind="vlan", vlan_id=100)
    inp = c.Inputs(nads=(mv100,), node=node(host_vlan, pod_vlan),
                   pods=(pod("a", {"name": "mv100", "ips": ["203.0.113.5/24"]}),))
    assert only(check_duplicate_address_node(inp)).severity == "error"


def test_unknown_network_of_a_pod_veth_is_a_warning() -> None:
    veth = in_pod("eth0", "cni-3", "192.0.2.61/24", kind="veth", parent=None)
    inp = c.Inputs(nads=(MV,), pods=(pod("a", {"name": "mv", "ips": ["192.0.2.61/24"]}),),
                   node=node(veth))
    f = only(check_duplicate_address_node(inp))
    assert f.severity == "warning" and "cannot be told" in f.evidence[2]


def test_the_pods_own_sandbox_is_not_a_duplicate() -> None:
    own = in_pod("net1", "cni-a", "192.0.2.50/24")
    inp = c.Inputs(nads=(MV,), node=node(own),
                   pods=(pod("a", {"name": "mv", "ips": ["192.0.2.50/24"]}),),
                   cached=(sandbox("a", ("192.0.2.50/24",)),))
    assert check_duplicate_address_node(inp) == []
    # without a cache, its own network-status says net1 has it
    status = [{"name": "default/mv", "interface": "net1", "ips": ["192.0.2.50"]}]
    inp = c.Inputs(nads=(MV,), node=node(own),
                   pods=(pod("a", {"name": "mv", "ips": ["192.0.2.50/24"]}, status=status),))
    assert check_duplicate_address_node(inp) == []
    # before its ADD, the sandbox being added is its own too
    adding = sandbox("a", ("192.0.2.50/24",))
    assert check_duplicate_address_node(c.Inputs(node=node(own), adding=adding)) == []
    other = replace(adding, netns_id="2:elsewhere", container_id="other")
    assert only(check_duplicate_address_node(c.Inputs(node=node(own), adding=other)))


def test_address_declared_in_host_config_but_not_on_the_link() -> None:
    decl = DeclaredDevice("enp16s0f0", "ethernet", "netplan", "/etc/netplan/01-nic.yaml", 7,
                          "network.ethernets.enp16s0f0", addresses=("192.0.2.11/24",))
    inp = c.Inputs(nads=(MV,), pods=(pod("a", {"name": "mv", "ips": ["192.0.2.11/24"]}),),
                   node=node(), host=HostConfig("/", (decl,)))
    f = only(check_duplicate_address_node(inp))
    assert f.severity == "error"
    assert ("netplan: /etc/netplan/01-nic.yaml line 7 (network.ethernets.enp16s0f0) gives "
            "enp16s0f0 192.0.2.11/24 (not on the link now)") in f.evidence
    assert f.fix[1] == ("or, if enp16s0f0 should not have it, remove 192.0.2.11/24 from "
                        "/etc/netplan/01-nic.yaml (line 7)")


def test_host_device_taking_its_own_address_loopback_and_link_local() -> None:
    hd = nad("hd", type="host-device", device="enp16s0f0", ipam={"type": "static"})
    inp = c.Inputs(nads=(hd, MV), node=node(), pods=(
        pod("a", {"name": "hd", "ips": ["192.0.2.10/24"]}),
        pod("b", {"name": "mv", "ips": ["127.0.0.1/8"]}),
        pod("c", {"name": "mv", "ips": ["fe80::1/64"]})))
    found = check_duplicate_address_node(inp)
    # only fe80::1 on the master itself (same link): link-local clashes only there
    assert [(f.title, f.severity) for f in found] == [
        ("fe80::1 is the node's own address on enp16s0f0", "error")]


def test_pods_on_other_nodes_are_not_compared_with_this_node() -> None:
    inp = c.Inputs(nads=(MV,), node=node(), node_name="n1",
                   pods=(pod("a", {"name": "mv", "ips": ["192.0.2.10/24"]}, node_name="n2"),))
    assert check_duplicate_address_node(inp) == []
    assert only(check_duplicate_address_node(replace(inp, node_name="n2")))


# -- duplicate-address-pod ----------------------------------------------------------------------
def test_before_add_the_address_of_another_sandbox_in_the_delegate_cache() -> None:
    b = sandbox("b", ("192.0.2.50/24",))
    inp = c.Inputs(node=node(), cached=(b,), adding=sandbox("a", ("192.0.2.50/24",)))
    f = only(check_duplicate_address_pod(inp))
    assert (f.id, f.severity, f.reason, f.nad) == ("duplicate-address-pod", "error",
                                                    "DuplicateAddress", "default/mv")
    assert f.title == "192.0.2.50 on NAD default/mv is already used by pod default/b"
    assert f.evidence[0] == ("pod default/a (being added, net1) asks for 192.0.2.50/24 on NAD "
                             "default/mv")
    assert f.evidence[1] == ("pod default/b (sandbox b0123456789a, net1, delegate cache "
                             f"/var/lib/cni/multus/{b.container_id}) has 192.0.2.50 on NAD "
                             "default/mv")
    assert f.fix[1] == (f"if pod default/b is gone, its sandbox is stale: crictl stopp "
                        f"{b.container_id} && crictl rmp {b.container_id} (its DEL removes "
                        f"/var/lib/cni/multus/{b.container_id})")


def test_static_nad_addresses_in_the_cache_and_another_nad_on_the_same_master() -> None:
    st = conf("st", type="macvlan", master="enp16s0f0",
              ipam={"type": "static", "addresses": [{"address": "192.0.2.50/24"}]})
    b = sandbox("b", (), config=st, nad_name="st")
    inp = c.Inputs(node=node(), cached=(b,), adding=sandbox("a", ("192.0.2.50/24",)))
    f = only(check_duplicate_address_pod(inp))
    assert "has 192.0.2.50 on NAD default/st" in f.evidence[1]
    assert "same network: enp16s0f0" in f.evidence
    # the same address on a NAD of another master is another network: fine
    elsewhere = conf("st", type="macvlan", master="enp30s0",
                     ipam={"type": "static", "addresses": [{"address": "192.0.2.50/24"}]})
    inp = replace(inp, cached=(sandbox("b", (), config=elsewhere, nad_name="st"),))
    assert check_duplicate_address_pod(inp) == []


def test_network_status_of_another_pod_with_api_access() -> None:
    status = [{"name": "cluster", "interface": "eth0", "ips": ["10.244.1.5"], "default": True},
              {"name": "default/mv", "interface": "net1", "ips": ["192.0.2.50"]}]
    inp = c.Inputs(nads=(MV,), node=node(), pods=(pod("b", status=status),),
                   adding=sandbox("a", ("192.0.2.50/24",)))
    f = only(check_duplicate_address_pod(inp))
    assert "pod default/b (API): net1 in its network-status has 192.0.2.50 on NAD default/mv" \
        in f.evidence
    # the cluster network's address is another network
    inp = replace(inp, adding=sandbox("a", ("10.244.1.5/24",)))
    assert check_duplicate_address_pod(inp) == []


def test_two_live_sandboxes_with_one_address_reported_once_in_doctor() -> None:
    inp = c.Inputs(nads=(MV,), node=node(), cached=(sandbox("a", ("192.0.2.50/24",)),
                                                     sandbox("b", ("192.0.2.50/24",))))
    f = only(check_duplicate_address_pod(inp))
    assert "already used by pod default/b" in f.title


def test_two_annotations_are_static_ip_duplicate_not_twice() -> None:
    status = [{"name": "default/mv", "interface": "net1", "ips": ["192.0.2.50"]}]
    pods = (pod("a", {"name": "mv", "ips": ["192.0.2.50/24"]}),
            pod("b", {"name": "mv", "ips": ["192.0.2.50/24"]}, status=status))
    inp = c.Inputs(nads=(MV,), node=node(), pods=pods)
    assert check_duplicate_address_pod(inp) == []
    assert [f.id for f in c.check_static_ips(inp)] == ["static-ip-duplicate"]


# -- clean: one subnet, different addresses ------------------------------------------------------
def test_normal_same_subnet_addresses_are_not_flagged() -> None:
    status = [{"name": "default/mv", "interface": "net1", "ips": ["192.0.2.53"]}]
    inp = c.Inputs(
        nads=(MV,), host=HostConfig("/"),
        node=node(in_pod("net1", "cni-b", "192.0.2.52/24"),
                  in_pod("net1", "cni-c", "192.0.2.53/24")),
        pods=(pod("a", {"name": "mv", "ips": ["192.0.2.50/24"]}),
              pod("d", {"name": "mv", "ips": ["192.0.2.51/24"]}),
              pod("c", {"name": "mv", "ips": ["192.0.2.53/24"]}, status=status)),
        cached=(sandbox("b", ("192.0.2.52/24",)), sandbox("c", ("192.0.2.53/24",))))
    assert c.run_checks(inp) == []
    before_add = replace(inp, pods=(), adding=sandbox("e", ("192.0.2.54/24",)))
    assert c.run_checks(before_add) == []
