"""A small stdlib rtnetlink codec: requests with their ack, dumps, and the few attributes
netattach reads.

Writes: one request, one ack, the errno and the kernel's extended ack text returned (so
kernel error texts reach the user). Reads: `get`/`dump` return raw messages; `decode_*`
turn them into plain dicts of just what `netattach.linux.records` needs. This replaced
pyroute2 (docs/design.md has the numbers: its import alone cost a thin-mode CNI call
190 ms, and its asyncio-based parsing most of the daemon's netlink CPU).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

NETLINK_ROUTE = 0
NETLINK_EXT_ACK = 11
SOL_NETLINK = 270

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_REPLACE = 0x100
NLM_F_ACK_TLVS = 0x200
NLM_F_CAPPED = 0x100
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNSID = 88
RTM_GETNSID = 90

AF_UNSPEC = 0
AF_BRIDGE = 7

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_PROTINFO = 12
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_AF_SPEC = 26
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_VLAN_ID = 1
IFLA_VLAN_PROTOCOL = 5
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_BC_QUEUE_LEN = 7
IFLA_IPVLAN_MODE = 1
VETH_INFO_PEER = 1
IFLA_BR_VLAN_FILTERING = 7
IFLA_BRPORT_MODE = 4  # hairpin
IFLA_BRPORT_ISOLATED = 33
IFLA_BRIDGE_FLAGS = 0
IFLA_BRIDGE_VLAN_INFO = 2
BRIDGE_FLAGS_MASTER = 1
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4

IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS = 1, 2, 3, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_METRICS, RTA_TABLE = (
    1, 4, 5, 6, 7, 8, 15)
RTAX_MTU, RTAX_ADVMSS = 2, 8
NETNSA_NSID, NETNSA_FD = 1, 3

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
OPER_STATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
_MACVLAN_NAMES = {v: k for k, v in MACVLAN_MODES.items()}
_IPVLAN_NAMES = {v: k for k, v in IPVLAN_MODES.items()}


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


@dataclass
class Attr:
    """One netlink attribute; `value` is raw bytes or a list of nested attributes."""

    type: int
    value: bytes | list[Attr] = field(default=b"")
    nested_flag: bool = False

    def encode(self) -> bytes:
        if isinstance(self.value, list):
            payload = b"".join(a.encode() for a in self.value)
        else:
            payload = self.value
        t = self.type | (NLA_F_NESTED if self.nested_flag else 0)
        return _pad(struct.pack("=HH", 4 + len(payload), t) + payload)


def u8(t: int, v: int) -> Attr:
    return Attr(t, struct.pack("=B", v))


def u16(t: int, v: int) -> Attr:
    return Attr(t, struct.pack("=H", v))


def be16(t: int, v: int) -> Attr:
    return Attr(t, struct.pack("!H", v))


def u32(t: int, v: int) -> Attr:
    return Attr(t, struct.pack("=I", v))


def string(t: int, v: str) -> Attr:
    return Attr(t, v.encode() + b"\0")


def raw(t: int, v: bytes) -> Attr:
    return Attr(t, v)


def nested(t: int, attrs: Iterable[Attr], *, flag: bool = False) -> Attr:
    return Attr(t, list(attrs), nested_flag=flag)


def ifinfomsg(*, family: int = AF_UNSPEC, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", family, 0, index, flags, change)


def mac_bytes(mac: str) -> bytes:
    """'aa:bb:cc:dd:ee:ff' -> 6 bytes; ValueError on anything else."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"invalid MAC address {mac!r}")
    return bytes(int(p, 16) for p in parts)


def encode_message(msg_type: int, flags: int, seq: int, header: bytes,
                   attrs: Iterable[Attr]) -> bytes:
    body = header + b"".join(a.encode() for a in attrs)
    return struct.pack("=IHHII", 16 + len(body), msg_type, flags, seq, 0) + body


def parse_ack(data: bytes, seq: int) -> tuple[int, str]:
    """Return (errno, extack message) from an NLMSG_ERROR reply; (0, '') is success."""
    offset = 0
    while offset + 16 <= len(data):
        length, mtype, mflags, mseq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        if mtype == NLMSG_ERROR and mseq == seq:
            (err,) = struct.unpack_from("=i", data, offset + 16)
            text = ""
            if mflags & NLM_F_ACK_TLVS:
                # skip the error code and the echoed request (header only when capped)
                (inner_len,) = struct.unpack_from("=I", data, offset + 20)
                skip = 16 if mflags & NLM_F_CAPPED else inner_len
                pos = offset + 20 + ((skip + 3) & ~3)
                end = offset + length
                while pos + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, pos)
                    if alen < 4:
                        break
                    if atype & 0x3FFF == NLMSGERR_ATTR_MSG:
                        text = data[pos + 4 : pos + alen].split(b"\0", 1)[0].decode(
                            errors="replace"
                        )
                    pos += (alen + 3) & ~3
            return -err, text
        offset += (length + 3) & ~3
    raise OSError(0, "no netlink ack received")


class NetlinkError(OSError):
    """The kernel refused a read (`errno`, with its extended ack text as `strerror`)."""


def _messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each netlink message in one datagram."""
    out = []
    offset = 0
    while offset + 16 <= len(data):
        length, mtype, mflags, mseq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        out.append((mtype, mflags, mseq, data[offset + 16:offset + length]))
        offset += (length + 3) & ~3
    return out


def attributes(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """type -> payload of the attributes in `data[offset:]` (the last one of a type wins)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, offset)
        if alen < 4:
            break
        out[atype & 0x3FFF] = data[offset + 4:offset + alen]
        offset += (alen + 3) & ~3
    return out


def _u32(value: bytes | None) -> int | None:
    return None if value is None or len(value) < 4 else struct.unpack_from("=I", value)[0]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def decode_link(payload: bytes) -> dict[str, object]:
    """An RTM_NEWLINK message as the fields of `records.Link` (without `netns`)."""
    _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", payload)
    a = attributes(payload, 16)
    kind = ""
    vlan_id = macvlan_mode = ipvlan_mode = None
    if IFLA_LINKINFO in a:
        info = attributes(a[IFLA_LINKINFO])
        kind = _text(info.get(IFLA_INFO_KIND)) or ""
        data = attributes(info[IFLA_INFO_DATA]) if IFLA_INFO_DATA in info else {}
        mode = data.get(1)  # IFLA_VLAN_ID, IFLA_MACVLAN_MODE and IFLA_IPVLAN_MODE are all 1
        if mode is not None and kind == "vlan" and len(mode) >= 2:
            vlan_id = struct.unpack_from("=H", mode)[0]
        elif mode is not None and kind in ("macvlan", "macvtap"):
            value = _u32(mode)
            macvlan_mode = _MACVLAN_NAMES.get(value or 0, str(value))
        elif mode is not None and kind in ("ipvlan", "ipvtap") and len(mode) >= 2:
            value = struct.unpack_from("=H", mode)[0]
            ipvlan_mode = _IPVLAN_NAMES.get(value, str(value))
    mac = a.get(IFLA_ADDRESS)
    state = a.get(IFLA_OPERSTATE)
    netnsid = a.get(IFLA_LINK_NETNSID)
    master = _u32(a.get(IFLA_MASTER))
    parent = _u32(a.get(IFLA_LINK))
    return {
        "index": index, "name": _text(a.get(IFLA_IFNAME)) or "", "kind": kind,
        "mac": ":".join(f"{b:02x}" for b in mac) if mac else None,
        "mtu": _u32(a.get(IFLA_MTU)) or 0, "flags": flags,
        "oper_state": OPER_STATES[state[0]] if state and state[0] < len(OPER_STATES)
        else "UNKNOWN",
        "master": master or None, "parent_index": parent or None,
        "link_netnsid": struct.unpack_from("=i", netnsid)[0] if netnsid else None,
        "txqlen": _u32(a.get(IFLA_TXQLEN)), "alias": _text(a.get(IFLA_IFALIAS)) or None,
        "vlan_id": vlan_id, "macvlan_mode": macvlan_mode, "ipvlan_mode": ipvlan_mode,
    }


def decode_addr(payload: bytes) -> tuple[int, int, bytes, int, int, int, str | None]:
    """An RTM_NEWADDR message: (family, prefixlen, address bytes, index, scope, flags,
    label)."""
    family, prefixlen, flags, scope, index = struct.unpack_from("=BBBBI", payload)
    a = attributes(payload, 8)
    raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS) or b""
    extended = _u32(a.get(IFA_FLAGS))
    return (family, prefixlen, raw, index, scope, flags if extended is None else extended,
            _text(a.get(IFA_LABEL)))


def decode_route(payload: bytes) -> dict[str, object]:
    """An RTM_NEWROUTE message as raw fields (addresses as bytes)."""
    family, dst_len, _src_len, _tos, table, proto, scope, rtype, _flags = \
        struct.unpack_from("=BBBBBBBBI", payload)
    a = attributes(payload, 12)
    metrics = attributes(a[RTA_METRICS]) if RTA_METRICS in a else {}
    return {"family": family, "dst_len": dst_len, "dst": a.get(RTA_DST),
            "gateway": a.get(RTA_GATEWAY), "oif": _u32(a.get(RTA_OIF)),
            "scope": scope, "table": _u32(a.get(RTA_TABLE)) or table,
            "priority": _u32(a.get(RTA_PRIORITY)), "src": a.get(RTA_PREFSRC),
            "mtu": _u32(metrics.get(RTAX_MTU)), "advmss": _u32(metrics.get(RTAX_ADVMSS)),
            "protocol": proto, "type": rtype}


class RtnlSocket:
    """A NETLINK_ROUTE socket in the namespace of the thread that creates it; it keeps
    working there from any thread (a lock serialises its users)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self._sock.bind((0, 0))
        self._seq = int.from_bytes(os.urandom(2), "little")
        self._lock = threading.Lock()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def request(self, msg_type: int, flags: int, header: bytes,
                attrs: Iterable[Attr]) -> tuple[int, str]:
        """Send one request with NLM_F_ACK; return (errno, extack text)."""
        with self._lock:
            seq = self._next_seq()
            self._sock.send(encode_message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq,
                                           header, attrs))
            while True:
                data = self._sock.recv(65536)
                try:
                    return parse_ack(data, seq)
                except OSError:
                    continue

    def query(self, msg_type: int, header: bytes, attrs: Iterable[Attr] = (), *,
              dump: bool = False) -> list[tuple[int, bytes]]:
        """A GET (one reply) or a dump (every reply until NLMSG_DONE): (type, payload) of the
        answers. NetlinkError with the kernel's errno when it refuses."""
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        with self._lock:
            seq = self._next_seq()
            self._sock.send(encode_message(msg_type, flags, seq, header, attrs))
            out: list[tuple[int, bytes]] = []
            while True:
                for mtype, mflags, mseq, payload in _messages(self._sock.recv(1 << 17)):
                    if mseq != seq:
                        continue
                    if mtype == NLMSG_ERROR:
                        code, text = parse_ack(
                            struct.pack("=IHHII", 16 + len(payload), mtype, mflags, mseq, 0)
                            + payload, seq)
                        if code:
                            raise NetlinkError(code, text or os.strerror(code))
                        return out
                    if mtype == NLMSG_DONE:
                        return out
                    out.append((mtype, payload))
                    if not dump and not mflags & NLM_F_MULTI:
                        return out

    def close(self) -> None:
        self._sock.close()
