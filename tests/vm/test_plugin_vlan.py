"""vlan plugin in the KVM guest (802.1Q): ADD/CHECK/DEL, the Go reference as an oracle, and
the field report's story (a host VLAN device blocking pods with `file exists`).

The plugin's "host" is a node netns (executables run under `ip netns exec NODE`).
Documentation addresses only. Runs with:
    python -m netattach.guest run -- .venv/bin/python -m pytest -q tests/vm/test_plugin_vlan.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.netns import plugin_helpers as h
from tests.netns.plugin_helpers import link_names as links

from netattach.plugins.vlan import VlanPlugin

pytestmark = pytest.mark.root


GO_VLAN = Path(h.GO_CNI_DIR) / "vlan"


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture
def lab(factory):
    node, pod, _, parent = h.make_lab(factory, peer_ip=None)
    return node, pod, parent


def vconf(master: str, vlan_id: int, *addrs: str, version: str = "1.0.0", **kw):
    kw.setdefault("ipam", h.static_ipam(*addrs))
    return h.netconf("vlan", version=version, master=master, vlanId=vlan_id, **kw)


def test_add_check_del_static_in_process(lab):
    node, pod, parent = lab
    cfg = vconf(parent, 100, "192.0.2.11/24", mtu=1400, dns={"nameservers": ["192.0.2.53"]})
    add = h.call_inproc(VlanPlugin(), "ADD", cfg, netns=pod.path, ifname="net1",
                        host_netns=node.path)
    res = add.ok()
    assert res["interfaces"][0]["sandbox"] == pod.path
    assert res["ips"] == [{"interface": 0, "address": "192.0.2.11/24"}]
    assert res["dns"] == {"nameservers": ["192.0.2.53"]}
    facts = h.link_facts(pod.name, "net1")
    assert (facts["kind"], facts["id"], facts["mtu"], facts["up"]) == ("vlan", 100, 1400, True)
    assert facts["addrs"] == ["192.0.2.11/24"]
    chk = {**cfg, "prevResult": res}
    assert h.call_inproc(VlanPlugin(), "CHECK", chk, netns=pod.path, ifname="net1",
                         host_netns=node.path).rc == 0
    wrong = h.call_inproc(VlanPlugin(), "CHECK", {**chk, "vlanId": 101}, netns=pod.path,
                          ifname="net1", host_netns=node.path)
    assert wrong.rc == 1 and "VLAN id 100" in wrong.msg and "101" in wrong.msg
    for _ in range(2):
        assert h.call_inproc(VlanPlugin(), "DEL", cfg, netns=pod.path, ifname="net1",
                             host_netns=node.path).rc == 0
    assert links(pod) == ["lo"]


def test_host_local_and_exec(lab, bindir, tmp_path):
    node, pod, parent = lab
    cfg = vconf(parent, 300, ipam={"type": "host-local", "subnet": "198.51.100.0/24",
                                   "dataDir": str(tmp_path)})
    add = h.call_exec(bindir / "vlan", "ADD", cfg, netns=pod.path, ifname="net1",
                      host_netns_name=node.name)
    res = add.ok()
    assert res["ips"][0]["address"] == "198.51.100.2/24"
    assert res["ips"][0]["gateway"] == "198.51.100.1"
    assert (tmp_path / "testnet" / "198.51.100.2").exists()
    chk = h.call_exec(bindir / "vlan", "CHECK", {**cfg, "prevResult": res}, netns=pod.path,
                      ifname="net1", host_netns_name=node.name)
    assert (chk.rc, chk.out) == (0, None)
    dele = h.call_exec(bindir / "vlan", "DEL", cfg, netns=pod.path, ifname="net1",
                       host_netns_name=node.name)
    assert (dele.rc, dele.out) == (0, None)
    assert not (tmp_path / "testnet" / "198.51.100.2").exists()
    assert links(pod) == ["lo"]


def test_bad_config_and_del_with_master_gone(lab, bindir):
    node, pod, parent = lab
    for bad, msg in (
        (h.netconf("vlan", vlanId=5, ipam=h.static_ipam("192.0.2.9/24")),
         '"master" field is required. It specifies the host interface name to create the '
         "VLAN for"),
        (vconf(parent, 4095, "192.0.2.9/24"),
         "invalid VLAN ID 4095 (must be between 0 and 4095 inclusive)"),
        (vconf(parent, 10, "192.0.2.9/24", mtu=9000),
         "invalid MTU 9000, must be [0, master MTU(1500)]"),
    ):
        out = h.call_exec(bindir / "vlan", "ADD", bad, netns=pod.path, ifname="net1",
                          host_netns_name=node.name)
        assert out.rc == 1 and out.code == 999 and out.msg == msg, out.out
    assert links(pod) == ["lo"]
    cfg = vconf(parent, 10, "192.0.2.9/24")
    h.call_exec(bindir / "vlan", "ADD", cfg, netns=pod.path, ifname="net1",
                host_netns_name=node.name).ok()
    sh("ip", "-n", node.name, "link", "del", parent)  # the VLAN goes with its master
    dele = h.call_exec(bindir / "vlan", "DEL", cfg, netns=pod.path, ifname="net1",
                       host_netns_name=node.name)
    assert (dele.rc, dele.out) == (0, None)
    if GO_VLAN.exists():  # the reference fails here: it looks up the master's MTU on DEL
        go = h.call_exec(GO_VLAN, "DEL", cfg, netns=pod.path, ifname="net1",
                         host_netns_name=node.name)
        assert go.rc == 1


@pytest.mark.skipif(not GO_VLAN.exists(), reason="reference plugins not installed")
@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_as_reference(factory, bindir, version):
    results, facts = {}, {}
    for impl, binary in (("go", GO_VLAN), ("py", bindir / "vlan")):
        node = factory.make_netns("node")
        pod = factory.make_netns("pod")
        peer = factory.make_netns("peer")
        parent, _ = factory.make_veth(node, peer)
        h.rename_link(node.name, parent, "eth1")
        cfg = vconf("eth1", 42, "192.0.2.42/24", "2001:db8::42/64", version=version, mtu=1300,
                    dns={"nameservers": ["192.0.2.53"]})
        cfg["ipam"]["routes"] = [{"dst": "198.51.100.0/24", "gw": "192.0.2.1"}]
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
        assert links(pod) == ["lo"]
    assert results["py"] == results["go"]
    assert facts["py"] == facts["go"]


# -- the field report ------------------------------------------------------------------------
@pytest.fixture
def trunk(factory):
    """A switch ns trunked to a node ns by two veth pairs (enp16s0f0/enp16s0f1 in the node);
    the switch carries VLAN 100 (peer 192.0.2.200) and VLAN 200 (peer 198.51.100.200)."""
    node = factory.make_netns("node")
    switch = factory.make_netns("sw")
    for i, (vid, peer_ip) in enumerate(((100, "192.0.2.200/24"), (200, "198.51.100.200/24"))):
        nic, port = factory.make_veth(node, switch)
        h.rename_link(node.name, nic, f"enp16s0f{i}")
        sh("ip", "-n", switch.name, "link", "add", "link", port, "name", f"port{i}.{vid}",
           "type", "vlan", "id", str(vid))
        sh("ip", "-n", switch.name, "addr", "add", peer_ip, "dev", f"port{i}.{vid}")
        sh("ip", "-n", switch.name, "link", "set", f"port{i}.{vid}", "up")
    return node, switch


NET1 = ("enp16s0f0", 100, "192.0.2.211/24")
NET2 = ("enp16s0f1", 200, "198.51.100.211/24")


def attach(binary, node, pod, ifname, spec, command="ADD"):
    master, vid, addr = spec
    return h.call_exec(binary, command, vconf(master, vid, addr), netns=pod.path,
                       ifname=ifname, host_netns_name=node.name)


def test_field_report_story(trunk, factory, bindir):
    node, _switch = trunk
    vlan = bindir / "vlan"
    pod1 = factory.make_netns("pod")
    attach(vlan, node, pod1, "net1", NET1).ok()
    attach(vlan, node, pod1, "net2", NET2).ok()
    assert h.ping(pod1.name, "192.0.2.200")
    assert h.ping(pod1.name, "198.51.100.200")
    for ifname, spec in (("net1", NET1), ("net2", NET2)):
        assert attach(vlan, node, pod1, ifname, spec, "DEL").rc == 0

    # the netplan config of the report: a host VLAN 100 on the first NIC
    sh("ip", "-n", node.name, "link", "add", "link", "enp16s0f0", "name", "vlan.100", "type",
       "vlan", "id", "100")
    pod2 = factory.make_netns("pod")
    fail = attach(vlan, node, pod2, "net1", NET1)
    assert fail.rc == 1 and fail.code == 999
    assert fail.msg == ("failed to create vlan: file exists: VLAN 100 on enp16s0f0 is already "
                        f"used by vlan.100 in the host namespace ({node.path})")
    assert "ip link del vlan.100" in fail.details
    assert "macvlan on vlan.100" in fail.details
    assert links(pod2) == ["lo"]

    # the fix, without a reboot
    sh("ip", "-n", node.name, "link", "del", "vlan.100")
    attach(vlan, node, pod2, "net1", NET1).ok()
    attach(vlan, node, pod2, "net2", NET2).ok()
    assert h.ping(pod2.name, "192.0.2.200")
    assert h.ping(pod2.name, "198.51.100.200")

    # a second pod asking for the same VLAN on the same parent
    pod3 = factory.make_netns("pod")
    again = attach(vlan, node, pod3, "net1", NET1)
    assert again.rc == 1 and again.code == 999
    assert again.msg == ("failed to create vlan: file exists: VLAN 100 on enp16s0f0 is already "
                         f"used by net1 in namespace {pod2.path}")
    assert "one VLAN device per (parent, VLAN id) across all namespaces" in again.details
    assert f"ip -n {pod2.name} link del net1" in again.details
    assert links(pod3) == ["lo"]


def test_reference_says_only_file_exists(trunk, factory):
    """What the field report saw (our contrast): the Go plugin names nobody."""
    if not GO_VLAN.exists():
        pytest.skip("reference plugins not installed")
    node, _ = trunk
    sh("ip", "-n", node.name, "link", "add", "link", "enp16s0f0", "name", "vlan.100", "type",
       "vlan", "id", "100")
    pod = factory.make_netns("pod")
    go = attach(GO_VLAN, node, pod, "net1", NET1)
    assert go.rc == 1 and go.msg == "failed to create vlan: file exists"
