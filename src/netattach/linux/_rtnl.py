"""Minimal rtnetlink request encoder for link changes (stdlib only).

pyroute2 0.9.7 cannot encode some attributes we need (IFLA_MACVLAN_BC_QUEUE_LEN) and
hides the kernel's extended ack text; link writes therefore go through this encoder:
one request, one ack, the errno and extack message returned.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
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
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_SETLINK = 19

AF_UNSPEC = 0
AF_BRIDGE = 7

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_PROTINFO = 12
IFLA_TXQLEN = 13
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_AF_SPEC = 26
IFLA_NET_NS_FD = 28
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

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}


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


class RtnlSocket:
    """A NETLINK_ROUTE socket in the namespace of the thread that creates it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self._sock.bind((0, 0))
        self._seq = int.from_bytes(os.urandom(2), "little")

    def request(self, msg_type: int, flags: int, header: bytes,
                attrs: Iterable[Attr]) -> tuple[int, str]:
        """Send one request with NLM_F_ACK; return (errno, extack text)."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        self._sock.send(encode_message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq,
                                       header, attrs))
        while True:
            data = self._sock.recv(65536)
            try:
                return parse_ack(data, seq)
            except OSError:
                continue

    def close(self) -> None:
        self._sock.close()
