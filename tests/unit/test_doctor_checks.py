"""Every doctor check on synthetic node snapshots: the finding, its evidence and fix,
and the clean states that must produce nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netattach.doctor import checks as c
from netattach.doctor.findings import Finding
from netattach.doctor.hostconfig import DeclaredDevice, HostConfig
from netattach.doctor.node import NodeLink, NodeSnapshot
from netattach.doctor.report import checked_summary, render_json, render_text, write_report
from netattach.doctor.sources import NadSource, PodSource, from_yaml

NIC = NodeLink("enp16s0f0", mtu=1500, addresses=("192.0.2.10/24",))
UPLINK = NodeLink("enp30s0", mtu=9000, addresses=("198.51.100.10/24",))
HOST_VLAN = NodeLink("vlan.100", kind="vlan", parent="enp16s0f0", parent_netns="host",
                     parent_in_node=True, vlan_id=100, addresses=("203.0.113.100/24",))
POD_VLAN = NodeLink("net1", kind="vlan", netns="/run/netns/cni-1234", in_node=False,
                    parent="enp16s0f0", parent_netns="host", parent_in_node=True, vlan_id=100)
NETPLAN_VLAN = DeclaredDevice("vlan.100", "vlan", "netplan", "/etc/netplan/99-my-config.yaml",
                              12, "network.vlans.vlan.100", 100, "enp16s0f0")


def node(*links: NodeLink, default: tuple[str, ...] = ("enp30s0",)) -> NodeSnapshot:
    return NodeSnapshot((NodeLink("lo", oper_state="UNKNOWN"), NIC, UPLINK, *links), default)


def nad(name: str, **conf: object) -> NadSource:
    body = {"cniVersion": "1.0.0", "name": name, **conf}
    return NadSource("default", name, json.dumps(body), "test")


def vlan_nad(name: str = "vlan100-conf", **extra: object) -> NadSource:
    return nad(name, type="vlan", master="enp16s0f0", vlanId=100,
               ipam={"type": "static"}, **extra)


def pod(name: str, *nets: object, node_name: str = "") -> PodSource:
    return PodSource("default", name, node_name,
                     {"k8s.v1.cni.cncf.io/networks": json.dumps(list(nets))}, "test")


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


# -- vlan-conflict -------------------------------------------------------------------------------
def test_field_report_host_netplan_vlan_blocks_the_nad() -> None:
    inp = c.Inputs(nads=(vlan_nad(),), node=node(HOST_VLAN),
                   host=HostConfig("/", (NETPLAN_VLAN,)))
    [f] = c.check_vlan_conflict(inp)
    assert (f.id, f.severity, f.reason, f.nad) == ("vlan-conflict", "error", "VLANConflict",
                                                    "default/vlan100-conf")
    assert f.title == "VLAN 100 on enp16s0f0 is already used by vlan.100 in the host namespace"
    assert ("configured by netplan: /etc/netplan/99-my-config.yaml line 12 "
            "(network.vlans.vlan.100)") in f.evidence
    assert any(x.startswith("ip link del vlan.100") for x in f.fix)
    assert any('"shared": true' in x for x in f.fix)
    assert any("remove network.vlans.vlan.100 from /etc/netplan/99-my-config.yaml (line 12)"
               in x for x in f.fix)


def test_stale_host_vlan_not_in_config_says_netplan_apply() -> None:
    inp = c.Inputs(nads=(vlan_nad(),), node=node(HOST_VLAN), host=HostConfig("/"))
    [f] = c.check_vlan_conflict(inp)
    assert any("stale, left by `netplan apply`" in e for e in f.evidence)
    stale = c.check_stale_devices(inp)
    assert ids(stale) == ["stale-device"] and stale[0].severity == "warning"
    assert stale[0].fix[0].startswith("ip link del vlan.100")


def test_vlan_held_by_another_pod_is_a_warning_in_doctor_an_error_before_add() -> None:
    inp = c.Inputs(nads=(vlan_nad(),), node=node(POD_VLAN), host=HostConfig("/"))
    [f] = c.check_vlan_conflict(inp)
    assert f.severity == "warning"
    assert f.title.endswith("already used by net1 in namespace /run/netns/cni-1234")
    assert any("ip -n cni-1234 link del net1" in x for x in f.fix)
    [g] = c.check_vlan_conflict(c.Inputs(nads=(vlan_nad(),), node=node(POD_VLAN),
                                         pod_holder_severity="error"))
    assert g.severity == "error"


@pytest.mark.parametrize("nad_source", [
    vlan_nad(shared=True),                                    # shared mode: the host device is used
    nad("v200", type="vlan", master="enp16s0f0", vlanId=200, ipam={"type": "static"}),
    nad("mv", type="macvlan", master="vlan.100", ipam={"type": "static"}),
    vlan_nad(linkInContainer=True),
])
def test_no_vlan_conflict(nad_source: NadSource) -> None:
    assert c.check_vlan_conflict(c.Inputs(nads=(nad_source,), node=node(HOST_VLAN))) == []


# -- masters, MTU, VLAN range ----------
def test_master_missing_names_the_nics() -> None:
    inp = c.Inputs(nads=(nad("m", type="macvlan", master="eth9", ipam={"type": "static"}),),
                   node=node())
    [f] = c.check_masters(inp)
    assert (f.id, f.severity, f.reason) == ("master-missing", "error", "MasterMissing")
    assert "enp16s0f0, enp30s0" in f.evidence[1]


def test_master_down_and_no_carrier() -> None:
    down = NodeLink("eth2", admin_up=False, oper_state="DOWN")
    nocarrier = NodeLink("eth3", oper_state="LOWERLAYERDOWN")
    inp = c.Inputs(nads=(nad("a", type="ipvlan", master="eth2"),
                         nad("b", type="vlan", master="eth3", vlanId=5)),
                   node=node(down, nocarrier))
    assert [(f.id, f.severity) for f in c.check_masters(inp)] == [
        ("master-no-carrier", "warning")]
    # down: no frame leaves any pod on it, an error in doctor...
    [down_f] = c.check_master_down(inp)
    assert (down_f.id, down_f.severity, down_f.reason) == ("master-down", "error", "MasterDown")
    assert down_f.fix[0] == "ip link set eth2 up"
    assert "eth2 is down" in down_f.evidence[1] and "cut off" in down_f.evidence[1]
    assert [f.id for f in c.run_checks(inp) if f.is_error] == ["master-down"]
    # ...and a warning before an ADD (the ADD goes on, a Warning event says why)
    from dataclasses import replace

    [pre] = c.check_master_down(replace(inp, master_down_severity="warning"))
    assert (pre.severity, pre.title) == ("warning", down_f.title)


def test_master_down_names_the_pods_attached_to_it() -> None:
    down = NodeLink("eth2", admin_up=False, oper_state="DOWN")
    pod_mv = NodeLink("net1", kind="macvlan", netns="/run/netns/cni-1", in_node=False,
                      parent="eth2", parent_netns="host", parent_in_node=True)
    [f] = c.check_master_down(c.Inputs(nads=(nad("mv", type="macvlan", master="eth2"),),
                                       node=node(down, pod_mv)))
    assert "attached now: net1 in namespace /run/netns/cni-1" in f.evidence
    up = c.Inputs(nads=(nad("mv", type="macvlan", master="enp16s0f0"),), node=node())
    assert c.check_master_down(up) == []


def test_mtu_too_large() -> None:
    inp = c.Inputs(nads=(vlan_nad(mtu=9000),), node=node())
    [f] = c.check_mtu(inp)
    assert (f.id, f.reason) == ("mtu-too-large", "MTUTooLarge")
    assert "enp16s0f0 has MTU 1500" in f.evidence
    assert c.check_mtu(c.Inputs(nads=(vlan_nad(mtu=1500),), node=node())) == []


@pytest.mark.parametrize("vid", [4095, -1, "100", 5000])
def test_vlan_id_out_of_range(vid: object) -> None:
    [f] = c.check_vlan_range(c.Inputs(nads=(nad("v", type="vlan", master="x", vlanId=vid),)))
    assert (f.id, f.severity, f.reason) == ("vlan-id-out-of-range", "error", "VLANIDOutOfRange")


# -- NAD config ----------
def test_nad_invalid_unknown_plugin_unknown_ipam(tmp_path: Path) -> None:
    (tmp_path / "whereabouts").write_text("#!/bin/sh\n")
    (tmp_path / "whereabouts").chmod(0o755)
    bad = NadSource("default", "bad", "{not json", "f.yaml")
    inp = c.Inputs(nads=(bad, nad("s", type="sriov"), nad("w", type="macvlan", master="x",
                                                          ipam={"type": "whereabouts"}),
                         nad("d", type="macvlan", ipam={"type": "dhcp"})),
                   cni_bin_dirs=(str(tmp_path),))
    assert ids(c.check_nad_config(inp)) == ["nad-invalid", "unknown-plugin", "unknown-ipam"]


# -- default-route interface -----------------------------------------------------------------------
def test_default_route_interface() -> None:
    inp = c.Inputs(nads=(nad("hd", type="host-device", device="enp30s0"),
                         nad("mv", type="macvlan", ipam={"type": "static"}),
                         nad("ok", type="macvlan", master="enp30s0",
                             allowDefaultRouteInterface=True),
                         nad("other", type="macvlan", master="enp16s0f0")),
                   node=node())
    found = c.check_default_route_interface(inp)
    assert [(f.nad, f.severity) for f in found] == [("default/hd", "error"),
                                                    ("default/mv", "warning")]
    assert found[0].reason == "DefaultRouteInterface"
    assert "no \"master\", so the plugin picks" in found[1].evidence[0]


# -- static addresses ----------
def test_static_ip_duplicate_and_in_node_subnet() -> None:
    mv = nad("mv", type="macvlan", master="enp16s0f0", ipam={"type": "static"})
    inp = c.Inputs(nads=(mv,), pods=(pod("a", {"name": "mv", "ips": ["192.0.2.50/24"]}),
                                     pod("b", {"name": "mv", "ips": ["192.0.2.50/24"]}),
                                     pod("c", {"name": "mv", "ips": ["192.0.2.10/24"]})),
                   node=node())
    found = c.check_static_ips(inp)
    dup = [f for f in found if f.id == "static-ip-duplicate"]
    assert len(dup) == 1 and dup[0].reason == "StaticIPConflict"
    assert any("pod default/a" in e for e in dup[0].evidence)
    # the node's own address is duplicate-address-node; the same subnet alone is normal
    assert [f.id for f in found] == ["static-ip-duplicate"]
    [own] = c.check_duplicate_address_node(inp)
    assert (own.title, own.severity) == ("192.0.2.10 is the node's own address on enp16s0f0",
                                         "error")


def test_range_overlaps_static_on_same_segment() -> None:
    hl = nad("hl", type="macvlan", master="enp16s0f0",
             ipam={"type": "host-local", "ranges": [[{"subnet": "203.0.113.0/24",
                                                      "rangeStart": "203.0.113.100"}]]})
    st = nad("st", type="macvlan", master="enp16s0f0", ipam={"type": "static"})
    inp = c.Inputs(nads=(hl, st), pods=(pod("a", {"name": "st", "ips": ["203.0.113.150/24"]}),
                                        pod("b", {"name": "st", "ips": ["203.0.113.50/24"]})))
    [f] = [f for f in c.check_static_ips(inp) if f.id == "range-overlaps-static"]
    assert f.nad == "default/hl" and "203.0.113.150" in f.title
    assert "rangeStart" in f.fix[0]


# -- VLAN capacity ----------
def test_vlan_capacity_two_pods_same_vlan_nad_same_node() -> None:
    pods = (pod("a", {"name": "vlan100-conf"}, node_name="n1"),
            pod("b", {"name": "vlan100-conf"}, node_name="n1"),
            pod("c", {"name": "vlan100-conf"}, node_name="n2"))
    [f] = c.check_vlan_capacity(c.Inputs(nads=(vlan_nad(),), pods=pods))
    assert (f.id, f.severity, f.reason) == ("vlan-capacity", "error", "VLANCapacity")
    assert "on node n1" in f.title
    assert c.check_vlan_capacity(c.Inputs(nads=(vlan_nad(),), pods=pods, node_name="n2")) == []
    assert c.check_vlan_capacity(c.Inputs(nads=(vlan_nad(shared=True),), pods=pods)) == []


# -- clean node and the report ----------
def test_clean_node_has_no_findings() -> None:
    inp = c.Inputs(nads=(vlan_nad(), nad("mv", type="macvlan", master="enp16s0f0",
                                         ipam={"type": "static"})),
                   pods=(pod("a", {"name": "vlan100-conf", "ips": ["203.0.113.7/24"]}),),
                   node=node(), host=HostConfig("/"))
    assert c.run_checks(inp) == []


def test_report_text_json_and_exit_code(tmp_path: Path) -> None:
    inp = c.Inputs(nads=(vlan_nad(),), node=node(HOST_VLAN), host=HostConfig("/",
                                                                             (NETPLAN_VLAN,)))
    found = c.run_checks(inp)
    text = render_text(found)
    assert "ERROR   vlan-conflict" in text and "\033[" not in text
    data = json.loads(render_json(found))
    assert set(data[0]) == {"id", "severity", "title", "evidence", "fix", "nad", "reason"}
    out = tmp_path / "out"
    with out.open("w") as fh:
        assert write_report(found, fh, "json") == 1
        assert write_report([], fh, "text") == 0


def test_report_says_what_was_checked() -> None:
    nothing_given = c.Inputs(node=node(), host=HostConfig("/", files=("/etc/netplan/a.yaml",)))
    text = render_text([], checked=checked_summary(nothing_given))
    assert text == ("netattach doctor: no findings.\n"
                    "checked no NADs (give -f FILE or --kubeconfig to check them); the node: "
                    "3 links in its namespace, links and addresses in 1 namespace; host "
                    "network config under /: 1 file\n")
    given = c.Inputs(nads=(vlan_nad(), vlan_nad("b")), pods=(pod("a", "vlan100-conf"),))
    assert checked_summary(given) == "checked 2 NADs and 1 pod"


def test_yaml_sources_multi_document(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
        "metadata: {name: vlan100-conf, namespace: default}\n"
        "spec: {config: '{\"cniVersion\": \"1.0.0\", \"type\": \"vlan\"}'}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        "    k8s.v1.cni.cncf.io/networks: vlan100-conf\nspec: {nodeName: n1}\n---\n"
        "kind: ConfigMap\nmetadata: {name: x}\n")
    src = from_yaml([str(tmp_path)])
    assert [n.key for n in src.nads] == ["default/vlan100-conf"]
    assert [(p.key, p.node_name) for p in src.pods] == [("default/p", "n1")]
    assert "document 1" in src.nads[0].origin


def test_what_the_pre_add_checks_import_from_checks_is_there() -> None:
    """attach.preflight imports these names from doctor.checks (Inputs and parse_nad live in
    doctor.model now)."""
    from netattach.doctor.checks import Inputs, parse_nad  # noqa: F401
    for name in ("run_checks", "check_vlan_range", "check_masters", "check_master_down",
                 "check_mtu", "check_default_route_interface", "check_vlan_conflict"):
        assert callable(getattr(c, name))
    [att] = c.parse_nad(vlan_nad())
    assert (att.type, att.master, att.vlan_id) == ("vlan", "enp16s0f0", 100)
