"""Building the node, the switch and the peers of a sandbox out of namespaces and veths.

The switch is a VLAN-filtering bridge: a NIC's port carries its trunk VLANs tagged (or
its access VLAN untagged), and each peer sits on an access port of its VLAN.
"""

from __future__ import annotations

from dataclasses import dataclass

from netattach.linux import netlink_session

from . import netns
from .model import Topology

SWITCH_BRIDGE = "sw0"


@dataclass(frozen=True)
class Names:
    """Namespace names of one sandbox; everything it creates starts with `prefix`."""

    prefix: str

    @property
    def node(self) -> str:
        return f"{self.prefix}-node"

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def peer(self, name: str) -> str:
        return f"{self.prefix}-peer-{name}"

    def pod(self, namespace: str, name: str) -> str:
        return f"{self.prefix}-pod-{namespace}-{name}"


def _port(nl: object, port: str, *, tagged: tuple[int, ...] = (), access: int | None = None
          ) -> None:
    nl.set_link(port, master=SWITCH_BRIDGE, up=True)  # type: ignore[attr-defined]
    if not tagged and not access:
        return
    nl.bridge_vlan_del(port, 1)  # type: ignore[attr-defined]
    for vid in tagged:
        nl.bridge_vlan_add(port, vid)  # type: ignore[attr-defined]
    if access:
        nl.bridge_vlan_add(port, access, pvid=True, untagged=True)  # type: ignore[attr-defined]


def build(topo: Topology, names: Names, created: list[str]) -> None:
    """Create every namespace and link; append each namespace to `created` as it appears."""
    node = netns.add(names.node)
    created.append(names.node)
    switch = netns.add(names.switch)
    created.append(names.switch)
    with netlink_session(switch) as sw, netlink_session(node) as nd:
        sw.ensure_bridge(SWITCH_BRIDGE, vlan_filtering=True if topo.vlans else None)
        sw.set_up(SWITCH_BRIDGE)
        for nic in topo.nics:
            port = f"p-{nic.name}"[:15]
            sw.create_veth(port, peer_name=nic.name, peer_netns=nd.handle)
            _port(sw, port, tagged=nic.trunk, access=nic.access)
            nd.set_up(nic.name)
        for peer in topo.peers:
            path = netns.add(names.peer(peer.name))
            created.append(names.peer(peer.name))
            port = f"p-{peer.name}"[:15]
            with netlink_session(path) as pn:
                sw.create_veth(port, peer_name="eth0", peer_netns=pn.handle)
                _port(sw, port, access=peer.vlan)
                pn.add_address("eth0", peer.address)
                pn.set_up("eth0")
        for dev in topo.devices:
            nd.create_vlan(dev.name, dev.link, dev.vlan_id)
            for address in dev.addresses:
                nd.add_address(dev.name, address)
            nd.set_up(dev.name)
