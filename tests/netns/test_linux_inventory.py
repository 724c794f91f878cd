"""Inventory across namespaces, exercised with macvlan (this kernel has no 802.1Q)."""

from __future__ import annotations

import time

import pytest

from netattach.linux import (
    find_stacked_users,
    list_namespaces,
    list_stacked_links,
    netlink_session,
    netns_id,
)

pytestmark = pytest.mark.root


def test_namespaces_are_enumerated_and_deduplicated(netns_factory):
    a = netns_factory.make_netns("inv")
    spaces = list_namespaces()
    ids = [ns.id for ns in spaces]
    assert len(ids) == len(set(ids))
    mine = [ns for ns in spaces if ns.id == netns_id(a.path)]
    assert [ns.label for ns in mine] == [a.path]
    assert spaces[0].label == "host"


def test_parent_resolved_across_namespaces(node_and_pod):
    node, pod, parent = node_and_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        host.create_macvlan("mvtmp1", parent, netns=ctr.handle)
        ctr.rename("mvtmp1", "net1")
        host.create_macvlan("mvlocal", parent, mode="vepa")
        parent_index = host.link(parent).index
    found = [s for s in list_stacked_links("macvlan")
             if s.parent_netns == node.path and s.parent_name == parent]
    by_name = {s.name: s for s in found}
    assert set(by_name) == {"net1", "mvlocal"}
    moved = by_name["net1"]
    assert moved.netns == pod.path and moved.netns_id == netns_id(pod.path)
    assert (moved.parent_ifindex, moved.parent_netns_id) == (parent_index, netns_id(node.path))
    assert by_name["mvlocal"].netns == node.path and by_name["mvlocal"].mode == "vepa"
    users = find_stacked_users("macvlan", parent, parent_netns=node.path)
    assert sorted(u.describe() for u in users) == sorted(
        [f"net1 in namespace {pod.path}", f"mvlocal in namespace {node.path}"])


def test_inventory_is_fast_with_50_namespaces(netns_factory, record_property):
    node = netns_factory.make_netns("big")
    peer = netns_factory.make_netns("bigp")
    parent, _ = netns_factory.make_veth(node, peer)
    pods = [netns_factory.make_netns("p") for _ in range(50)]
    with netlink_session(node.path) as host:
        for i, pod in enumerate(pods):
            host.create_macvlan(f"mvt{i}", parent, netns=pod.path)
    t0 = time.perf_counter()
    users = find_stacked_users("macvlan", parent, parent_netns=node.path)
    elapsed = time.perf_counter() - t0
    record_property("inventory_seconds", elapsed)
    print(f"\ninventory over {len(list_namespaces())} namespaces: {elapsed * 1000:.1f} ms")
    assert len(users) == 50
    assert elapsed < 5.0
