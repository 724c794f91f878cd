"""VLAN, ipvlan and bridge vlan_filtering through netattach.linux, inside the KVM guest.

These must FAIL (not skip) when the kernel lacks 802.1Q, ipvlan or vlan filtering:
run with `python -m netattach.guest run -- .venv/bin/python -m pytest tests/vm`.
Reuses NetnsFactory from tests/netns/conftest.py (loaded by path).
"""

from __future__ import annotations

import errno
import json
import subprocess

import pytest
from tests.netns.conftest import ip_json

from netattach.linux import (
    LinkExists,
    find_vlan_users,
    list_vlans,
    netlink_session,
    temp_link_name,
)

pytestmark = pytest.mark.root


def bridge_json(*args: str, netns: str) -> list[dict]:
    out = subprocess.run(["bridge", "-n", netns, "-j", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


@pytest.fixture
def node_pod(factory):
    node = factory.make_netns("node")
    pod = factory.make_netns("pod")
    peer = factory.make_netns("peer")
    parent, _ = factory.make_veth(node, peer)
    return node, pod, parent


def test_vlan_created_in_pod_under_temp_name(node_pod):
    node, pod, parent = node_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        tmp = temp_link_name()
        host.create_vlan(tmp, parent, 100, mtu=1400, netns=ctr.handle)
        link = ctr.rename(tmp, "net1")
        assert (link.kind, link.vlan_id, link.mtu) == ("vlan", 100, 1400)
        assert link.link_netnsid is not None
    [dev] = ip_json("-d", "link", "show", "net1", netns=pod.name)
    assert dev["linkinfo"]["info_data"]["id"] == 100


def test_second_vlan_same_id_same_parent_is_eexist_and_culprit_is_named(node_pod):
    node, pod, parent = node_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        host.create_vlan("vlan.100", parent, 100)
        with pytest.raises(LinkExists) as err:
            host.create_vlan(temp_link_name(), parent, 100, netns=ctr.handle)
        assert err.value.errno == errno.EEXIST
        users = find_vlan_users(parent, 100, parent_netns=node.path)
        assert [u.name for u in users] == ["vlan.100"]
        assert users[0].netns == node.path and users[0].parent_name == parent


def test_vlan_moved_into_pod_still_blocks_and_is_found(node_pod):
    node, pod, parent = node_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        host.create_vlan("vtmp200", parent, 200, netns=ctr.handle)
        ctr.rename("vtmp200", "net2")
        with pytest.raises(LinkExists):
            host.create_vlan("vlan.200", parent, 200)
    [user] = find_vlan_users(parent, 200, parent_netns=node.path)
    assert (user.name, user.netns, user.vlan_id) == ("net2", pod.path, 200)
    assert user.parent_name == parent and user.parent_netns == node.path
    assert user.describe() == f"net2 in namespace {pod.path}"
    assert any(v.name == "net2" for v in list_vlans())


def test_ipvlan_modes(node_pod):
    node, pod, parent = node_pod
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        for i, mode in enumerate(("l2", "l3", "l3s")):
            host.create_ipvlan(f"ipv{i}", parent, mode=mode, netns=ctr.handle)
            assert ctr.link(f"ipv{i}").ipvlan_mode == mode
            ctr.delete_link(f"ipv{i}")


def test_bridge_vlan_filtering_and_port_vlans(factory):
    node = factory.make_netns("br")
    pod = factory.make_netns("brp")
    with netlink_session(node.path) as host, netlink_session(pod.path) as ctr:
        br = host.ensure_bridge("brv", vlan_filtering=True)
        pair = ctr.create_veth("eth0", peer_netns=host.handle)
        host.set_link(pair.peer_name, master=br.index, up=True)
        host.bridge_vlan_del(pair.peer_name, 1)  # the default PVID 1
        host.bridge_vlan_add(pair.peer_name, 100, pvid=True, untagged=True)
        host.bridge_vlan_add(pair.peer_name, 200)
        host.bridge_vlan_del(pair.peer_name, 300)  # absent: idempotent, no error
    [details] = ip_json("-d", "link", "show", "brv", netns=node.name)
    assert details["linkinfo"]["info_data"]["vlan_filtering"] == 1
    vlans = {v["ifname"]: v["vlans"] for v in bridge_json("vlan", "show", netns=node.name)}
    port = {v["vlan"]: v.get("flags", []) for v in vlans[pair.peer_name]}
    assert set(port) == {100, 200}
    assert "PVID" in port[100] and "Egress Untagged" in port[100]
