"""Shared VLANs (guest, 802.1Q): many pods on one VLAN of one parent.

Three pods on VLAN 100 of one NIC ping each other and a peer; the host device appears
once and goes only with its last pod, whatever the order of DELs; a host VLAN someone
else created is reused and never deleted. The plugin runs in process with a node netns
playing the host.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.netns import plugin_helpers as h
from tests.netns.conftest import NetnsFactory

from netattach.plugins.shared_vlan import device_name
from netattach.plugins.vlan import VlanPlugin


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture
def lab(tmp_path):
    f = NetnsFactory(f"natst-{os.urandom(2).hex()}-")
    try:
        node, peer = f.make_netns("node"), f.make_netns("peer")
        pods = [f.make_netns(f"pod{i}") for i in range(3)]
        parent, peer_end = f.make_veth(node, peer)
        sh("ip", "-n", peer.name, "link", "add", "link", peer_end, "name", "p.100", "type",
           "vlan", "id", "100")
        sh("ip", "-n", peer.name, "addr", "add", "192.0.2.200/24", "dev", "p.100")
        sh("ip", "-n", peer.name, "link", "set", "p.100", "up")
        yield node, peer, pods, parent, str(tmp_path / "shared")
    finally:
        f.cleanup()


def conf(parent: str, state: str, address: str) -> dict:
    return h.netconf("vlan", master=parent, vlanId=100, shared=True, sharedStateDir=state,
                     ipam=h.static_ipam(address))


def vlan_devices(node) -> list[str]:
    return [lk["ifname"] for lk in h.ip_json("-d", "link", "show", netns=node.name)
            if lk.get("linkinfo", {}).get("info_kind") == "vlan"]


def add(node, pod, parent, state, address, cid):
    out = h.call_inproc(VlanPlugin(), "ADD", conf(parent, state, address), netns=pod.path,
                        ifname="net1", container_id=cid, host_netns=node.path)
    return out.ok()


def delete(node, pod, parent, state, address, cid):
    out = h.call_inproc(VlanPlugin(), "DEL", conf(parent, state, address), netns=pod.path,
                        ifname="net1", container_id=cid, host_netns=node.path)
    assert out.rc == 0, out


def test_three_pods_share_one_vlan_and_the_last_one_removes_it(lab):
    node, peer, pods, parent, state = lab
    addresses = [f"192.0.2.1{i}/24" for i in range(3)]
    for i, pod in enumerate(pods):
        add(node, pod, parent, state, addresses[i], f"c{i}")
    device = device_name(parent, 100)
    assert vlan_devices(node) == [device]  # one host device for all three pods
    for pod in pods:
        facts = h.link_facts(pod.name, "net1")
        assert facts["kind"] == "macvlan"
    for pod in pods:  # each pod reaches the peer and the other pods
        assert h.ping(pod.name, "192.0.2.200")
        for other in addresses:
            assert h.ping(pod.name, other.split("/")[0])
    delete(node, pods[1], parent, state, addresses[1], "c1")
    delete(node, pods[0], parent, state, addresses[0], "c0")
    assert vlan_devices(node) == [device]  # still used by pod2
    assert h.ping(pods[2].name, "192.0.2.200")
    delete(node, pods[2], parent, state, addresses[2], "c2")
    assert vlan_devices(node) == []  # gone with its last pod
    delete(node, pods[2], parent, state, addresses[2], "c2")  # DEL again: still fine
    assert not [p for p in Path(state).iterdir() if p.suffix == ".json"]


def test_someone_elses_host_vlan_is_reused_and_never_deleted(lab):
    node, peer, pods, parent, state = lab
    sh("ip", "-n", node.name, "link", "add", "link", parent, "name", "vlan.100", "type", "vlan",
       "id", "100")  # as netplan would have made it
    for i, pod in enumerate(pods[:2]):
        add(node, pod, parent, state, f"192.0.2.2{i}/24", f"o{i}")
    assert vlan_devices(node) == ["vlan.100"]
    assert h.ping(pods[0].name, "192.0.2.200") and h.ping(pods[0].name, "192.0.2.21")
    for i, pod in enumerate(pods[:2]):
        delete(node, pod, parent, state, f"192.0.2.2{i}/24", f"o{i}")
    assert vlan_devices(node) == ["vlan.100"]  # not ours: kept
