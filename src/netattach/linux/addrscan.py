"""Who on this node holds an address? One RTM_GETADDR dump per namespace, stdlib only.

The cheap half of the duplicate-address check before an ADD: a netlink socket is opened in
each namespace by one short-lived thread that steps through them (netns.call_in_each),
then every dump is read on the caller's thread. No thread per namespace: tens of
microseconds per namespace, so the cost stays small as pods are added to the node. Only the
(rare) hits need a full NetlinkSession to be described.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from netattach.linux import _rtnl as r
from netattach.linux.netns import NetnsId, call_in_each

RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_DONE = 3
NLM_F_DUMP = 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AddressHit:
    """`interface` (address/prefix) is on link `index` of the namespace at `path`."""

    path: str
    netns_id: NetnsId
    index: int
    interface: IPInterface


def _netlink_socket(_path: str) -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                         r.NETLINK_ROUTE)


def parse_addresses(data: bytes, wanted: Collection[bytes] | None = None
                    ) -> tuple[list[tuple[int, IPInterface]], bool]:
    """(index, address) of each RTM_NEWADDR message in `data` (only those whose packed
    address is in `wanted`, if given: the others are never decoded); True once NLMSG_DONE
    is seen."""
    found: list[tuple[int, IPInterface]] = []
    offset = 0
    while offset + 16 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if mtype == NLMSG_DONE or mtype == r.NLMSG_ERROR:
            return found, True
        if mtype == RTM_NEWADDR and length >= 24:
            family, prefix, _flags, _scope, index = struct.unpack_from("=BBBBI", data,
                                                                       offset + 16)
            local = address = None
            pos, end = offset + 24, offset + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype == IFA_LOCAL:
                    local = data[pos + 4:pos + alen]
                elif atype == IFA_ADDRESS:
                    address = data[pos + 4:pos + alen]
                pos += (alen + 3) & ~3
            raw = local or address
            if raw is not None and family in (socket.AF_INET, socket.AF_INET6) \
                    and (wanted is None or raw in wanted):
                ip = ipaddress.ip_address(raw)
                found.append((index, ipaddress.ip_interface(f"{ip}/{prefix}")))
        offset += (length + 3) & ~3
    return found, False


def _dump(sock: socket.socket, wanted: Collection[bytes], family: int
          ) -> list[tuple[int, IPInterface]]:
    header = struct.pack("=BBBBI", family, 0, 0, 0, 0)
    sock.send(r.encode_message(RTM_GETADDR, r.NLM_F_REQUEST | NLM_F_DUMP, 1, header, []))
    found: list[tuple[int, IPInterface]] = []
    while True:
        part, done = parse_addresses(sock.recv(65536), wanted)
        found += part
        if done:
            return found


def find_address_holders(ips: Collection[IPAddress], paths: Iterable[str], *,
                         skip: Collection[NetnsId] = ()) -> list[AddressHit]:
    """Every address among `ips` held on any link of the namespaces at `paths` (the caller's
    own included unless in `skip`). Namespaces that vanish meanwhile are passed over."""
    wanted = set(ips)
    packed = {ip.packed for ip in wanted}
    todo: list[str] = []
    ids: dict[str, NetnsId] = {}
    seen: set[NetnsId] = set()
    for path in dict.fromkeys(paths):
        try:
            st = os.stat(path)
        except OSError:
            continue
        ident = NetnsId(st.st_dev, st.st_ino)
        if ident in skip or ident in seen:
            continue
        seen.add(ident)
        ids[path] = ident
        todo.append(path)
    if not wanted or not todo:
        return []
    versions = {ip.version for ip in wanted}  # one family: the kernel skips the other's
    family = socket.AF_UNSPEC if len(versions) > 1 else \
        socket.AF_INET if 4 in versions else socket.AF_INET6
    hits: list[AddressHit] = []
    for path, sock in call_in_each(todo, _netlink_socket):
        if sock is None:
            continue
        with sock:
            try:
                entries = _dump(sock, packed, family)
            except OSError:
                continue
        hits += [AddressHit(path, ids[path], index, iface) for index, iface in entries
                 if iface.ip in wanted]
    return hits

