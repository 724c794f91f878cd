"""ipvlan plugin in the KVM guest: ADD/CHECK/DEL in every mode, chaining, DEL with the
master gone, and the Go reference (/usr/lib/cni/ipvlan) as an oracle.

The plugin's "host" is a node netns (executables run under `ip netns exec NODE`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.netns import plugin_helpers as h
from tests.netns.plugin_helpers import link_names as links

from netattach.plugins.ipvlan import IpvlanPlugin

pytestmark = pytest.mark.root


GO_IPVLAN = Path(h.GO_CNI_DIR) / "ipvlan"


@pytest.fixture
def lab(factory):
    return h.make_lab(factory)


def iconf(master: str, *addrs: str, version: str = "1.0.0", **kw):
    kw.setdefault("ipam", h.static_ipam(*addrs))
    return h.netconf("ipvlan", version=version, master=master, **kw)


def test_modes_add_check_del(lab):
    node, pod, peer, parent = lab
    for mode in ("l2", "l3", "l3s"):
        cfg = iconf(parent, "192.0.2.60/24", mode=mode)
        res = h.call_inproc(IpvlanPlugin(), "ADD", cfg, netns=pod.path, ifname="net1",
                            host_netns=node.path).ok()
        facts = h.link_facts(pod.name, "net1")
        assert (facts["kind"], facts["mode"], facts["addrs"]) == (
            "ipvlan", mode, ["192.0.2.60/24"])
        if mode == "l2":
            assert h.ping(peer.name, "192.0.2.60")
        assert h.call_inproc(IpvlanPlugin(), "CHECK", {**cfg, "prevResult": res},
                             netns=pod.path, ifname="net1", host_netns=node.path).rc == 0
        other = "l3" if mode == "l2" else "l2"
        wrong = h.call_inproc(IpvlanPlugin(), "CHECK", {**cfg, "mode": other,
                                                        "prevResult": res},
                              netns=pod.path, ifname="net1", host_netns=node.path)
        assert wrong.rc == 1
        assert wrong.msg == f"Container IPVlan mode {mode} does not match expected value: {other}"
        assert h.call_inproc(IpvlanPlugin(), "DEL", cfg, netns=pod.path, ifname="net1",
                             host_netns=node.path).rc == 0
        assert links(pod) == ["lo"]
    bad = h.call_inproc(IpvlanPlugin(), "ADD", iconf(parent, "192.0.2.60/24", mode="l4"),
                        netns=pod.path, ifname="net1", host_netns=node.path)
    assert bad.rc == 1 and bad.msg == 'unknown ipvlan mode: "l4"'


def test_chained_master_and_ips_from_prev_result(lab, bindir):
    node, pod, _, parent = lab
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": parent}],
            "ips": [{"address": "192.0.2.70/24"}]}
    cfg = h.netconf("ipvlan", prevResult=prev)
    res = h.call_exec(bindir / "ipvlan", "ADD", cfg, netns=pod.path, ifname="net1",
                      host_netns_name=node.name).ok()
    assert res["ips"] == [{"interface": 0, "address": "192.0.2.70/24"}]
    assert h.link_facts(pod.name, "net1")["addrs"] == ["192.0.2.70/24"]
    two = {**prev, "interfaces": [{"name": parent}, {"name": "x"}]}
    bad = h.call_exec(bindir / "ipvlan", "ADD", h.netconf("ipvlan", prevResult=two),
                      netns=pod.path, ifname="net2", host_netns_name=node.name)
    assert bad.rc == 1
    assert bad.msg == "chained master failure. PrevResult lacks a single named interface"
    assert h.call_exec(bindir / "ipvlan", "DEL", cfg, netns=pod.path, ifname="net1",
                       host_netns_name=node.name).rc == 0


def test_del_with_master_gone_and_netns_gone(lab, bindir):
    node, pod, _, parent = lab
    cfg = iconf(parent, "192.0.2.80/24")
    h.call_exec(bindir / "ipvlan", "ADD", cfg, netns=pod.path, ifname="net1",
                host_netns_name=node.name).ok()
    subprocess.run(["ip", "-n", node.name, "link", "del", parent], check=True)
    for _ in range(2):
        out = h.call_exec(bindir / "ipvlan", "DEL", cfg, netns=pod.path, ifname="net1",
                          host_netns_name=node.name)
        assert (out.rc, out.out) == (0, None)
    subprocess.run(["ip", "netns", "del", pod.name], check=True)
    out = h.call_exec(bindir / "ipvlan", "DEL", cfg, netns=pod.path, ifname="net1",
                      host_netns_name=node.name)
    assert (out.rc, out.out) == (0, None)


@pytest.mark.skipif(not GO_IPVLAN.exists(), reason="reference plugins not installed")
@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_as_reference(factory, bindir, version):
    results, facts = {}, {}
    for impl, binary in (("go", GO_IPVLAN), ("py", bindir / "ipvlan")):
        node = factory.make_netns("node")
        pod = factory.make_netns("pod")
        peer = factory.make_netns("peer")
        parent, _ = factory.make_veth(node, peer)
        h.rename_link(node.name, parent, "eth1")
        cfg = iconf("eth1", "192.0.2.90/24", "2001:db8::90/64", version=version, mode="l3",
                    mtu=1400, dns={"nameservers": ["192.0.2.53"]})
        cfg["ipam"]["routes"] = [{"dst": "198.51.100.0/24"}]
        add = h.call_exec(binary, "ADD", cfg, netns=pod.path, ifname="net1",
                          host_netns_name=node.name)
        results[impl] = h.strip_macs(add.ok())
        facts[impl] = {k: v for k, v in h.link_facts(pod.name, "net1").items() if k != "mac"}
        if version != "0.3.1":
            chk = h.call_exec(binary, "CHECK", {**cfg, "prevResult": add.out}, netns=pod.path,
                              ifname="net1", host_netns_name=node.name)
            assert chk.rc == 0, (impl, chk.out)
        assert h.call_exec(binary, "DEL", cfg, netns=pod.path, ifname="net1",
                           host_netns_name=node.name).rc == 0
    assert results["py"] == results["go"]
    assert facts["py"] == facts["go"]


@pytest.mark.skipif(not GO_IPVLAN.exists(), reason="reference plugins not installed")
def test_same_error_codes_as_reference(lab, bindir):
    node, pod, _, parent = lab
    for extra in ({"mode": "l4"}, {"master": "nosuchdev0"}):
        cfg = {**iconf(parent, "192.0.2.91/24"), **extra}
        go = h.call_exec(GO_IPVLAN, "ADD", cfg, netns=pod.path, ifname="net1",
                         host_netns_name=node.name)
        py = h.call_exec(bindir / "ipvlan", "ADD", cfg, netns=pod.path, ifname="net1",
                         host_netns_name=node.name)
        assert go.rc == py.rc == 1 and go.code == py.code, (go.out, py.out)
        assert links(pod) == ["lo"]


def test_mtu_above_master_rejected_unlike_reference(lab, bindir):
    """Divergence on purpose: the reference ipvlan does not check the master's MTU."""
    node, pod, _, parent = lab
    cfg = iconf(parent, "192.0.2.92/24", mtu=9000)
    py = h.call_exec(bindir / "ipvlan", "ADD", cfg, netns=pod.path, ifname="net1",
                     host_netns_name=node.name)
    assert py.rc == 1 and py.code == 999
    assert py.msg == "invalid MTU 9000, must be [0, master MTU(1500)]"
    assert links(pod) == ["lo"]
