"""NetlinkSession against the real kernel, checked with iproute2's JSON output."""

from __future__ import annotations

import errno
import ipaddress
import subprocess

import pytest

from netattach.linux import (
    AddressExists,
    LinkExists,
    LinkKindMismatch,
    LinkNotFound,
    enable_announcements,
    netlink_session,
    prepare_ipv6,
    temp_link_name,
    wait_for_dad,
)

pytestmark = pytest.mark.root


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_macvlan_into_pod_under_temp_name(node_and_pod, ip_json):
    node, pod, parent = node_and_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        tmp = temp_link_name()
        host.create_macvlan(tmp, parent, mode="bridge", mtu=1400, bcqueuelen=1234,
                            mac="02:00:00:00:00:42", netns=ctr.handle)
        assert host.find_link(tmp) is None  # never existed in the node namespace
        link = ctr.rename(tmp, "net1")
        assert (link.kind, link.macvlan_mode, link.mtu) == ("macvlan", "bridge", 1400)
        assert link.mac == "02:00:00:00:00:42"
        assert link.link_netnsid is not None
        assert link.parent_index == host.link(parent).index
        enable_announcements(ctr, "net1")
        ctr.add_address("net1", "192.0.2.10/24")
        ctr.set_up("net1")
        ctr.add_route("0.0.0.0/0", gateway="192.0.2.1", dev="net1")
        ctr.add_route("198.51.100.0/24", gateway="192.0.2.1", priority=50, mtu=1300)
        assert ctr.sysctl_get("net/ipv4/conf/net1/arp_notify") == "1"
        assert ctr.default_route_link().name == "net1"
        [default] = ctr.routes(default_only=True)  # the subnet and 198.51.100.0/24 skipped
        assert (str(default.dst), str(default.gateway)) == ("0.0.0.0/0", "192.0.2.1")
        assert len(ctr.routes()) >= 3

    [dev] = ip_json("-d", "addr", "show", "dev", "net1", netns=pod.name)
    assert dev["linkinfo"]["info_kind"] == "macvlan"
    assert dev["linkinfo"]["info_data"]["mode"] == "bridge"
    assert dev["linkinfo"]["info_data"].get("bcqueuelen", 1234) == 1234
    assert "UP" in dev["flags"]
    assert [(a["local"], a["prefixlen"]) for a in dev["addr_info"] if a["family"] == "inet"] \
        == [("192.0.2.10", 24)]
    routes = {r["dst"]: r for r in ip_json("route", "show", netns=pod.name)}
    assert routes["default"]["gateway"] == "192.0.2.1"
    assert routes["default"]["dev"] == "net1"
    assert routes["192.0.2.0/24"]["protocol"] == "kernel"  # subnet route from the kernel
    assert routes["198.51.100.0/24"]["metric"] == 50
    assert routes["198.51.100.0/24"]["metrics"][0]["mtu"] == 1300


def test_ipv6_address_dad_and_sysctls_do_not_leak(node_and_pod, ip_json):
    node, pod, parent = node_and_pod
    root_value = _read("/proc/sys/net/ipv4/conf/all/arp_notify")
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        host.create_macvlan("m6tmp", parent, netns=ctr.handle)
        ctr.rename("m6tmp", "net6")
        prepare_ipv6(ctr, "net6")
        ctr.sysctl_set("net/ipv4/conf/all/arp_notify", 1 if root_value == "0" else 0)
        ctr.add_address("net6", "2001:db8::5/64")
        ctr.set_up("net6")
        wait_for_dad(ctr, "net6", timeout=5)
        assert not any(a.tentative for a in ctr.addresses("net6", family=6))
        assert ctr.sysctl_get("net/ipv6/conf/net6/keep_addr_on_down") == "1"
    assert _read("/proc/sys/net/ipv4/conf/all/arp_notify") == root_value
    addrs = ip_json("-6", "addr", "show", "dev", "net6", netns=pod.name)[0]["addr_info"]
    assert any(a["local"] == "2001:db8::5" and not a.get("tentative") for a in addrs)


def test_veth_pair_across_namespaces_and_bridge_port(netns_factory, ip_json):
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        pair = ctr.create_veth("eth0", peer_netns=host.handle, mtu=1450)
        assert pair.peer_name.startswith("veth") and len(pair.peer_name) == 12
        br = host.ensure_bridge("br-natst", mtu=1450, promisc=False)
        assert br.kind == "bridge"
        again = host.ensure_bridge("br-natst")
        assert again.index == br.index
        with pytest.raises(LinkKindMismatch):
            host.ensure_bridge(pair.peer_name)
        port = host.set_link(pair.peer_name, master="br-natst", up=True)
        assert port.master == br.index
        host.set_bridge_port(pair.peer_name, hairpin=True, isolated=True)
        assert ctr.link("eth0").link_netnsid is not None
    [info] = ip_json("-d", "link", "show", pair.peer_name, netns=node.name)
    assert info["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert info["linkinfo"]["info_slave_data"]["isolated"] is True
    assert info["master"] == "br-natst"
    [eth0] = ip_json("link", "show", "eth0", netns=pod.name)
    assert eth0["mtu"] == 1450


def test_link_setters_and_errors(node_and_pod):
    node, pod, parent = node_and_pod
    with netlink_session(node.path) as host:
        host.create_macvlan("mvx", parent, mode="private")
        link = host.set_link("mvx", mtu=1300, mac="02:00:00:00:00:43", promisc=True,
                             allmulti=True, txqlen=77, alias="orig-name")
        assert (link.mtu, link.mac, link.promisc, link.allmulti, link.txqlen, link.alias) == (
            1300, "02:00:00:00:00:43", True, True, 77, "orig-name")
        assert host.set_link("mvx", alias="", promisc=False).alias is None
        with pytest.raises(LinkExists) as err:
            host.create_macvlan("mvx", parent)
        assert err.value.errno == errno.EEXIST and "mvx" in str(err.value)
        with pytest.raises(LinkNotFound):
            host.create_macvlan("mvy", "natst-nope")
        with pytest.raises(LinkNotFound):
            host.link("natst-nope")
        host.add_address("mvx", "203.0.113.1/24")
        with pytest.raises(AddressExists):
            host.add_address("mvx", "203.0.113.1/24")
        assert host.del_address("mvx", "203.0.113.1/24") is True
        assert host.del_address("mvx", "203.0.113.1/24") is False
        assert host.del_route("198.51.100.0/24") is False
        assert host.delete_link("mvx") is True
        assert host.delete_link("mvx") is False  # missing: a value, not a crash
        assert host.delete_link(99999) is False


def test_move_link_between_namespaces(netns_factory):
    a = netns_factory.make_netns("a")
    b = netns_factory.make_netns("b")
    x, _ = netns_factory.make_veth(a, b)
    with netlink_session(a.path) as sa, netlink_session(b.path) as sb:
        sa.move_link(x, sb.handle, new_name="moved0")
        assert sa.find_link(x) is None
        assert sb.link("moved0").kind == "veth"


def test_route_replace_list_delete(node_and_pod):
    node, pod, parent = node_and_pod
    with netlink_session(node.path) as host:
        host.add_address(parent, "192.0.2.1/24")
        host.set_up(parent)
        host.add_route("203.0.113.0/24", gateway="192.0.2.254", table=100, priority=5)
        host.replace_route("203.0.113.0/24", gateway="192.0.2.253", table=100, priority=5)
        [rt] = host.routes(table=100)
        assert str(rt.gateway) == "192.0.2.253" and rt.priority == 5
        assert host.del_route("203.0.113.0/24", table=100) is True
        assert host.routes(table=100) == []


def test_a_name_no_link_can_have_is_not_found(netns_factory) -> None:
    """Looking up a name the kernel would refuse finds nothing (it was a ValueError that
    host-device and bridge turned into "this is a bug")."""
    ns = netns_factory.make_netns("nm")
    with netlink_session(ns.path) as nl:
        for name in ("a\0b", "a/b", "x" * 16, ""):
            assert nl.find_link(name) is None, name


def test_default_routes_are_replaced_in_the_main_table_only(netns_factory, ip_json) -> None:
    """A policy-routing table's default route via the same link is not ours to remove."""
    from netattach.linux.default_routes import set_default_routes

    ns = netns_factory.make_netns("dr")
    subprocess.run(["ip", "-n", ns.name, "link", "add", "v0", "type", "veth", "peer", "name",
                    "v1"], check=True)
    for cmd in (["link", "set", "v0", "up"], ["addr", "add", "192.0.2.5/24", "dev", "v0"],
                ["route", "add", "default", "via", "192.0.2.1", "dev", "v0"],
                ["route", "add", "default", "via", "192.0.2.1", "dev", "v0", "table", "100"]):
        subprocess.run(["ip", "-n", ns.name, *cmd], check=True)
    set_default_routes(ns.path, "v0", [ipaddress.ip_address("192.0.2.254")])
    main = ip_json("route", "show", "default", netns=ns.name)
    policy = ip_json("route", "show", "default", "table", "100", netns=ns.name)
    assert [r["gateway"] for r in main] == ["192.0.2.254"]
    assert [r["gateway"] for r in policy] == ["192.0.2.1"]
