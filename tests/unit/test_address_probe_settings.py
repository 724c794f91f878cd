"""The address probe's settings (NAD key, node-wide variable) and its frames, without root."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from netattach.cni.errors import CNIError
from netattach.linux import probe as p
from netattach.plugins.address_probe import OFF, ProbeSettings, probe_settings

MINE = bytes.fromhex("020000000001")
THEIRS = bytes.fromhex("020000000002")


@pytest.mark.parametrize(("raw", "env", "want"), [
    ({}, {}, OFF),
    ({"addressProbe": True}, {}, ProbeSettings(True, 3, 300)),
    ({"addressProbe": {"timeoutMs": 120}}, {}, ProbeSettings(True, 3, 120)),
    ({"addressProbe": {"probes": 1, "timeoutMs": 50}}, {}, ProbeSettings(True, 1, 50)),
    ({}, {"NETATTACH_ADDRESS_PROBE": "true"}, ProbeSettings(True, 3, 300)),
    ({}, {"NETATTACH_ADDRESS_PROBE": '{"probes": 5}'}, ProbeSettings(True, 5, 300)),
    ({}, {"NETATTACH_ADDRESS_PROBE": " "}, OFF),
    ({"addressProbe": False}, {"NETATTACH_ADDRESS_PROBE": "true"}, OFF),  # the NAD opts out
])
def test_settings(raw, env, want) -> None:
    assert probe_settings(raw, env) == want


@pytest.mark.parametrize(("raw", "env", "where"), [
    ({"name": "mv", "addressProbe": "yes"}, {}, "network 'mv': \"addressProbe\" is invalid"),
    ({"addressProbe": {"timeoutMs": 0}}, {}, '"addressProbe" is invalid'),
    ({"addressProbe": {"probes": 11}}, {}, '"addressProbe" is invalid'),
    ({"addressProbe": {"timeout": 300}}, {}, '"addressProbe" is invalid'),
    ({}, {"NETATTACH_ADDRESS_PROBE": "on"}, "$NETATTACH_ADDRESS_PROBE is invalid"),
    ({}, {"NETATTACH_ADDRESS_PROBE": "[1]"}, "$NETATTACH_ADDRESS_PROBE is invalid"),
])
def test_invalid_settings_name_the_key(raw, env, where) -> None:
    with pytest.raises(CNIError) as e:
        probe_settings(raw, env)
    assert e.value.code == 7 and e.value.msg == where
    assert '{"probes": 1..10, "timeoutMs": 1..5000}' in e.value.details


def arp(op: int, sha: bytes, spa: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha,
                       ipaddress.IPv4Address(spa).packed, bytes(6),
                       ipaddress.IPv4Address(tpa).packed)


def test_arp_probe_frame_and_what_counts_as_a_claim() -> None:
    target = ipaddress.IPv4Address("192.0.2.2")
    frame = p.arp_probe_frame(MINE, target)
    assert frame == arp(1, MINE, "0.0.0.0", "192.0.2.2")
    want = {target.packed: target}
    assert p.parse_arp(arp(2, THEIRS, "192.0.2.2", "0.0.0.0"), THEIRS, MINE, want) == (
        target, THEIRS)  # the reply
    assert p.parse_arp(arp(1, THEIRS, "192.0.2.2", "192.0.2.2"), THEIRS, MINE, want) == (
        target, THEIRS)  # an announcement
    assert p.parse_arp(arp(1, THEIRS, "0.0.0.0", "192.0.2.2"), THEIRS, MINE, want) == (
        target, THEIRS)  # another host probing for it
    assert p.parse_arp(frame, MINE, MINE, want) is None  # our own probe
    assert p.parse_arp(arp(1, THEIRS, "192.0.2.7", "192.0.2.2"), THEIRS, MINE, want) is None
    assert p.parse_arp(arp(2, THEIRS, "192.0.2.3", "0.0.0.0"), THEIRS, MINE, want) is None


def test_dad_solicitation_is_a_valid_ns_from_unspecified() -> None:
    target = ipaddress.IPv6Address("2001:db8::1:2345")
    pkt = p.dad_solicitation(target)
    ver, plen, nxt, hops, src, dst = struct.unpack("!IHBB16s16s", pkt[:40])
    assert (ver >> 28, plen, nxt, hops) == (6, 24, 58, 255)
    assert src == bytes(16) and dst == ipaddress.IPv6Address("ff02::1:ff01:2345").packed
    assert p.multicast_mac(ipaddress.IPv6Address(dst)) == bytes.fromhex("3333ff012345")
    body = pkt[40:]
    assert body[0] == 135 and body[8:24] == target.packed
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    assert p._checksum(pseudo + body) == 0  # a correct checksum sums to 0xffff


def na(target: ipaddress.IPv6Address, tlla: bytes | None) -> bytes:
    opts = b"\x02\x01" + tlla if tlla else b""
    icmp = struct.pack("!BBHI16s", 136, 0, 0, 0x60000000, target.packed) + opts
    return struct.pack("!IHBB16s16s", 0x60000000, len(icmp), 58, 255, target.packed,
                       ipaddress.IPv6Address("ff02::1").packed) + icmp


def test_neighbour_advertisement_and_simultaneous_dad() -> None:
    target = ipaddress.IPv6Address("2001:db8::2")
    want = {target.packed: target}
    other = bytes.fromhex("020000000003")
    assert p.parse_nd(na(target, other), THEIRS, MINE, want) == (target, other)  # TLLA wins
    assert p.parse_nd(na(target, None), THEIRS, MINE, want) == (target, THEIRS)
    assert p.parse_nd(na(ipaddress.IPv6Address("2001:db8::3"), None), THEIRS, MINE,
                      want) is None
    assert p.parse_nd(p.dad_solicitation(target), THEIRS, MINE, want) == (target, THEIRS)
    assert p.parse_nd(p.dad_solicitation(target), MINE, MINE, want) is None


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="probes >= 1"):
        p.ProbeBudget(0, 0.3)
    with pytest.raises(ValueError, match="timeout > 0"):
        p.ProbeBudget(3, 0)
