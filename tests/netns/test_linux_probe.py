"""ARP probes (RFC 5227) and DAD solicitations (RFC 4862) on a veth between two test
namespaces: the "other host" holds the addresses and its kernel answers by itself."""

from __future__ import annotations

import subprocess
import threading

import pytest

from netattach.linux import run_in_netns
from netattach.linux.probe import (
    ProbeBudget,
    ProbeError,
    arp_probe,
    dad_probe,
    probe_addresses,
)

pytestmark = pytest.mark.root

QUICK = {"probes": 2, "timeout": 0.1}


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def wire(netns_factory, ip_json):
    """(prober ns, its veth, other host ns, its veth, the other host's MAC); the other host
    has 192.0.2.2/24 and 2001:db8::2/64."""
    me = netns_factory.make_netns("me")
    other = netns_factory.make_netns("other")
    mine, theirs = netns_factory.make_veth(me, other)
    ip("-n", other.name, "addr", "add", "192.0.2.2/24", "dev", theirs)
    ip("-n", other.name, "addr", "add", "2001:db8::2/64", "dev", theirs, "nodad")
    [link] = ip_json("link", "show", "dev", theirs, netns=other.name)
    return me, mine, other, theirs, link["address"]


def test_arp_probe_gets_the_mac_of_the_holder(wire) -> None:
    me, mine, _other, _theirs, mac = wire
    assert arp_probe(mine, "192.0.2.2", netns=me.path) == mac


def test_arp_probe_for_a_free_address_is_silence(wire) -> None:
    me, mine, _other, _theirs, _mac = wire
    assert arp_probe(mine, "192.0.2.3", netns=me.path, **QUICK) is None
    # the holder's other address family is not an answer either
    assert arp_probe(mine, "198.51.100.2", netns=me.path, **QUICK) is None


def test_dad_probe_gets_the_mac_of_the_holder_and_silence_otherwise(wire) -> None:
    me, mine, _other, _theirs, mac = wire
    assert dad_probe(mine, "2001:db8::2", netns=me.path) == mac
    assert dad_probe(mine, "2001:db8::3", netns=me.path, **QUICK) is None


def test_all_addresses_at_once_and_in_the_callers_namespace(wire) -> None:
    me, mine, _other, _theirs, mac = wire
    ips = ["192.0.2.3", "2001:db8::3", "2001:db8::2"]
    found = probe_addresses(mine, ips, netns=me.path)
    assert {str(k): v for k, v in found.items()} == {"2001:db8::2": mac}
    # netns=None: the caller's namespace
    found = run_in_netns(me.path, probe_addresses, mine, ["192.0.2.2"])
    assert {str(k): v for k, v in found.items()} == {"192.0.2.2": mac}
    assert probe_addresses(mine, ["192.0.2.4", "2001:db8::4"], netns=me.path,
                           budget=ProbeBudget(**QUICK)) == {}


def _probe_while_the_other_probes(prober, link, other, other_link) -> str | None:
    """What `prober` sees in a full probe (10 probes over 2 s) for 192.0.2.9 while
    `other` keeps probing for it too, one probe at a time, until ours is done."""
    seen: list[str | None] = []
    probing = threading.Thread(target=lambda: seen.append(
        arp_probe(link, "192.0.2.9", netns=prober.path, probes=10, timeout=2.0)))
    probing.start()
    while probing.is_alive():
        arp_probe(other_link, "192.0.2.9", netns=other.path, probes=1, timeout=0.2)
    probing.join()
    return seen[0]


def test_two_hosts_probing_for_one_address_see_each_other(wire, ip_json) -> None:
    """RFC 5227 2.1.1: another host's probe for the same address is a conflict too, seen
    from either side. (Each side is checked on its own: a prober stops at the first
    conflict, so with both probing once, only the one that listened first must see it.)"""
    me, mine, other, theirs, their_mac = wire
    [link] = ip_json("link", "show", "dev", mine, netns=me.name)
    assert _probe_while_the_other_probes(me, mine, other, theirs) == their_mac
    assert _probe_while_the_other_probes(other, theirs, me, mine) == link["address"]


def test_a_link_that_is_down_cannot_be_probed(wire) -> None:
    me, mine, _other, _theirs, _mac = wire
    ip("-n", me.name, "link", "set", mine, "down")
    with pytest.raises(ProbeError, match="is the link up"):
        arp_probe(mine, "192.0.2.2", netns=me.path, **QUICK)
    with pytest.raises(ProbeError, match="not an Ethernet link"):
        arp_probe("lo", "192.0.2.2", netns=me.path, **QUICK)
    with pytest.raises(ProbeError, match="nosuchlink"):
        arp_probe("nosuchlink", "192.0.2.2", netns=me.path, **QUICK)
