"""NetlinkSession: links, addresses, routes and sysctls of one network namespace.

A session holds a NETLINK_ROUTE socket made inside its namespace and used from the
caller's thread (reads and writes through the stdlib codec `_rtnl`); sysctls run on a
thread inside the namespace. Open with `netlink_session(path | None)`; `None` is the
caller thread's namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

from netattach.linux import _rtnl as r
from netattach.linux.errors import (
    LinkKindMismatch,
    LinkNotFound,
    LinuxNetError,
    error_from_errno,
)
from netattach.linux.names import temp_link_name, validate_ifname
from netattach.linux.netns import (
    THREAD_NETNS_PATH,
    NetnsHandle,
    NetnsId,
    NetnsRef,
    NetnsThread,
    netns_id,
    open_error,
    open_netns,
    run_in_netns,
)
from netattach.linux.records import (
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFF_ALLMULTI,
    IFF_PROMISC,
    IFF_UP,
    Address,
    IPInterface,
    Link,
    Route,
    VethPair,
    scope_value,
)
from netattach.linux.sysctl import read_sysctl, write_sysctl

T = TypeVar("T")
LinkRef = str | int  # interface name or ifindex

RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = (
    20, 21, 22, 24, 25, 26)
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_METRICS, RTA_TABLE = (
    1, 4, 5, 6, 7, 8, 15)
RTAX_MTU, RTAX_ADVMSS = 2, 8
RT_TABLE_MAIN, RT_TABLE_COMPAT = 254, 252
RTPROT_BOOT, RTN_UNICAST = 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
VETH_CREATE_ATTEMPTS = 10


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


class NetlinkSession:
    """Netlink operations bound to one namespace; use via `netlink_session()`.

    The socket is created inside the namespace (one short-lived thread) and then used from
    the caller's thread: a netlink socket stays bound to the namespace it was made in. Only
    sysctls need a thread inside the namespace; it is started on the first one.
    """

    def __init__(self, netns: str | os.PathLike[str] | None = None) -> None:
        # Keep our own handle on the namespace: it identifies it and is the fd that other
        # sessions pass as IFLA_NET_NS_FD to create links directly in here.
        self.handle: NetnsHandle = open_netns(THREAD_NETNS_PATH if netns is None else netns)
        self.label = "current" if netns is None else os.fspath(netns)
        self._elsewhere = netns is not None
        self._worker: NetnsThread | None = None
        try:
            self._rtnl: r.RtnlSocket = (run_in_netns(self.handle, r.RtnlSocket)
                                        if self._elsewhere else r.RtnlSocket())
        except BaseException:
            self.handle.close()
            raise

    # -- plumbing ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the socket, stop the sysctl thread (if any), release the namespace fd."""
        try:
            self._rtnl.close()
            if self._worker is not None:
                self._worker.close()
        finally:
            self.handle.close()

    def __enter__(self) -> NetlinkSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    def _in_netns(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` inside the namespace (for what is per thread: /proc/sys/net)."""
        if not self._elsewhere:
            return fn(*args)
        if self._worker is None:
            self._worker = NetnsThread(self.handle, name=f"netlink:{self.label}")
        return self._worker.call(fn, *args)

    def _query(self, msg_type: int, header: bytes, attrs: list[r.Attr] | None = None, *,
               dump: bool = False, op: str = "get", obj: str = "") -> list[tuple[int, bytes]]:
        try:
            return self._rtnl.query(msg_type, header, attrs or [], dump=dump)
        except r.NetlinkError as e:
            raise error_from_errno(e.errno or 0, op=op, obj=obj, detail=e.strerror or "") \
                from None

    def _request(self, msg_type: int, flags: int, header: bytes, attrs: list[r.Attr], *,
                 op: str, obj: str, what: str, where: str = "") -> int:
        """Send a write request on the worker; raise the mapped error, or return 0."""
        assert self._rtnl is not None
        code, text = self._rtnl.request(msg_type, flags, header, attrs)
        if code:
            raise error_from_errno(code, op=op, obj=obj, what=what, detail=text, where=where)
        return 0

    def _request_soft(self, msg_type: int, flags: int, header: bytes, attrs: list[r.Attr]
                      ) -> tuple[int, str]:
        assert self._rtnl is not None
        return self._rtnl.request(msg_type, flags, header, attrs)

    # -- links: read ------------------------------------------------------------------
    def _to_link(self, payload: bytes) -> Link:
        fields = r.decode_link(payload)
        flags = int(fields["flags"])  # type: ignore[call-overload]
        return Link(admin_up=bool(flags & IFF_UP), netns=self.label, **fields)  # type: ignore[arg-type]

    def _get_link(self, ref: LinkRef) -> Link | None:
        if isinstance(ref, int):
            header, attrs = r.ifinfomsg(index=ref), []
        else:
            try:
                validate_ifname(ref)
            except ValueError:
                return None  # no link can have a name the kernel refuses
            header, attrs = r.ifinfomsg(), [r.string(r.IFLA_IFNAME, ref)]
        try:
            msgs = self._query(r.RTM_GETLINK, header, attrs, obj=str(ref))
        except LinkNotFound:
            return None
        return next((self._to_link(p) for t, p in msgs if t == r.RTM_NEWLINK), None)

    def _must_link(self, ref: LinkRef) -> Link:
        link = self._get_link(ref)
        if link is None:
            raise LinkNotFound(f"link {ref!r} not found in network namespace {self.label!r}",
                               op="get", obj=str(ref), errno=errno.ENODEV)
        return link

    def _index(self, ref: LinkRef) -> int:
        return ref if isinstance(ref, int) else self._must_link(ref).index

    def find_link(self, ref: LinkRef) -> Link | None:
        """The link with that name or index, or None if there is none."""
        return self._run(self._get_link, ref)

    def link(self, ref: LinkRef) -> Link:
        """The link with that name or index; LinkNotFound if missing."""
        return self._run(self._must_link, ref)

    def links(self, kind: str | None = None) -> list[Link]:
        """All links of the namespace (only those of `kind` if given), by ifindex."""
        out = [self._to_link(p) for t, p in self._query(r.RTM_GETLINK, r.ifinfomsg(),
                                                         dump=True, op="dump", obj="links")
               if t == r.RTM_NEWLINK]
        return sorted((lk for lk in out if kind is None or lk.kind == kind),
                      key=lambda lk: lk.index)

    def default_route_link(self) -> Link | None:
        """Link of the first route with a zero-length dst (v4 first, then v6), or None."""
        def find() -> Link | None:
            for fam in (socket.AF_INET, socket.AF_INET6):
                for rt in self._routes(fam, RT_TABLE_MAIN, None, True):
                    if rt.oif:
                        return self._get_link(rt.oif)
            return None
        return self._run(find)

    # -- links: create ----------------------------------------------------------------
    def _create(self, name: str, kind: str, data: list[r.Attr], *, parent: LinkRef | None,
                netns: NetnsRef | None, mtu: int | None, mac: str | None,
                extra: list[r.Attr] | None = None, exclusive: bool = True) -> None:
        validate_ifname(name)
        attrs = [r.string(r.IFLA_IFNAME, name)]
        if parent is not None:
            attrs.append(r.u32(r.IFLA_LINK, self._index(parent)))
        if mtu:
            attrs.append(r.u32(r.IFLA_MTU, mtu))
        if mac:
            attrs.append(r.raw(r.IFLA_ADDRESS, r.mac_bytes(mac)))
        info = [r.string(r.IFLA_INFO_KIND, kind)]
        if data:
            info.append(r.nested(r.IFLA_INFO_DATA, data))
        attrs.append(r.nested(r.IFLA_LINKINFO, info))
        attrs += extra or []
        target: NetnsHandle | None = None
        owned = False
        if netns is not None:
            target, owned = (netns, False) if isinstance(netns, NetnsHandle) else (
                open_netns(netns), True)
            attrs.append(r.u32(r.IFLA_NET_NS_FD, target.fd))
        try:
            flags = r.NLM_F_CREATE | (r.NLM_F_EXCL if exclusive else 0)
            where = f"in network namespace {target.path!r}" if target is not None else ""
            if parent is not None:
                where = f"on parent {parent!r} {where}".rstrip()
            assert self._rtnl is not None
            code, text = self._rtnl.request(r.RTM_NEWLINK, flags, r.ifinfomsg(), attrs)
            if code:
                raise error_from_errno(code, op="create", obj=name, what=f"{kind} link",
                                       where=where, detail=text)
        finally:
            if owned and target is not None:
                target.close()

    def create_vlan(self, name: str, parent: LinkRef, vlan_id: int, *, mtu: int | None = None,
                    netns: NetnsRef | None = None, protocol: int = 0x8100) -> None:
        """Create VLAN `vlan_id` on `parent` named `name`, directly in `netns` if given.

        LinkExists (EEXIST) also means this parent already has this VLAN id somewhere
        (see inventory.find_vlan_users to name the culprit).
        """
        if not 0 <= vlan_id <= 4094:
            raise ValueError(f"invalid VLAN id {vlan_id} (must be 0..4094)")
        data = [r.u16(r.IFLA_VLAN_ID, vlan_id), r.be16(r.IFLA_VLAN_PROTOCOL, protocol)]
        self._run(self._create, name, "vlan", data, parent=parent, netns=netns, mtu=mtu,
                  mac=None)

    def create_macvlan(self, name: str, parent: LinkRef, *, mode: str = "bridge",
                       mac: str | None = None, mtu: int | None = None,
                       bcqueuelen: int | None = None, netns: NetnsRef | None = None) -> None:
        """Create a macvlan on `parent` (mode bridge/private/vepa/passthru), in `netns` if given."""
        if mode not in r.MACVLAN_MODES:
            raise ValueError(f"unknown macvlan mode: {mode!r}")
        data = [r.u32(r.IFLA_MACVLAN_MODE, r.MACVLAN_MODES[mode])]
        if bcqueuelen is not None:
            data.append(r.u32(r.IFLA_MACVLAN_BC_QUEUE_LEN, bcqueuelen))
        self._run(self._create, name, "macvlan", data, parent=parent, netns=netns, mtu=mtu,
                  mac=mac)

    def create_ipvlan(self, name: str, parent: LinkRef, *, mode: str = "l2",
                      mtu: int | None = None, netns: NetnsRef | None = None) -> None:
        """Create an ipvlan on `parent` (mode l2/l3/l3s), in `netns` if given."""
        if mode not in r.IPVLAN_MODES:
            raise ValueError(f"unknown ipvlan mode: {mode!r}")
        data = [r.u16(r.IFLA_IPVLAN_MODE, r.IPVLAN_MODES[mode])]
        self._run(self._create, name, "ipvlan", data, parent=parent, netns=netns, mtu=mtu,
                  mac=None)

    def create_veth(self, name: str, *, peer_name: str | None = None,
                    peer_netns: NetnsRef | None = None, mtu: int | None = None,
                    mac: str | None = None, peer_mac: str | None = None) -> VethPair:
        """Create veth `name` here with its peer in `peer_netns` (default: here).

        Without `peer_name` the peer gets a random `vethXXXXXXXX` name, retried on EEXIST.
        """
        from netattach.linux.errors import LinkExists

        attempts = 1 if peer_name is not None else VETH_CREATE_ATTEMPTS
        for attempt in range(attempts):
            pname = peer_name or temp_link_name()
            validate_ifname(pname)
            peer = [r.string(r.IFLA_IFNAME, pname)]
            if mtu:
                peer.append(r.u32(r.IFLA_MTU, mtu))
            if peer_mac:
                peer.append(r.raw(r.IFLA_ADDRESS, r.mac_bytes(peer_mac)))
            owned_peer: NetnsHandle | None = None
            if peer_netns is not None:
                ph = peer_netns if isinstance(peer_netns, NetnsHandle) else open_netns(peer_netns)
                if ph is not peer_netns:
                    owned_peer = ph
                peer.append(r.u32(r.IFLA_NET_NS_FD, ph.fd))
            peer_attr = r.Attr(r.VETH_INFO_PEER, r.ifinfomsg() + b"".join(a.encode() for a in peer))
            try:
                self._run(self._create, name, "veth", [peer_attr], parent=None, netns=None,
                          mtu=mtu, mac=mac)
                return VethPair(name, pname)
            except LinkExists:
                # the container-side name is ours to check; retry only for random peers
                if peer_name is not None or attempt == attempts - 1 or self.find_link(name):
                    raise
            finally:
                if owned_peer is not None:
                    owned_peer.close()
        raise AssertionError("unreachable")

    def ensure_bridge(self, name: str, *, mtu: int | None = None,
                      vlan_filtering: bool | None = None, promisc: bool | None = None,
                      mac: str | None = None) -> Link:
        """Create bridge `name` if missing (EEXIST is fine) and apply the options.

        LinkKindMismatch if `name` exists and is not a bridge.
        """
        from netattach.linux.errors import LinkExists

        data = []
        if vlan_filtering is not None:
            data.append(r.u8(r.IFLA_BR_VLAN_FILTERING, int(vlan_filtering)))
        with suppress(LinkExists):
            self._run(self._create, name, "bridge", data, parent=None, netns=None, mtu=mtu,
                      mac=mac)
        link = self.link(name)
        if link.kind != "bridge":
            raise LinkKindMismatch(f"{name!r} already exists but is not a bridge "
                                   f"(kind {link.kind or 'device'!r})", op="ensure bridge",
                                   obj=name, errno=errno.EEXIST)
        if vlan_filtering is not None:
            self._run(self._change_kind_data, link.index, "bridge", data)
        return self.set_link(link.index, mtu=mtu if mtu and mtu != link.mtu else None,
                             promisc=promisc)

    def _change_kind_data(self, index: int, kind: str, data: list[r.Attr]) -> None:
        info = [r.string(r.IFLA_INFO_KIND, kind), r.nested(r.IFLA_INFO_DATA, data)]
        self._request(r.RTM_NEWLINK, 0, r.ifinfomsg(index=index),
                      [r.nested(r.IFLA_LINKINFO, info)], op=f"configure {kind}", obj=str(index),
                      what="link")

    # -- links: change ----------------------------------------------------------------
    def set_link(self, ref: LinkRef, *, up: bool | None = None, mtu: int | None = None,
                 mac: str | None = None, promisc: bool | None = None,
                 allmulti: bool | None = None, txqlen: int | None = None,
                 alias: str | None = None, master: LinkRef | None = None,
                 name: str | None = None) -> Link:
        """Change the given attributes in one request and return the link as it is now.

        `master=0` detaches from the master; `alias=""` clears the alias.
        """
        def change() -> Link:
            index = self._index(ref)
            flags = change_mask = 0
            for wanted, bit in ((up, IFF_UP), (promisc, IFF_PROMISC), (allmulti, IFF_ALLMULTI)):
                if wanted is not None:
                    change_mask |= bit
                    flags |= bit if wanted else 0
            attrs: list[r.Attr] = []
            if name is not None:
                validate_ifname(name)
                attrs.append(r.string(r.IFLA_IFNAME, name))
            if mtu is not None:
                attrs.append(r.u32(r.IFLA_MTU, mtu))
            if mac is not None:
                attrs.append(r.raw(r.IFLA_ADDRESS, r.mac_bytes(mac)))
            if txqlen is not None:
                attrs.append(r.u32(r.IFLA_TXQLEN, txqlen))
            if alias is not None:
                attrs.append(r.Attr(r.IFLA_IFALIAS, alias.encode()))
            if master is not None:
                attrs.append(r.u32(r.IFLA_MASTER, master if isinstance(master, int)
                                   else self._index(master)))
            if attrs or change_mask:
                self._request(r.RTM_NEWLINK, 0,
                              r.ifinfomsg(index=index, flags=flags, change=change_mask), attrs,
                              op="change", obj=str(ref), what="link")
            return self._must_link(index)
        return self._run(change)

    def rename(self, ref: LinkRef, new_name: str) -> Link:
        """Rename a link (must be down for most kinds) and return it re-fetched."""
        return self.set_link(ref, name=new_name)

    def set_up(self, ref: LinkRef) -> Link:
        """Set the link administratively up."""
        return self.set_link(ref, up=True)

    def set_down(self, ref: LinkRef) -> Link:
        """Set the link administratively down."""
        return self.set_link(ref, up=False)

    def set_bridge_port(self, ref: LinkRef, *, hairpin: bool | None = None,
                        isolated: bool | None = None) -> None:
        """Set hairpin (reflective relay) and/or isolation on a bridge port."""
        def change() -> None:
            index = self._index(ref)
            prot = []
            if hairpin is not None:
                prot.append(r.u8(r.IFLA_BRPORT_MODE, int(hairpin)))
            if isolated is not None:
                prot.append(r.u8(r.IFLA_BRPORT_ISOLATED, int(isolated)))
            if prot:
                self._request(r.RTM_SETLINK, 0, r.ifinfomsg(family=r.AF_BRIDGE, index=index),
                              [r.nested(r.IFLA_PROTINFO, prot, flag=True)],
                              op="set bridge port options on", obj=str(ref), what="link")
        self._run(change)

    def bridge_vlan_add(self, ref: LinkRef, vid: int, *, pvid: bool = False,
                        untagged: bool = False, self_: bool = False) -> None:
        """Allow VLAN `vid` on bridge port `ref` (optionally as PVID and/or untagged)."""
        flags = (r.BRIDGE_VLAN_INFO_PVID if pvid else 0) | (
            r.BRIDGE_VLAN_INFO_UNTAGGED if untagged else 0)
        self._run(self._bridge_vlan, r.RTM_SETLINK, ref, vid, flags, self_)

    def bridge_vlan_del(self, ref: LinkRef, vid: int, *, self_: bool = False) -> None:
        """Remove VLAN `vid` from bridge port `ref`; idempotent (absent VLAN is fine)."""
        self._run(self._bridge_vlan, r.RTM_DELLINK, ref, vid, 0, self_)

    def _bridge_vlan(self, msg_type: int, ref: LinkRef, vid: int, flags: int, self_: bool
                     ) -> None:
        if not 1 <= vid <= 4094:
            raise ValueError(f"invalid VLAN id {vid} (must be 1..4094)")
        index = self._index(ref)
        spec = [r.u16(r.IFLA_BRIDGE_FLAGS, 2 if self_ else r.BRIDGE_FLAGS_MASTER),
                r.raw(r.IFLA_BRIDGE_VLAN_INFO, struct.pack("=HH", flags, vid))]
        code, text = self._request_soft(msg_type, 0, r.ifinfomsg(family=r.AF_BRIDGE, index=index),
                                        [r.nested(r.IFLA_AF_SPEC, spec, flag=True)])
        if code == 0 or (msg_type == r.RTM_DELLINK and code == errno.ENOENT):
            return
        op = "add" if msg_type == r.RTM_SETLINK else "delete"
        raise error_from_errno(code, op=f"{op} bridge VLAN {vid} on", obj=str(ref), detail=text)

    def move_link(self, ref: LinkRef, netns: NetnsRef, *, new_name: str | None = None) -> None:
        """Move a link into `netns` (optionally renaming it in the same request)."""
        def move() -> None:
            index = self._index(ref)
            target, owned = (netns, False) if isinstance(netns, NetnsHandle) else (
                open_netns(netns), True)
            try:
                attrs = [r.u32(r.IFLA_NET_NS_FD, target.fd)]
                if new_name is not None:
                    validate_ifname(new_name)
                    attrs.append(r.string(r.IFLA_IFNAME, new_name))
                self._request(r.RTM_NEWLINK, 0, r.ifinfomsg(index=index), attrs,
                              op=f"move to {target.path!r}", obj=str(ref), what="link")
            finally:
                if owned:
                    target.close()
        self._run(move)

    def delete_link(self, ref: LinkRef) -> bool:
        """Delete a link; False if it did not exist (never raises for a missing link)."""
        def delete() -> bool:
            link = self._get_link(ref)
            if link is None:
                return False
            code, text = self._request_soft(r.RTM_DELLINK, 0, r.ifinfomsg(index=link.index), [])
            if code == errno.ENODEV:
                return False
            if code:
                raise error_from_errno(code, op="delete", obj=str(ref), detail=text)
            return True
        return self._run(delete)

    # -- addresses --------------------------------------------------------------------
    def add_address(self, ref: LinkRef, address: str | IPInterface, *,
                    noprefixroute: bool = False, nodad: bool = False) -> None:
        """Add `address` (CIDR) to the link. The kernel adds the prefix route unless
        `noprefixroute` (v4 at once, v6 once the link is up). AddressExists if present."""
        iface = ipaddress.ip_interface(address)

        def add() -> None:
            index = self._index(ref)
            fam = _family(iface.version)
            attrs = [r.raw(IFA_LOCAL, iface.ip.packed), r.raw(IFA_ADDRESS, iface.ip.packed)]
            if iface.version == 4 and iface.network.prefixlen < 31:
                attrs.append(r.raw(IFA_BROADCAST, iface.network.broadcast_address.packed))
            ifa_flags = (IFA_F_NOPREFIXROUTE if noprefixroute else 0) | (
                IFA_F_NODAD if nodad else 0)
            if ifa_flags:
                attrs.append(r.u32(IFA_FLAGS, ifa_flags))
            header = struct.pack("=BBBBI", fam, iface.network.prefixlen, ifa_flags & 0xFF, 0,
                                 index)
            self._request(RTM_NEWADDR, r.NLM_F_CREATE | r.NLM_F_EXCL, header, attrs,
                          op="add", obj=str(iface), what="address", where=f"on link {ref!r}")
        self._run(add)

    def del_address(self, ref: LinkRef, address: str | IPInterface) -> bool:
        """Remove `address` from the link; False if it was not there."""
        iface = ipaddress.ip_interface(address)

        def delete() -> bool:
            link = self._get_link(ref)
            if link is None:
                return False
            header = struct.pack("=BBBBI", _family(iface.version), iface.network.prefixlen, 0,
                                 0, link.index)
            code, text = self._request_soft(RTM_DELADDR, 0, header,
                                            [r.raw(IFA_LOCAL, iface.ip.packed)])
            if code in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                return False
            if code:
                raise error_from_errno(code, op="delete", obj=str(iface), what="address",
                                       where=f"on link {ref!r}", detail=text)
            return True
        return self._run(delete)

    def addresses(self, ref: LinkRef | None = None, family: int | None = None) -> list[Address]:
        """Addresses of one link (or all links), optionally only IPv4 (4) or IPv6 (6)."""
        index = None if ref is None else self._index(ref)
        fam = socket.AF_UNSPEC if family is None else _family(family)
        out = []
        for t, payload in self._query(RTM_GETADDR, struct.pack("=BBBBI", fam, 0, 0, 0, 0),
                                      dump=True, op="dump", obj="addresses"):
            if t != RTM_NEWADDR:
                continue
            afam, prefix, raw, ifindex, scope, flags, label = r.decode_addr(payload)
            if afam not in (socket.AF_INET, socket.AF_INET6) or not raw or \
                    (index is not None and ifindex != index):
                continue
            iface = ipaddress.ip_interface((ipaddress.ip_address(raw), prefix))
            if family is not None and iface.version != family:
                continue
            out.append(Address(index=ifindex, interface=iface, scope=scope, flags=flags,
                               label=label))
        return out

    # -- routes -----------------------------------------------------------------------
    def _route_msg(self, dst: str | ipaddress.IPv4Network | ipaddress.IPv6Network, *,
                   gateway: str | None | Any, dev: LinkRef | None, scope: int | str | None,
                   table: int | None, priority: int | None, src: Any, mtu: int | None,
                   advmss: int | None, deleting: bool) -> tuple[bytes, list[r.Attr], str]:
        net = ipaddress.ip_network(dst, strict=True)
        gw = None if gateway is None else ipaddress.ip_address(gateway)
        if gw is not None and gw.version != net.version:
            raise ValueError(f"gateway {gw} is not of the same family as route {net}")
        table = RT_TABLE_MAIN if table is None else table
        nscope = scope_value(scope)
        if nscope is None:
            nscope = RT_SCOPE_NOWHERE if deleting else (
                RT_SCOPE_UNIVERSE if gw is not None else RT_SCOPE_LINK)
        header = struct.pack("=BBBBBBBBI", _family(net.version), net.prefixlen, 0, 0,
                             table if table < 256 else RT_TABLE_COMPAT,
                             0 if deleting else RTPROT_BOOT, nscope,
                             0 if deleting else RTN_UNICAST, 0)
        attrs = [r.u32(RTA_TABLE, table)]
        if net.prefixlen:
            attrs.append(r.raw(RTA_DST, net.network_address.packed))
        if gw is not None:
            attrs.append(r.raw(RTA_GATEWAY, gw.packed))
        if dev is not None:
            attrs.append(r.u32(RTA_OIF, self._index(dev)))
        if priority is not None:
            attrs.append(r.u32(RTA_PRIORITY, priority))
        if src is not None:
            attrs.append(r.raw(RTA_PREFSRC, ipaddress.ip_address(src).packed))
        metrics = []
        if mtu:
            metrics.append(r.u32(RTAX_MTU, mtu))
        if advmss:
            metrics.append(r.u32(RTAX_ADVMSS, advmss))
        if metrics:
            attrs.append(r.nested(RTA_METRICS, metrics))
        desc = f"{net}" + (f" via {gw}" if gw else "") + (f" dev {dev}" if dev is not None else "")
        return header, attrs, desc

    def add_route(self, dst: str | Any, *, gateway: str | Any | None = None,
                  dev: LinkRef | None = None, scope: int | str | None = None,
                  table: int | None = None, priority: int | None = None,
                  src: str | Any | None = None, mtu: int | None = None,
                  advmss: int | None = None, replace: bool = False) -> None:
        """Add a route (`dst` CIDR, '0.0.0.0/0' for default); RouteExists if identical.

        Scope defaults like `ip route`: link without a gateway, universe with one.
        `replace=True` replaces a matching route instead (RTM_NEWROUTE + NLM_F_REPLACE).
        """
        def add() -> None:
            header, attrs, desc = self._route_msg(
                dst, gateway=gateway, dev=dev, scope=scope, table=table, priority=priority,
                src=src, mtu=mtu, advmss=advmss, deleting=False)
            flags = r.NLM_F_CREATE | (r.NLM_F_REPLACE if replace else r.NLM_F_EXCL)
            self._request(RTM_NEWROUTE, flags, header, attrs,
                          op="replace" if replace else "add", obj=desc, what="route")
        self._run(add)

    def replace_route(self, dst: str | Any, **kwargs: Any) -> None:
        """Add or replace a route; same arguments as add_route."""
        self.add_route(dst, replace=True, **kwargs)

    def del_route(self, dst: str | Any, *, gateway: str | Any | None = None,
                  dev: LinkRef | None = None, table: int | None = None,
                  priority: int | None = None, scope: int | str | None = None) -> bool:
        """Delete the first route matching the given fields; False if none matched."""
        def delete() -> bool:
            try:
                header, attrs, desc = self._route_msg(
                    dst, gateway=gateway, dev=dev, scope=scope, table=table, priority=priority,
                    src=None, mtu=None, advmss=None, deleting=True)
            except LinkNotFound:
                return False
            code, text = self._request_soft(RTM_DELROUTE, 0, header, attrs)
            if code in (errno.ESRCH, errno.ENOENT, errno.ENODEV):
                return False
            if code:
                raise error_from_errno(code, op="delete", obj=desc, what="route", detail=text)
            return True
        return self._run(delete)

    def _routes(self, fam: int | None, table: int | None, dev: LinkRef | None,
                default_only: bool) -> list[Route]:
        oif = None if dev is None else self._index(dev)
        out = []
        families = (socket.AF_INET, socket.AF_INET6) if fam is None else (fam,)
        for f in families:
            header = struct.pack("=BBBBBBBBI", f, 0, 0, 0, 0, 0, 0, 0, 0)
            for t, payload in self._query(RTM_GETROUTE, header, dump=True, op="dump",
                                          obj="routes"):
                if t != RTM_NEWROUTE or (default_only and payload[1]):  # rtm_dst_len
                    continue
                m = r.decode_route(payload)
                if (table and m["table"] != table) or (oif is not None and m["oif"] != oif):
                    continue
                zero = b"\0" * (4 if f == socket.AF_INET else 16)
                gw, src = m["gateway"], m["src"]
                out.append(Route(
                    dst=ipaddress.ip_network((ipaddress.ip_address(m["dst"] or zero),
                                              m["dst_len"])),
                    gateway=ipaddress.ip_address(gw) if gw else None,
                    oif=m["oif"], scope=m["scope"], table=m["table"],
                    priority=m["priority"],
                    src=ipaddress.ip_address(src) if src else None,
                    mtu=m["mtu"], advmss=m["advmss"], protocol=m["protocol"],
                    type=m["type"],
                ))
        return out

    def routes(self, *, family: int | None = None, table: int | None = RT_TABLE_MAIN,
               dev: LinkRef | None = None, default_only: bool = False) -> list[Route]:
        """Routes of `table` (main by default; 0 or None = all tables), v4 (4)/v6 (6)/both.
        `default_only`: just the default routes, the others skipped undecoded (a node's
        table grows with its pods: an IPv6 link-local route per veth)."""
        fam = None if family is None else _family(family)
        return self._run(self._routes, fam, table, dev, default_only)

    # -- sysctl and namespace ids -----------------------------------------------------
    def sysctl_get(self, key: str) -> str:
        """Read a net sysctl ('net/ipv4/conf/eth0/arp_notify') inside this namespace."""
        return self._in_netns(read_sysctl, key)

    def sysctl_set(self, key: str, value: str | int) -> str:
        """Write a net sysctl inside this namespace; returns the previous value."""
        return self._in_netns(write_sysctl, key, value)

    def netnsid_of(self, netns: NetnsRef) -> int | None:
        """The nsid this namespace assigned to `netns` (RTM_GETNSID), None if none."""
        target, owned = (netns, False) if isinstance(netns, NetnsHandle) else (
            open_netns(netns), True)
        try:
            msgs = self._query(r.RTM_GETNSID, struct.pack("=Bxxx", socket.AF_UNSPEC),
                               [r.u32(r.NETNSA_FD, target.fd)], op="get nsid of",
                               obj=target.path)
        finally:
            if owned:
                target.close()
        for t, payload in msgs:
            raw = r.attributes(payload, 4).get(r.NETNSA_NSID) if t == r.RTM_NEWNSID else None
            if raw is not None and len(raw) >= 4:
                nsid = struct.unpack_from("=i", raw)[0]
                return None if nsid < 0 else nsid
        return None


@contextmanager
def netlink_session(netns: str | os.PathLike[str] | None = None) -> Iterator[NetlinkSession]:
    """A NetlinkSession on `netns` (None: the caller's namespace); NetnsNotFound if gone.

    Inside `shared_sessions()` the session of that namespace is shared (and closed when the
    block ends); otherwise it is opened here and closed on exit.
    """
    pool = _SHARED.get()
    if pool is not None:
        yield pool.session(netns)
        return
    session = NetlinkSession(netns)
    try:
        yield session
    finally:
        session.close()


class SessionPool:
    """The sessions of one operation, one per namespace (by identity, not path)."""

    def __init__(self) -> None:
        self._sessions: dict[NetnsId | None, NetlinkSession] = {}

    def session(self, netns: str | os.PathLike[str] | None) -> NetlinkSession:
        key = None if netns is None else _identity(netns)
        found = self._sessions.get(key)
        if found is None:
            found = self._sessions[key] = NetlinkSession(netns)
        return found

    def close(self) -> None:
        for session in self._sessions.values():
            with suppress(OSError, LinuxNetError):
                session.close()
        self._sessions.clear()


def _identity(netns: str | os.PathLike[str]) -> NetnsId:
    try:
        return netns_id(netns)
    except OSError as e:
        raise open_error(os.fspath(netns), e) from None


# the pool of the operation running in this context (thread); None: no sharing
_SHARED: ContextVar[SessionPool | None] = ContextVar("netattach_shared_sessions", default=None)


@contextmanager
def shared_sessions() -> Iterator[SessionPool]:
    """Within the block, every `netlink_session()` of a namespace (on this thread) is one
    session: a CNI call touches the pod's and the node's namespace many times, and opening
    a socket inside a namespace costs a thread. Nested blocks reuse the outer pool."""
    outer = _SHARED.get()
    if outer is not None:
        yield outer
        return
    pool = SessionPool()
    token = _SHARED.set(pool)
    try:
        yield pool
    finally:
        _SHARED.reset(token)
        pool.close()




def link_exists(netns: str | os.PathLike[str] | None, ifname: str) -> bool:
    """Whether `netns` (None: the caller's) has a link named `ifname`; NetnsNotFound if the
    namespace is gone."""
    with netlink_session(netns) as nl:
        return nl.find_link(ifname) is not None


__all__ = ["LinkRef", "LinuxNetError", "NetlinkSession", "SessionPool", "link_exists",
           "netlink_session", "shared_sessions"]
