"""Inventory of stacked links (vlan, macvlan, ipvlan) across every namespace of the node.

A VLAN moved into a pod keeps IFLA_LINK = its parent's ifindex in the parent's namespace
plus IFLA_LINK_NETNSID; we resolve that nsid by asking the VLAN's namespace for the nsid
of each known namespace (RTM_GETNSID with NETNSA_FD).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from netattach.linux.errors import LinuxNetError
from netattach.linux.netns import HOST_NETNS_PATH, NetnsId, current_netns_id, netns_id
from netattach.linux.records import Link

NETNS_DIRS = ("/run/netns", "/var/run/netns")


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace found on the node: a path to open it and a human label."""

    id: NetnsId
    path: str
    label: str  # "host", "/run/netns/foo" or "pid 1234"


@dataclass(frozen=True)
class StackedLink:
    """A link with a lower device (vlan/macvlan/ipvlan...), its parent resolved."""

    kind: str
    name: str
    ifindex: int
    netns: str
    netns_id: NetnsId
    parent_name: str | None
    parent_ifindex: int | None
    parent_netns: str | None
    parent_netns_id: NetnsId | None
    vlan_id: int | None = None
    mode: str | None = None

    def describe(self) -> str:
        """'vlan.100 in the host namespace' / 'net1 in /run/netns/pod1'."""
        where = "the host namespace" if self.netns == "host" else f"namespace {self.netns}"
        return f"{self.name} in {where}"


@dataclass(frozen=True)
class VlanDevice:
    """A VLAN link somewhere on the node, with its parent's name and namespace."""

    vlan_id: int
    name: str
    ifindex: int
    netns: str
    parent_name: str | None
    parent_ifindex: int | None
    parent_netns: str | None
    netns_id: NetnsId | None = None
    parent_netns_id: NetnsId | None = None

    def describe(self) -> str:
        """'vlan.100 in the host namespace' / 'net1 in namespace /run/netns/pod1'."""
        where = "the host namespace" if self.netns == "host" else f"namespace {self.netns}"
        return f"{self.name} in {where}"


def list_namespaces(*, include_processes: bool = True) -> list[NamespaceInfo]:
    """All network namespaces reachable by path, de-duplicated by (st_dev, st_ino).

    Order of preference for the label: host (/proc/1/ns/net, or this process's namespace
    when pid 1's is not accessible), /run/netns bind mounts, then the first process in it.
    """
    found: dict[NetnsId, NamespaceInfo] = {}

    def add(path: str, label: str) -> None:
        try:
            ident = netns_id(path)
        except OSError:
            return  # gone, or not accessible
        if ident not in found:
            found[ident] = NamespaceInfo(ident, path, label)

    add(HOST_NETNS_PATH, "host")
    if not found:  # pid 1 not inspectable (sandbox, hidepid): our process's ns is "host"
        add("/proc/self/ns/net", "host")
    for d in NETNS_DIRS:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            add(path, path)
    if include_processes:
        try:
            pids = sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int)
        except OSError:
            pids = []
        for pid in pids:
            add(f"/proc/{pid}/ns/net", f"pid {pid}")
    return list(found.values())


def _scan(ns: NamespaceInfo, kinds: frozenset[str], everyone: list[NamespaceInfo]
          ) -> tuple[list[Link], dict[int, str], dict[int, NetnsId]] | None:
    """Dump links of `ns`; resolve nsids to namespaces only if a stacked link needs it."""
    from netattach.linux.netlink import NetlinkSession

    try:
        nl = NetlinkSession(ns.path)
    except LinuxNetError:
        return None  # the namespace vanished (process exited) or is not ours to open
    with nl:
        links = nl.links()
        names = {lk.index: lk.name for lk in links}
        stacked = [lk for lk in links if lk.kind in kinds]
        wanted = {lk.link_netnsid for lk in stacked if lk.link_netnsid is not None}
        nsids = {nsid: other.id for nsid, other in
                 _peer_namespaces(nl, ns, everyone, wanted).items()}
    return stacked, names, nsids


def list_stacked_links(kinds: str | Iterable[str],
                       namespaces: list[NamespaceInfo] | None = None) -> list[StackedLink]:
    """Every link of the given kind(s) in every namespace, with its parent resolved."""
    kindset = frozenset([kinds] if isinstance(kinds, str) else kinds)
    spaces = list_namespaces() if namespaces is None else namespaces
    by_id = {ns.id: ns for ns in spaces}
    scans: dict[NetnsId, tuple[list[Link], dict[int, str], dict[int, NetnsId]]] = {}
    for ns in spaces:
        res = _scan(ns, kindset, spaces)
        if res is not None:
            scans[ns.id] = res
    # parents may live in namespaces that hold no stacked link: their names come from
    # the scan above too, since every namespace was dumped.
    out: list[StackedLink] = []
    for ns in spaces:
        if ns.id not in scans:
            continue
        stacked, _names, nsids = scans[ns.id]
        for lk in stacked:
            parent_ns_id: NetnsId | None
            parent_ns_id = ns.id if lk.link_netnsid is None else nsids.get(lk.link_netnsid)
            parent_name = None
            parent_label = None
            if parent_ns_id is not None:
                parent_label = by_id[parent_ns_id].label
                if parent_ns_id in scans and lk.parent_index is not None:
                    parent_name = scans[parent_ns_id][1].get(lk.parent_index)
            else:
                parent_label = f"unknown namespace (nsid {lk.link_netnsid})"
            out.append(StackedLink(
                kind=lk.kind, name=lk.name, ifindex=lk.index, netns=ns.label, netns_id=ns.id,
                parent_name=parent_name, parent_ifindex=lk.parent_index,
                parent_netns=parent_label, parent_netns_id=parent_ns_id,
                vlan_id=lk.vlan_id, mode=lk.macvlan_mode or lk.ipvlan_mode,
            ))
    return out


def list_vlans(namespaces: list[NamespaceInfo] | None = None) -> list[VlanDevice]:
    """Every VLAN device on the node (all namespaces), parent resolved."""
    return [
        VlanDevice(vlan_id=s.vlan_id or 0, name=s.name, ifindex=s.ifindex, netns=s.netns,
                   parent_name=s.parent_name, parent_ifindex=s.parent_ifindex,
                   parent_netns=s.parent_netns, netns_id=s.netns_id,
                   parent_netns_id=s.parent_netns_id)
        for s in list_stacked_links("vlan", namespaces)
    ]


def find_stacked_users(kind: str, parent_name: str, *, parent_netns: str | None = None,
                       vlan_id: int | None = None) -> list[StackedLink]:
    """Links of `kind` whose parent is `parent_name` in `parent_netns` (default: caller's ns).

    With `vlan_id`, only links with that VLAN id.
    """
    want_ns = current_netns_id() if parent_netns is None else netns_id(parent_netns)
    return [
        s for s in list_stacked_links(kind)
        if s.parent_netns_id == want_ns and s.parent_name == parent_name
        and (vlan_id is None or s.vlan_id == vlan_id)
    ]


def find_vlan_users(parent_name: str, vlan_id: int, *, parent_netns: str | None = None
                    ) -> list[VlanDevice]:
    """VLAN devices using `vlan_id` on `parent_name` (in `parent_netns`, default: ours).

    Use after EEXIST from create_vlan to name the culprit:
    f"VLAN {vid} on {parent} is already used by {users[0].describe()}".
    """
    return [
        VlanDevice(vlan_id=s.vlan_id or 0, name=s.name, ifindex=s.ifindex, netns=s.netns,
                   parent_name=s.parent_name, parent_ifindex=s.parent_ifindex,
                   parent_netns=s.parent_netns, netns_id=s.netns_id,
                   parent_netns_id=s.parent_netns_id)
        for s in find_stacked_users("vlan", parent_name, parent_netns=parent_netns,
                                    vlan_id=vlan_id)
    ]


# -- every link with its addresses (doctor), or only the holders of some addresses (pre-ADD) ----
@dataclass(frozen=True)
class NsLink:
    """A link in any namespace of the node, with its addresses ("192.0.2.1/24"); for vlan,
    macvlan and ipvlan links the parent (lower device) is resolved as in StackedLink."""

    kind: str
    name: str
    ifindex: int
    netns: str
    netns_id: NetnsId
    mtu: int = 0
    admin_up: bool = True
    oper_state: str = "UNKNOWN"
    addresses: tuple[str, ...] = ()
    parent_name: str | None = None
    parent_ifindex: int | None = None
    parent_netns: str | None = None
    parent_netns_id: NetnsId | None = None
    vlan_id: int | None = None
    mode: str | None = None


STACKED = frozenset({"vlan", "macvlan", "ipvlan", "macvtap", "ipvtap"})


def _peer_namespaces(nl: Any, ns: NamespaceInfo, spaces: list[NamespaceInfo],
                     wanted: Collection[int]) -> dict[int, NamespaceInfo]:
    """nsid (as `ns` numbers them) -> namespace, for the nsids in `wanted` only."""
    found: dict[int, NamespaceInfo] = {}
    if not wanted:
        return found
    for other in spaces:
        if other.id == ns.id:
            continue
        try:
            nsid = nl.netnsid_of(other.path)
        except (LinuxNetError, OSError):
            continue
        if nsid in wanted:
            found[nsid] = other
            if len(found) == len(wanted):
                break
    return found


def _parents(nl: Any, links: Iterable[Link], ns: NamespaceInfo, spaces: list[NamespaceInfo]
             ) -> dict[int, NamespaceInfo]:
    """ifindex -> the namespace of its lower device, for the stacked `links` of `ns`."""
    stacked = [lk for lk in links if lk.kind in STACKED and lk.parent_index is not None]
    peers = _peer_namespaces(nl, ns, spaces, {lk.link_netnsid for lk in stacked
                                              if lk.link_netnsid is not None})
    out = {}
    for lk in stacked:
        parent = ns if lk.link_netnsid is None else peers.get(lk.link_netnsid)
        if parent is not None:
            out[lk.index] = parent
    return out


def _ns_link(lk: Link, ns: NamespaceInfo, addresses: tuple[str, ...],
             parent: NamespaceInfo | None, parent_name: str | None) -> NsLink:
    stacked = lk.kind in STACKED and lk.parent_index is not None
    return NsLink(
        kind=lk.kind, name=lk.name, ifindex=lk.index, netns=ns.label, netns_id=ns.id,
        mtu=lk.mtu, admin_up=lk.admin_up, oper_state=lk.oper_state, addresses=addresses,
        parent_name=parent_name if stacked else None,
        parent_ifindex=lk.parent_index if stacked else None,
        parent_netns=(parent.label if parent is not None
                      else f"unknown namespace (nsid {lk.link_netnsid})") if stacked else None,
        parent_netns_id=parent.id if stacked and parent is not None else None,
        vlan_id=lk.vlan_id, mode=lk.macvlan_mode or lk.ipvlan_mode)


def list_links(namespaces: list[NamespaceInfo] | None = None, *,
               skip: Collection[NetnsId] = ()) -> list[NsLink]:
    """Every link of every namespace (but those in `skip`), with its addresses."""
    from netattach.linux.netlink import NetlinkSession

    spaces = list_namespaces() if namespaces is None else namespaces
    dumps: dict[NetnsId, tuple[list[Link], dict[int, list[str]], dict[int, NamespaceInfo]]] = {}
    for ns in spaces:
        if ns.id in skip:
            continue
        try:
            nl = NetlinkSession(ns.path)
        except LinuxNetError:
            continue  # vanished, or not ours to open
        with nl:
            links = nl.links()
            addrs: dict[int, list[str]] = {}
            for a in nl.addresses():
                addrs.setdefault(a.index, []).append(str(a.interface))
            parents = _parents(nl, links, ns, spaces)
        dumps[ns.id] = (links, addrs, parents)
    names = {ident: {lk.index: lk.name for lk in d[0]} for ident, d in dumps.items()}
    out: list[NsLink] = []
    for ns in spaces:
        if ns.id not in dumps:
            continue
        links, addrs, parents = dumps[ns.id]
        for lk in links:
            parent = parents.get(lk.index)
            pname = None
            if parent is not None:
                if parent.id not in names:  # a skipped namespace: read its names once
                    names[parent.id] = _names_in(parent)
                pname = names[parent.id].get(lk.parent_index or 0)
            out.append(_ns_link(lk, ns, tuple(addrs.get(lk.index, ())), parent, pname))
    return out


def _names_in(ns: NamespaceInfo) -> dict[int, str]:
    """ifindex -> name of every link of `ns` ({} if it cannot be read)."""
    from netattach.linux.netlink import NetlinkSession

    try:
        with NetlinkSession(ns.path) as nl:
            return {lk.index: lk.name for lk in nl.links()}
    except LinuxNetError:
        return {}


def address_holders(ips: Collection[Any], namespaces: list[NamespaceInfo] | None = None, *,
                    skip: Collection[NetnsId] = ()) -> list[NsLink]:
    """The links that hold any of `ips` in any namespace (but those in `skip`), each with
    only those addresses. One cheap address dump per namespace (linux.addrscan); a netlink
    session only for the namespaces with a hit."""
    from netattach.linux.addrscan import find_address_holders
    from netattach.linux.netlink import NetlinkSession

    spaces = list_namespaces() if namespaces is None else namespaces
    by_path = {ns.path: ns for ns in spaces}
    hits = find_address_holders(set(ips), [ns.path for ns in spaces], skip=skip)
    grouped: dict[str, dict[int, list[str]]] = {}
    for h in hits:
        grouped.setdefault(h.path, {}).setdefault(h.index, []).append(str(h.interface))
    names: dict[NetnsId, dict[int, str]] = {}
    out: list[NsLink] = []
    for path, per_link in grouped.items():
        ns = by_path[path]
        try:
            nl = NetlinkSession(path)
        except LinuxNetError:
            continue
        with nl:
            found = [lk for lk in (nl.find_link(i) for i in per_link) if lk is not None]
            parents = _parents(nl, found, ns, spaces)
            for lk in found:
                addrs = per_link[lk.index]
                parent = parents.get(lk.index)
                pname = None
                if parent is not None and lk.parent_index is not None:
                    if parent.id == ns.id:
                        lower = nl.find_link(lk.parent_index)
                        pname = lower.name if lower is not None else None
                    else:
                        if parent.id not in names:
                            names[parent.id] = _names_in(parent)
                        pname = names[parent.id].get(lk.parent_index)
                out.append(_ns_link(lk, ns, tuple(addrs), parent, pname))
    return out
