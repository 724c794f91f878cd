"""Is an address already in use on the wire? Probe for it before configuring it (stdlib only).

IPv4: RFC 5227 ARP probes (sender IP 0.0.0.0, target the address, broadcast). IPv6: the
neighbour solicitation of RFC 4862 duplicate address detection (source ::, to the target's
solicited-node group). We send them ourselves on an AF_PACKET socket instead of asking the
kernel to run DAD because we get the MAC that answered, a budget in milliseconds (the
kernel's DAD waits up to rtr_solicit_delay + retrans_time, one to two seconds), and nothing
is left behind (no `dadfailed` address to remove).

A conflict is any host but us that answers for the address, announces it (ARP with that
sender IP), or probes for it at the same time (RFC 5227 2.1.1, RFC 4862 5.4.3). The socket
is opened inside the namespace (on a worker thread), then used from the caller's thread.
RFC 5227's own timings (1 to 2 s between probes) are far above what an ADD can wait, so the
default budget is 3 probes in 300 ms: a host that answers ARP at all answers in well under
a millisecond on a LAN.
"""

from __future__ import annotations

import ctypes
import ipaddress
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netattach.linux.errors import LinuxNetError
from netattach.linux.netns import NetnsRef, run_in_netns

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ARPHRD_ETHER = 1
PACKET_OUTGOING = 4
SOL_PACKET = 263
SO_ATTACH_FILTER = 26
SKF_AD_OFF = 0xFFFFF000  # -0x1000: the BPF "ancillary data" loads
SKF_AD_PROTOCOL, SKF_AD_PKTTYPE = 0, 4
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_MULTICAST = 0
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
ICMPV6, ND_NS, ND_NA, ND_OPT_TLLA = 58, 135, 136, 2
BROADCAST = b"\xff" * 6
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
UNSPECIFIED6 = bytes(16)

DEFAULT_PROBES = 3
DEFAULT_TIMEOUT = 0.3  # seconds for all probes of one call, answered or not

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ProbeError(LinuxNetError):
    """The probe could not run (no such interface, not Ethernet, link down...)."""


@dataclass(frozen=True)
class ProbeBudget:
    """`probes` probes per address, evenly spread over `timeout` seconds (the wait included)."""

    probes: int = DEFAULT_PROBES
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.probes < 1 or self.timeout <= 0:
            raise ValueError(f"a probe budget needs probes >= 1 and timeout > 0, got "
                             f"{self.probes} probes in {self.timeout}s")


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


# -- frames ---------------------------------------------------------------------------------
def arp_probe_frame(mac: bytes, target: ipaddress.IPv4Address) -> bytes:
    """An ARP probe: request, sender MAC ours, sender IP 0.0.0.0, target MAC zero."""
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, ARPOP_REQUEST, mac, bytes(4),
                       bytes(6), target.packed)


def solicited_node(target: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + target.packed[13:])


def multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    return b"\x33\x33" + group.packed[12:]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def dad_solicitation(target: ipaddress.IPv6Address) -> bytes:
    """The IPv6 packet of a DAD probe: NS from ::, hop limit 255, to the solicited-node group,
    no source link-layer option (RFC 4861 7.1.1 forbids it with an unspecified source)."""
    dst = solicited_node(target).packed
    body = struct.pack("!BBHI16s", ND_NS, 0, 0, 0, target.packed)
    pseudo = UNSPECIFIED6 + dst + struct.pack("!I3xB", len(body), ICMPV6)
    body = body[:2] + struct.pack("!H", _checksum(pseudo + body)) + body[4:]
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), ICMPV6, 255, UNSPECIFIED6,
                       dst) + body


def parse_arp(payload: bytes, src_mac: bytes, own_mac: bytes,
              targets: dict[bytes, ipaddress.IPv4Address]) -> tuple[IPAddress, bytes] | None:
    """(address, MAC) if this ARP packet says another host has, or probes for, one of
    `targets` (keyed by packed address)."""
    if len(payload) < 28:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = struct.unpack(
        "!HHBBH6s4s6s4s", payload[:28])
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4 or own_mac in (sha, src_mac):
        return None
    if spa in targets:  # a reply, an announcement, or any packet from the holder
        return targets[spa], sha
    if op == ARPOP_REQUEST and spa == bytes(4) and tpa in targets:  # probing at the same time
        return targets[tpa], sha
    return None


def parse_nd(payload: bytes, src_mac: bytes, own_mac: bytes,
             targets: dict[bytes, ipaddress.IPv6Address]) -> tuple[IPAddress, bytes] | None:
    """(address, MAC) if this IPv6 packet is a neighbour advertisement for one of `targets`,
    or another host's DAD solicitation for one."""
    if len(payload) < 40 + 24 or payload[0] >> 4 != 6 or payload[6] != ICMPV6:
        return None
    src = payload[8:24]
    icmp = payload[40:]
    kind, target = icmp[0], icmp[8:24]
    if target not in targets or src_mac == own_mac:
        return None
    if kind == ND_NA:
        mac = src_mac
        opts = icmp[24:]
        while len(opts) >= 8 and opts[1]:
            if opts[0] == ND_OPT_TLLA and opts[1] == 1:
                mac = opts[2:8]
                break
            opts = opts[opts[1] * 8:]
        return targets[target], mac
    if kind == ND_NS and src == UNSPECIFIED6:
        return targets[target], src_mac
    return None


# -- the socket -------------------------------------------------------------------------------
def _bpf(*insns: tuple[int, int, int, int]) -> bytes:
    return b"".join(struct.pack("HBBI", *i) for i in insns)


# Keep ARP and ICMPv6 (no extension header) that did not come from us; drop the rest in the
# kernel, so a busy link costs no Python. Offsets are from the network header (SOCK_DGRAM).
_FILTER = _bpf(
    (0x20, 0, 0, SKF_AD_OFF + SKF_AD_PKTTYPE),   # ld pkttype
    (0x15, 6, 0, PACKET_OUTGOING),               # outgoing: drop
    (0x20, 0, 0, SKF_AD_OFF + SKF_AD_PROTOCOL),  # ld protocol
    (0x15, 3, 0, ETH_P_ARP),                     # ARP: keep
    (0x15, 0, 3, ETH_P_IPV6),                    # not IPv6: drop
    (0x30, 0, 0, 6),                             # ldb next header
    (0x15, 0, 1, ICMPV6),                        # not ICMPv6: drop
    (0x06, 0, 0, 0xFFFF),                        # keep
    (0x06, 0, 0, 0),                             # drop
)


def _open(ifname: str, groups: Sequence[bytes]) -> tuple[socket.socket, bytes]:
    """One packet socket on `ifname` (in the calling thread's namespace) for ARP and
    ICMPv6, joined to the multicast `groups`; and the link's MAC.

    One socket for both families: closing a packet socket waits for an RCU grace period
    (8 to 16 ms here), whatever it did. Opened with protocol 0 and bound once, so the kernel
    hooks it in once (a protocol at socket() and again at bind() costs another grace period).
    """
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    except OSError as e:
        raise ProbeError(f"cannot open a packet socket to probe on {ifname}: {e.strerror}",
                         op="probe", obj=ifname, errno=e.errno or 0) from None
    try:
        prog = ctypes.create_string_buffer(_FILTER)
        fprog = struct.pack("HL", len(_FILTER) // 8, ctypes.addressof(prog))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.bind((ifname, ETH_P_ALL))
        _, _, _, hatype, mac = sock.getsockname()
        if hatype != ARPHRD_ETHER or len(mac) != 6:
            raise ProbeError(f"cannot probe on {ifname}: not an Ethernet link (hardware type "
                             f"{hatype})", op="probe", obj=ifname)
        index = socket.if_nametoindex(ifname)
        for group in groups:
            mreq = struct.pack("iHH8s", index, PACKET_MR_MULTICAST, 6, group)
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        sock.setblocking(False)
    except OSError as e:
        _close_later(sock)
        raise ProbeError(f"cannot probe on {ifname}: {e.strerror}", op="probe", obj=ifname,
                         errno=e.errno or 0) from None
    except BaseException:
        _close_later(sock)
        raise
    return sock, mac


def _close_later(sock: socket.socket) -> None:
    """Close on a short-lived thread: the grace period need not delay the caller."""
    threading.Thread(target=sock.close, name="probe-close", daemon=True).start()


def probe_addresses(ifname: str, addresses: Iterable[str | IPAddress], *,
                    netns: NetnsRef | None = None, budget: ProbeBudget = ProbeBudget()
                    ) -> dict[IPAddress, str]:
    """Probe every address on `ifname` (in `netns`, default: the caller's namespace), IPv4 by
    ARP and IPv6 by a DAD solicitation, all at once within one `budget`.

    Returns {address: MAC that claims it} for the first answer (empty: nobody answered
    within the budget). The link must be up. ProbeError when the probe cannot run.
    """
    ips = list(dict.fromkeys(ipaddress.ip_address(a) for a in addresses))
    if not ips:
        return {}
    v4 = {a.packed: a for a in ips if isinstance(a, ipaddress.IPv4Address)}
    v6 = {a.packed: a for a in ips if isinstance(a, ipaddress.IPv6Address)}
    groups = [ALL_NODES_MAC, *dict.fromkeys(multicast_mac(solicited_node(a))
                                            for a in v6.values())] if v6 else []
    if netns is None:
        sock, mac = _open(ifname, groups)
    else:
        sock, mac = run_in_netns(netns, _open, ifname, groups)
    try:
        return _exchange(ifname, sock, mac, v4, v6, budget)
    finally:
        _close_later(sock)


def _exchange(ifname: str, sock: socket.socket, mac: bytes,
              v4: dict[bytes, ipaddress.IPv4Address], v6: dict[bytes, ipaddress.IPv6Address],
              budget: ProbeBudget) -> dict[IPAddress, str]:
    """Send a round of probes every timeout/probes seconds; return at the first claim or at
    the deadline."""
    start = time.monotonic()
    deadline = start + budget.timeout
    interval = budget.timeout / budget.probes
    sent = 0
    while True:
        now = time.monotonic()
        if sent < budget.probes and now >= start + sent * interval:
            _send_round(ifname, sock, mac, v4, v6)
            sent += 1
            continue
        if now >= deadline:
            return {}
        wake = min(deadline, start + sent * interval) if sent < budget.probes else deadline
        ready, _, _ = select.select([sock], [], [], max(0.0, wake - now))
        if ready:
            found = _drain(sock, mac, v4, v6)
            if found is not None:
                return {found[0]: mac_text(found[1])}


def _send_round(ifname: str, sock: socket.socket, mac: bytes,
                v4: dict[bytes, ipaddress.IPv4Address],
                v6: dict[bytes, ipaddress.IPv6Address]) -> None:
    try:
        for a in v4.values():
            sock.sendto(arp_probe_frame(mac, a), (ifname, ETH_P_ARP, 0, ARPHRD_ETHER, BROADCAST))
        for b in v6.values():
            sock.sendto(dad_solicitation(b), (ifname, ETH_P_IPV6, 0, ARPHRD_ETHER,
                                              multicast_mac(solicited_node(b))))
    except OSError as e:
        raise ProbeError(f"cannot send a probe on {ifname}: {e.strerror} (is the link up?)",
                         op="probe", obj=ifname, errno=e.errno or 0) from None


def _drain(sock: socket.socket, mac: bytes, v4: dict[bytes, ipaddress.IPv4Address],
           v6: dict[bytes, ipaddress.IPv6Address]) -> tuple[IPAddress, bytes] | None:
    while True:
        try:
            payload, addr = sock.recvfrom(2048)
        except BlockingIOError:
            return None
        _ifname, proto, pkttype, _hatype, src = addr
        if pkttype == PACKET_OUTGOING:
            continue
        found = (parse_arp(payload, src[:6], mac, v4) if proto == ETH_P_ARP
                 else parse_nd(payload, src[:6], mac, v6) if proto == ETH_P_IPV6 else None)
        if found is not None:
            return found


def arp_probe(ifname: str, address: str | ipaddress.IPv4Address, *,
              netns: NetnsRef | None = None, probes: int = DEFAULT_PROBES,
              timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """RFC 5227 probe for one IPv4 address: the MAC that claims it, or None."""
    ip = ipaddress.IPv4Address(address)
    found = probe_addresses(ifname, [ip], netns=netns, budget=ProbeBudget(probes, timeout))
    return found.get(ip)


def dad_probe(ifname: str, address: str | ipaddress.IPv6Address, *,
              netns: NetnsRef | None = None, probes: int = DEFAULT_PROBES,
              timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """RFC 4862 DAD solicitation for one IPv6 address: the MAC that claims it, or None."""
    ip = ipaddress.IPv6Address(address)
    found = probe_addresses(ifname, [ip], netns=netns, budget=ProbeBudget(probes, timeout))
    return found.get(ip)


__all__ = ["DEFAULT_PROBES", "DEFAULT_TIMEOUT", "ProbeBudget", "ProbeError", "arp_probe",
           "dad_probe", "probe_addresses"]
