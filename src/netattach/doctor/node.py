"""A read-only snapshot of the node's links, as plain frozen data the checks can reason on.

The node's own namespace is the one doctor runs in (the host, or a netns standing in for
it in tests); pod namespaces are every other namespace reachable on the node. Checks are
unit-tested with synthetic snapshots: build NodeSnapshot(...) by hand.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netattach.linux import NetnsId
    from netattach.linux.inventory import NsLink

HOST = "host"
STACKED_KINDS = ("vlan", "macvlan", "ipvlan")


@dataclass(frozen=True)
class NodeLink:
    """One link. `netns` is a label ("host", "/run/netns/x", "pid 42"); `in_node` is True for
    the node's own namespace. `parent` is the lower device, in `parent_netns`."""

    name: str
    kind: str = ""
    netns: str = HOST
    in_node: bool = True
    mtu: int = 1500
    admin_up: bool = True
    oper_state: str = "UP"
    parent: str | None = None
    parent_netns: str | None = None
    parent_in_node: bool = False
    vlan_id: int | None = None
    mode: str | None = None
    addresses: tuple[str, ...] = ()  # "192.0.2.1/24"
    netns_id: str = ""  # the namespace's "st_dev:st_ino" (delegates.netns_key), "" unknown

    def describe(self) -> str:
        """As the vlan plugin says it: 'vlan.100 in the host namespace' / 'net1 in namespace X'."""
        if self.in_node:
            return f"{self.name} in the host namespace" + (
                "" if self.netns == HOST else f" ({self.netns})")
        return f"{self.name} in namespace {self.netns}"

    def ip_command(self, args: str) -> str:
        """`ip ARGS` run where this link lives ("link del net1" -> "ip -n x link del net1")."""
        label = self.netns
        if self.in_node or label == HOST:
            return f"ip {args}"
        if label.startswith("pid "):
            return f"nsenter -t {label[4:]} -n ip {args}"
        if os.path.dirname(label) in ("/run/netns", "/var/run/netns"):
            return f"ip -n {os.path.basename(label)} {args}"
        return f"nsenter --net={label} ip {args}"

    def delete_command(self) -> str:
        """The command that deletes this link where it lives."""
        return self.ip_command(f"link del {self.name}")


@dataclass(frozen=True)
class NodeSnapshot:
    """Links of the node namespace (all of them) and of every other namespace (doctor: all
    links with their addresses; before an ADD: only stacked links and address holders)."""

    links: tuple[NodeLink, ...] = ()
    default_route_links: tuple[str, ...] = ()  # node-namespace names
    namespaces: tuple[str, ...] = (HOST,)
    complete: bool = True  # False: only the node namespace was scanned (pre-ADD fast path)

    def node_link(self, name: str) -> NodeLink | None:
        return next((lk for lk in self.links if lk.in_node and lk.name == name), None)

    def node_links(self) -> list[NodeLink]:
        return [lk for lk in self.links if lk.in_node]

    def vlan_users(self, parent: str, vlan_id: int) -> list[NodeLink]:
        """VLAN devices (any namespace) on node-namespace `parent` with `vlan_id`."""
        return [lk for lk in self.links
                if lk.kind == "vlan" and lk.vlan_id == vlan_id and lk.parent == parent
                and lk.parent_in_node]

    def address_holders(self) -> list[NodeLink]:
        """Every link (any namespace) with at least one address."""
        return [lk for lk in self.links if lk.addresses]

    def children(self, parent: str) -> list[NodeLink]:
        """Stacked links (any namespace) whose lower device is node-namespace `parent`."""
        return [lk for lk in self.links
                if lk.kind in STACKED_KINDS and lk.parent == parent and lk.parent_in_node]


def take_snapshot(*, all_namespaces: bool = True, only: Collection[str] | None = None
                  ) -> NodeSnapshot:
    """Read the node: every link and address of this namespace, its default route, and
    (with `all_namespaces`) every link and address of every other namespace.

    With `only`, just those links of this namespace (without addresses): the pre-ADD fast
    path, whose cost must not grow with the pods on the node. If one of them is missing,
    every link is read, so a finding can list the interfaces the node does have.
    """
    from netattach.linux import current_netns_id, list_namespaces
    from netattach.linux.inventory import list_links
    from netattach.linux.netlink import NetlinkSession

    me = current_netns_id()
    label = node_label()
    me_key = f"{me.dev}:{me.ino}"
    links: list[NodeLink] = []
    with NetlinkSession(None) as nl:
        raw = None
        if only is not None:
            raw = [lk for lk in (nl.find_link(n) for n in sorted(only) if n) if lk is not None]
            raw = raw if len(raw) == len({n for n in only if n}) else None
        addrs: dict[int, list[str]] = {}
        if raw is None:
            raw = nl.links()
            for a in nl.addresses():
                addrs.setdefault(a.index, []).append(str(a.interface))
        by_index = {lk.index: lk.name for lk in raw}
        default_oifs = [r.oif for r in nl.routes(default_only=True) if r.oif is not None]
        for oif in default_oifs:
            if oif not in by_index:
                found = nl.find_link(oif)
                if found is not None:
                    by_index[oif] = found.name
        defaults = tuple(dict.fromkeys(by_index[o] for o in default_oifs if o in by_index))
        for lk in raw:
            local_parent = lk.link_netnsid is None and lk.parent_index is not None
            links.append(NodeLink(
                name=lk.name, kind=lk.kind, netns=label, in_node=True, mtu=lk.mtu,
                admin_up=lk.admin_up, oper_state=lk.oper_state,
                parent=by_index.get(lk.parent_index) if local_parent and lk.parent_index
                else None,
                parent_netns=label if local_parent else None, parent_in_node=local_parent,
                vlan_id=lk.vlan_id, mode=lk.macvlan_mode or lk.ipvlan_mode,
                addresses=tuple(addrs.get(lk.index, ())), netns_id=me_key))
    labels = [label]
    if all_namespaces:
        spaces = list_namespaces()
        labels += [ns.label for ns in spaces if ns.id != me]
        # the node namespace was read in full above
        links += [_other(s, me) for s in list_links(spaces, skip={me})]
    return NodeSnapshot(tuple(links), defaults, tuple(labels), complete=all_namespaces)


def _other(s: NsLink, me: NetnsId) -> NodeLink:
    """A link of another namespace (a pod's), as the checks see it."""
    return NodeLink(
        name=s.name, kind=s.kind, netns=s.netns, in_node=False, mtu=s.mtu,
        admin_up=s.admin_up, oper_state=s.oper_state, parent=s.parent_name,
        parent_netns=s.parent_netns, parent_in_node=s.parent_netns_id == me,
        vlan_id=s.vlan_id, mode=s.mode, addresses=s.addresses,
        netns_id=f"{s.netns_id.dev}:{s.netns_id.ino}")


def with_address_holders(base: NodeSnapshot, ips: Collection[Any]) -> NodeSnapshot:
    """`base` plus every link, in any namespace, that holds one of `ips` (pre-ADD: one
    cheap address dump per namespace; netlink sessions only where an address is found).
    A holder in the node namespace gets its addresses merged into its `base` link."""
    from netattach.linux import current_netns_id, list_namespaces
    from netattach.linux.inventory import address_holders

    if not ips:
        return base
    me = current_netns_id()
    spaces = list_namespaces()
    holders = address_holders(ips, spaces)
    links = list(base.links)
    for h in holders:
        if h.netns_id != me:
            links.append(_other(h, me))
            continue
        at = next((i for i, lk in enumerate(links) if lk.in_node and lk.name == h.name), None)
        if at is None:
            links.append(replace(_other(h, me), netns=node_label(), in_node=True,
                                 parent_in_node=h.parent_name is not None
                                 and h.parent_netns_id == me))
        else:
            merged = tuple(dict.fromkeys((*links[at].addresses, *h.addresses)))
            links[at] = replace(links[at], addresses=merged)
    labels = tuple(dict.fromkeys((*base.namespaces, *(ns.label for ns in spaces
                                                     if ns.id != me))))
    return NodeSnapshot(tuple(links), base.default_route_links, labels, base.complete)


def node_label() -> str:
    """How the inventory labels the namespace doctor runs in: "host" for pid 1's (or when pid
    1's is not visible), else its /run/netns path (a test node), as the vlan plugin says it."""
    from netattach.linux import current_netns_id, netns_id
    from netattach.linux.inventory import NETNS_DIRS

    me = current_netns_id()
    try:
        if netns_id("/proc/1/ns/net") == me:
            return HOST
    except OSError:
        return HOST
    for d in NETNS_DIRS:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            try:
                if netns_id(os.path.join(d, name)) == me:
                    return os.path.join(d, name)
            except OSError:
                continue
    return f"pid {os.getpid()}"


def vlan_snapshot(parents: dict[str, set[int]], masters: Collection[str] | None = None
                  ) -> NodeSnapshot:
    """Pre-ADD fast path: the `masters` only when no VLAN is involved; else the node
    namespace in full plus the VLANs on `parents` (by VID) in every namespace."""
    if not parents:
        return take_snapshot(all_namespaces=False, only=masters)
    base = take_snapshot(all_namespaces=False)
    from netattach.linux import current_netns_id, list_vlans

    me = current_netns_id()
    extra = [NodeLink(name=v.name, kind="vlan", netns=v.netns, in_node=False,
                      parent=v.parent_name, parent_netns=v.parent_netns, parent_in_node=True,
                      vlan_id=v.vlan_id,
                      netns_id=f"{v.netns_id.dev}:{v.netns_id.ino}" if v.netns_id else "")
             for v in list_vlans()
             if v.netns_id != me and v.parent_netns_id == me
             and v.vlan_id in parents.get(v.parent_name or "", set())]
    return NodeSnapshot(base.links + tuple(extra), base.default_route_links,
                        base.namespaces, complete=True)
