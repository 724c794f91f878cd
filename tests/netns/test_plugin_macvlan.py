"""macvlan plugin on real namespaces: in process, as an installed executable, and against
the reference Go plugin (/usr/lib/cni/macvlan) as an oracle.

The plugin's "host" is a node netns: in process the call runs on a thread inside it, as an
executable under `ip netns exec NODE`. Addresses are documentation ranges only.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.netns import plugin_helpers as h

from netattach.plugins.macvlan import MacvlanPlugin

pytestmark = pytest.mark.root


GO_MACVLAN = Path(h.GO_CNI_DIR) / "macvlan"
POD_IP, PEER_IP = "192.0.2.10/24", "192.0.2.1/24"


@pytest.fixture
def lab(netns_factory):
    """node (veth `parent` to a peer ns holding 192.0.2.1/24) and an empty pod ns."""
    return h.make_lab(netns_factory, PEER_IP)


def conf(parent: str, version: str = "1.0.0", **kw):
    kw.setdefault("ipam", h.static_ipam(POD_IP, routes=[{"dst": "198.51.100.0/24",
                                                          "gw": "192.0.2.1"}]))
    kw.setdefault("master", parent)
    return h.netconf("macvlan", version=version, **kw)


def inproc(command, cfg, node, pod, ifname="net1", **kw):
    return h.call_inproc(MacvlanPlugin(), command, cfg, netns=pod.path, ifname=ifname,
                         host_netns=node.path, **kw)


def test_add_check_del_in_process(lab):
    node, pod, peer, parent = lab
    cfg = conf(parent, dns={"nameservers": ["192.0.2.53"]})
    res = inproc("ADD", cfg, node, pod).ok()
    assert res["interfaces"][0]["name"] == "net1"
    assert res["interfaces"][0]["sandbox"] == pod.path
    assert res["ips"] == [{"interface": 0, "address": POD_IP}]
    assert res["routes"] == [{"dst": "198.51.100.0/24", "gw": "192.0.2.1"}]
    assert res["dns"] == {"nameservers": ["192.0.2.53"]}
    facts = h.link_facts(pod.name, "net1")
    assert (facts["kind"], facts["mode"], facts["up"]) == ("macvlan", "bridge", True)
    assert facts["addrs"] == [POD_IP]
    assert facts["mac"] == res["interfaces"][0]["mac"]
    assert h.ping(peer.name, "192.0.2.10")

    checked = {**cfg, "prevResult": res}
    assert inproc("CHECK", checked, node, pod).rc == 0
    subprocess.run(["ip", "-n", pod.name, "addr", "del", POD_IP, "dev", "net1"], check=True)
    bad = inproc("CHECK", checked, node, pod)
    assert bad.rc == 1 and "Failed to match addr 192.0.2.10/24 on interface net1" in bad.msg

    assert inproc("DEL", checked, node, pod).rc == 0
    assert not h.ip_json("link", "show", netns=pod.name)[1:]  # only lo left
    assert inproc("DEL", checked, node, pod).rc == 0  # idempotent


def test_check_reports_what_differs(lab):
    node, pod, _, parent = lab
    cfg = conf(parent)
    res = inproc("ADD", cfg, node, pod).ok()
    wrong_mode = inproc("CHECK", {**cfg, "mode": "vepa", "prevResult": res}, node, pod)
    assert wrong_mode.rc == 1
    assert wrong_mode.msg == "container macvlan mode bridge does not match expected value: vepa"
    no_prev = inproc("CHECK", cfg, node, pod)
    assert no_prev.rc == 1 and "prevResult" in no_prev.msg
    subprocess.run(["ip", "-n", pod.name, "route", "del", "198.51.100.0/24"], check=True)
    no_route = inproc("CHECK", {**cfg, "prevResult": res}, node, pod)
    assert no_route.rc == 1 and "not found in routing table" in no_route.msg


def test_executable_add_check_del(lab, bindir):
    node, pod, peer, parent = lab
    cfg = conf(parent)
    add = h.call_exec(bindir / "macvlan", "ADD", cfg, netns=pod.path, ifname="net1",
                      host_netns_name=node.name)
    res = add.ok()
    assert res["cniVersion"] == "1.0.0" and res["ips"][0]["address"] == POD_IP
    assert h.ping(peer.name, "192.0.2.10")
    chk = h.call_exec(bindir / "macvlan", "CHECK", {**cfg, "prevResult": res}, netns=pod.path,
                      ifname="net1", host_netns_name=node.name)
    assert (chk.rc, chk.out) == (0, None)
    for _ in range(2):
        d = h.call_exec(bindir / "macvlan", "DEL", cfg, netns=pod.path, ifname="net1",
                        host_netns_name=node.name)
        assert (d.rc, d.out) == (0, None)
    assert [lk["ifname"] for lk in h.ip_json("link", "show", netns=pod.name)] == ["lo"]


def test_executable_error_is_json_with_code(lab, bindir):
    node, pod, _, parent = lab
    bad = h.call_exec(bindir / "macvlan", "ADD", conf(parent, mode="bogus"), netns=pod.path,
                      ifname="net1", host_netns_name=node.name)
    assert bad.rc == 1
    assert bad.out["code"] == 999 and bad.out["msg"] == 'unknown macvlan mode: "bogus"'
    assert bad.details


def test_del_succeeds_when_things_are_gone(lab, netns_factory):
    node, pod, _, parent = lab
    cfg = conf(parent)
    # link gone
    inproc("ADD", cfg, node, pod).ok()
    subprocess.run(["ip", "-n", pod.name, "link", "del", "net1"], check=True)
    assert inproc("DEL", cfg, node, pod).rc == 0
    # master gone
    inproc("ADD", cfg, node, pod).ok()
    subprocess.run(["ip", "-n", node.name, "link", "del", parent], check=True)
    assert inproc("DEL", cfg, node, pod).rc == 0
    # netns gone, and empty CNI_NETNS
    subprocess.run(["ip", "netns", "del", pod.name], check=True)
    assert inproc("DEL", cfg, node, pod).rc == 0
    empty = h.call_inproc(MacvlanPlugin(), "DEL", cfg, netns="", ifname="net1",
                          host_netns=node.path)
    assert empty.rc == 0


def test_mac_precedence(lab):
    node, pod, _, parent = lab
    conf_mac, args_mac, rt_mac = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
    cases = [
        ({"mac": conf_mac}, "", conf_mac),
        ({"mac": conf_mac}, f"IgnoreUnknown=1;MAC={args_mac}", args_mac),
        ({"mac": conf_mac, "runtimeConfig": {"mac": rt_mac}}, f"IgnoreUnknown=1;MAC={args_mac}",
         rt_mac),
    ]
    for extra, args, want in cases:
        cfg = conf(parent, **extra)
        res = inproc("ADD", cfg, node, pod, args=args).ok()
        assert res["interfaces"][0]["mac"] == want
        assert h.link_facts(pod.name, "net1")["mac"] == want
        inproc("DEL", cfg, node, pod, args=args).ok()
    bad = inproc("ADD", conf(parent, mac="zz:00"), node, pod)
    assert bad.rc == 1 and bad.msg.startswith("invalid args zz:00 for MAC addr:")


def test_mtu_above_master_rejected_and_nothing_left(lab):
    node, pod, _, parent = lab
    bad = inproc("ADD", conf(parent, mtu=9000), node, pod)
    assert bad.rc == 1 and bad.msg == "invalid MTU 9000, must be [0, master MTU(1500)]"
    assert [lk["ifname"] for lk in h.ip_json("link", "show", netns=pod.name)] == ["lo"]
    ok = inproc("ADD", conf(parent, mtu=1400, mode="private"), node, pod).ok()
    facts = h.link_facts(pod.name, "net1")
    assert (facts["mtu"], facts["mode"]) == (1400, "private")
    assert ok["interfaces"][0]["name"] == "net1"


def test_l2_mode_without_ipam(lab):
    node, pod, _, parent = lab
    cfg = h.netconf("macvlan", master=parent)
    res = inproc("ADD", cfg, node, pod).ok()
    assert "ips" not in res and res["interfaces"][0]["name"] == "net1"
    facts = h.link_facts(pod.name, "net1")
    assert facts["up"] and facts["addrs"] == []
    assert inproc("CHECK", {**cfg, "prevResult": res}, node, pod).rc == 0
    assert inproc("DEL", cfg, node, pod).rc == 0


def test_default_master_is_default_route_interface(lab):
    node, pod, _, parent = lab
    subprocess.run(["ip", "-n", node.name, "addr", "add", "203.0.113.2/24", "dev", parent],
                   check=True)
    subprocess.run(["ip", "-n", node.name, "route", "add", "default", "via", "203.0.113.1"],
                   check=True)
    cfg = h.netconf("macvlan", ipam=h.static_ipam("192.0.2.20/24"))
    inproc("ADD", cfg, node, pod).ok()
    [dev] = h.ip_json("-d", "link", "show", "net1", netns=pod.name)
    assert dev["link_netnsid"] is not None
    subprocess.run(["ip", "-n", node.name, "route", "del", "default"], check=True)
    none = inproc("ADD", cfg, node, pod, ifname="net2")
    assert none.rc == 1 and none.msg == "no default route interface found"


def test_link_in_container(netns_factory):
    pod = netns_factory.make_netns("pod")
    other = netns_factory.make_netns("oth")
    parent, _ = netns_factory.make_veth(pod, other)
    cfg = h.netconf("macvlan", master=parent, linkInContainer=True,
                    ipam=h.static_ipam("192.0.2.30/24"))
    res = h.call_inproc(MacvlanPlugin(), "ADD", cfg, netns=pod.path, ifname="net1").ok()
    assert res["ips"][0]["address"] == "192.0.2.30/24"
    [dev] = h.ip_json("-d", "link", "show", "net1", netns=pod.name)
    assert dev["link"] == parent
    assert h.call_inproc(MacvlanPlugin(), "CHECK", {**cfg, "prevResult": res}, netns=pod.path,
                         ifname="net1").rc == 0


def test_failed_add_leaves_nothing(lab, netns_factory, tmp_path):
    node, pod, _, parent = lab
    # a route whose gateway is unreachable from the interface: fails after IPAM + link
    cfg = conf(parent, ipam={"type": "host-local", "subnet": "192.0.2.0/24",
                             "dataDir": str(tmp_path),
                             "routes": [{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}]})
    bad = inproc("ADD", cfg, node, pod)
    assert bad.rc == 1 and "failed to add route" in bad.msg
    assert [lk["ifname"] for lk in h.ip_json("link", "show", netns=pod.name)] == ["lo"]
    leftovers = [p.name for p in (tmp_path / "testnet").iterdir()
                 if p.name not in ("lock",) and not p.name.startswith("last_reserved_ip")]
    assert leftovers == []

    # CNI_IFNAME already present: ADD fails and does not touch it
    other = netns_factory.make_netns("oth")
    existing, _ = netns_factory.make_veth(pod, other)
    h.rename_link(pod.name, existing, "net1")
    dup = inproc("ADD", conf(parent), node, pod)
    assert dup.rc == 1 and dup.msg == f"interface net1 already exists in {pod.path}"
    names = [lk["ifname"] for lk in h.ip_json("-d", "link", "show", netns=pod.name)]
    assert names == ["lo", "net1"]


def test_status_forwards_to_ipam(lab, tmp_path):
    node, pod, _, parent = lab
    cfg = h.netconf("macvlan", version="1.1.0", master=parent,
                    ipam={"type": "host-local", "subnet": "192.0.2.0/24",
                          "dataDir": str(tmp_path)})
    st = h.call_inproc(MacvlanPlugin(), "STATUS", cfg, netns="", ifname="net1")
    assert st.rc == 0


# -- differential against the reference Go plugin ------------------------------------------
@pytest.mark.skipif(not GO_MACVLAN.exists(), reason="reference plugins not installed")
@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_as_reference(netns_factory, bindir, version):
    results = {}
    facts = {}
    for impl, binary in (("go", GO_MACVLAN), ("py", bindir / "macvlan")):
        node = netns_factory.make_netns("node")
        pod = netns_factory.make_netns("pod")
        peer = netns_factory.make_netns("peer")
        parent, _ = netns_factory.make_veth(node, peer, name_a=netns_factory.link_name("m"))
        h.rename_link(node.name, parent, "mparent")
        cfg = h.netconf("macvlan", version=version, master="mparent", mode="vepa", mtu=1400,
                        ipam=h.static_ipam("192.0.2.40/24", "2001:db8::40/64",
                                           routes=[{"dst": "198.51.100.0/24",
                                                    "gw": "192.0.2.1"}]),
                        dns={"nameservers": ["192.0.2.53"], "search": ["example.org"]})
        add = h.call_exec(binary, "ADD", cfg, netns=pod.path, ifname="net1",
                          host_netns_name=node.name)
        results[impl] = h.strip_macs(add.ok())
        facts[impl] = {k: v for k, v in h.link_facts(pod.name, "net1").items() if k != "mac"}
        if version != "0.3.1":
            chk = h.call_exec(binary, "CHECK", {**cfg, "prevResult": add.out}, netns=pod.path,
                              ifname="net1", host_netns_name=node.name)
            assert chk.rc == 0, (impl, chk.out)
        dele = h.call_exec(binary, "DEL", cfg, netns=pod.path, ifname="net1",
                           host_netns_name=node.name)
        assert dele.rc == 0, (impl, dele.out)
    assert results["py"] == results["go"]
    assert facts["py"] == facts["go"]


@pytest.mark.skipif(not GO_MACVLAN.exists(), reason="reference plugins not installed")
@pytest.mark.parametrize("extra", [
    {"mode": "bogus"},
    {"mtu": 9000},
    {"master": "nosuchdev0"},
    {"mac": "not-a-mac"},
    {"mode": 7},
])
def test_same_error_code_as_reference(lab, bindir, extra):
    node, pod, _, parent = lab
    cfg = conf(parent, **extra)
    outs = {impl: h.call_exec(binary, "ADD", cfg, netns=pod.path, ifname="net1",
                              host_netns_name=node.name)
            for impl, binary in (("go", GO_MACVLAN), ("py", bindir / "macvlan"))}
    assert outs["go"].rc == outs["py"].rc == 1
    assert outs["go"].code == outs["py"].code, json.dumps({k: v.out for k, v in outs.items()})
    if "mode" in extra and extra["mode"] == "bogus" or "mtu" in extra:
        assert outs["py"].msg == outs["go"].msg
    assert [lk["ifname"] for lk in h.ip_json("link", "show", netns=pod.name)] == ["lo"]
    assert os.path.exists(pod.path)


def test_gc_is_forwarded_to_ipam_and_frees_stale_allocations(lab, netns_factory, tmp_path):
    """CNI 1.1 GC reaches host-local through macvlan (the reference plugins drop it)."""
    node, pod, _, parent = lab
    pod2 = netns_factory.make_netns("pod2")
    cfg = conf(parent, version="1.1.0",
               ipam={"type": "host-local", "subnet": "192.0.2.0/24", "dataDir": str(tmp_path)})
    keep = h.call_inproc(MacvlanPlugin(), "ADD", cfg, netns=pod.path, ifname="net1",
                         container_id="keep", host_netns=node.path)
    stale = h.call_inproc(MacvlanPlugin(), "ADD", cfg, netns=pod2.path, ifname="net1",
                          container_id="stale", host_netns=node.path)
    assert keep.rc == 0 and stale.rc == 0

    def held() -> dict[str, str]:
        return {p.name: p.read_bytes().decode() for p in (tmp_path / "testnet").iterdir()
                if p.name[0].isdigit()}

    assert sorted(held().values()) == ["keep\r\nnet1", "stale\r\nnet1"]
    gc = {**cfg, "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "net1"}]}
    out = h.call_inproc(MacvlanPlugin(), "GC", gc, netns="", ifname="", container_id="",
                        host_netns=node.path)
    assert out.rc == 0, out
    assert list(held().values()) == ["keep\r\nnet1"]
