"""Who holds an address, across namespaces: the stdlib address dump (linux.addrscan) and the
links it leads to (inventory.address_holders / list_links), with parents resolved."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from netattach.linux import list_namespaces, netlink_session, netns_id
from netattach.linux.addrscan import find_address_holders
from netattach.linux.inventory import address_holders, list_links

pytestmark = pytest.mark.root


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def holders(node_and_pod):
    """node (its `parent` has 192.0.2.1/24), pod (net1: macvlan of parent, 192.0.2.60/24 and
    2001:db8::60/64)."""
    node, pod, parent = node_and_pod
    ip("-n", node.name, "addr", "add", "192.0.2.1/24", "dev", parent)
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        host.create_macvlan("mvtmp1", parent, netns=ctr.handle)
        ctr.rename("mvtmp1", "net1")
        ctr.add_address("net1", "192.0.2.60/24")
        ctr.add_address("net1", "2001:db8::60/64", nodad=True)
    return node, pod, parent


def test_address_dump_finds_the_holders_and_skips(holders) -> None:
    node, pod, parent = holders
    want = {ipaddress.ip_address(a) for a in ("192.0.2.1", "192.0.2.60", "2001:db8::60",
                                              "192.0.2.99")}
    hits = find_address_holders(want, [node.path, pod.path, "/run/netns/natst-gone"])
    assert sorted((h.path, str(h.interface)) for h in hits) == sorted([
        (node.path, "192.0.2.1/24"), (pod.path, "192.0.2.60/24"),
        (pod.path, "2001:db8::60/64")])
    assert {h.netns_id for h in hits} == {netns_id(node.path), netns_id(pod.path)}
    only_pod = find_address_holders(want, [node.path, pod.path], skip={netns_id(node.path)})
    assert {h.path for h in only_pod} == {pod.path}
    assert find_address_holders(set(), [node.path]) == []


@pytest.mark.parametrize("wanted", [("192.0.2.60",), ("2001:db8::60",),
                                    ("192.0.2.60", "2001:db8::60")])
def test_address_dump_of_one_family_finds_it_beside_the_other(holders, wanted) -> None:
    """Addresses of one family are looked up with a dump of that family only: a link holding
    both is found by either, and never reports the family that was not asked for."""
    node, pod, _ = holders
    hits = find_address_holders({ipaddress.ip_address(a) for a in wanted},
                                [node.path, pod.path])
    assert sorted(str(h.interface.ip) for h in hits) == sorted(wanted)
    assert {h.path for h in hits} == {pod.path}


def test_holders_are_described_with_their_parent(holders) -> None:
    node, pod, parent = holders
    ours = {netns_id(node.path), netns_id(pod.path)}  # other namespaces may hold these too
    spaces = [ns for ns in list_namespaces() if ns.id in ours]
    found = address_holders({ipaddress.ip_address("192.0.2.60")}, spaces)
    [h] = found
    assert (h.name, h.kind, h.netns, h.addresses) == ("net1", "macvlan", pod.path,
                                                      ("192.0.2.60/24",))
    assert (h.parent_name, h.parent_netns, h.parent_netns_id) == (
        parent, node.path, netns_id(node.path))
    [n] = address_holders({ipaddress.ip_address("192.0.2.1")}, spaces)
    assert (n.name, n.netns, n.parent_name) == (parent, node.path, None)  # a veth: no parent


def test_list_links_has_every_link_and_address(holders) -> None:
    node, pod, parent = holders
    spaces = [ns for ns in list_namespaces() if ns.path in (node.path, pod.path)]
    links = {(lk.netns, lk.name): lk for lk in list_links(spaces, skip={netns_id(node.path)})}
    assert set(links) == {(pod.path, "lo"), (pod.path, "net1")}
    net1 = links[(pod.path, "net1")]
    assert net1.addresses[:2] == ("192.0.2.60/24", "2001:db8::60/64")
    assert (net1.parent_name, net1.parent_netns) == (parent, node.path)
    assert "127.0.0.1/8" in links[(pod.path, "lo")].addresses
