"""host-local ranges and range sets: defaults, validation, round-robin order."""

import ipaddress

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.ipam.hostlocal.ranges import Range, RangeSet


def ip(text):
    return ipaddress.ip_address(text)


def rangeset(*ranges):
    return RangeSet.from_json(list(ranges))


@pytest.mark.parametrize("raw,start,end,gateway", [
    ({"subnet": "192.0.2.0/24"}, "192.0.2.1", "192.0.2.254", "192.0.2.1"),
    ({"subnet": "192.0.2.0/30"}, "192.0.2.1", "192.0.2.2", "192.0.2.1"),
    ({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100", "rangeEnd": "192.0.2.200",
      "gateway": "192.0.2.254"}, "192.0.2.100", "192.0.2.200", "192.0.2.254"),
    # a prefix on the addresses is ignored, as the reference's ParseIP does
    ({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10/24"}, "192.0.2.10", "192.0.2.254",
     "192.0.2.1"),
    # IPv6: the range ends at the last address (no broadcast)
    ({"subnet": "2001:db8::/64"}, "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff",
     "2001:db8::1"),
    ({"subnet": "2001:db8::/126"}, "2001:db8::1", "2001:db8::3", "2001:db8::1"),
    # IPv4-mapped IPv6 addresses are canonicalised to IPv4
    ({"subnet": "192.0.2.0/24", "rangeStart": "::ffff:192.0.2.20"}, "192.0.2.20",
     "192.0.2.254", "192.0.2.1"),
    # empty strings are "not set", as Go's zero value
    ({"subnet": "192.0.2.0/24", "rangeStart": "", "rangeEnd": "", "gateway": ""},
     "192.0.2.1", "192.0.2.254", "192.0.2.1"),
])
def test_range_defaults(raw, start, end, gateway):
    r = Range.from_json(raw)
    assert (r.start, r.end, r.gateway) == (ip(start), ip(end), ip(gateway))
    assert str(r) == f"{start}-{end}"


@pytest.mark.parametrize("raw,msg", [
    ({"subnet": "192.0.2.0/31"}, "Network 192.0.2.0/31 too small to allocate from"),
    ({"subnet": "192.0.2.7/32"}, "Network 192.0.2.7/32 too small to allocate from"),
    ({"subnet": "2001:db8::/127"}, "Network 2001:db8::/127 too small to allocate from"),
    ({"subnet": "192.0.2.1/24"}, "network has host bits set. For a subnet mask of length 24 "
     "the network address is 192.0.2.0"),
    ({"subnet": "192.0.2.0"}, "invalid subnet '192.0.2.0'"),
    ({"subnet": "nope/24"}, "invalid subnet 'nope/24'"),
    ({}, "invalid subnet None"),
    ({"subnet": "192.0.2.0/24", "rangeStart": "198.51.100.1"},
     "RangeStart 198.51.100.1 not in network 192.0.2.0/24"),
    ({"subnet": "192.0.2.0/24", "rangeEnd": "192.0.3.0"},
     "RangeEnd 192.0.3.0 not in network 192.0.2.0/24"),
    ({"subnet": "192.0.2.0/24", "rangeStart": "2001:db8::1"},
     "RangeStart 2001:db8::1 not in network 192.0.2.0/24"),
    ({"subnet": "192.0.2.0/24", "rangeStart": "x"}, "invalid rangeStart: 'x'"),
    ({"subnet": "192.0.2.0/24", "gateway": "x"}, "invalid gateway: 'x'"),
    ("192.0.2.0/24", "each range must be an object"),
])
def test_range_refused(raw, msg):
    with pytest.raises(CNIError) as e:
        Range.from_json(raw)
    assert e.value.code == Code.INTERNAL  # a plugin error, as the reference's plain errors
    assert e.value.msg == msg
    assert e.value.details


def test_range_end_before_start_refused():
    with pytest.raises(CNIError) as e:
        Range.from_json({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.200",
                         "rangeEnd": "192.0.2.100"})
    assert e.value.msg == ("RangeEnd 192.0.2.100 is before RangeStart 192.0.2.200 in "
                           "192.0.2.0/24")
    assert e.value.details == "rangeEnd must not be before rangeStart"


def test_range_contains():
    r = Range.from_json({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10",
                         "rangeEnd": "192.0.2.20"})
    assert [r.contains(ip(a)) for a in ("192.0.2.9", "192.0.2.10", "192.0.2.20", "192.0.2.21",
                                         "2001:db8::10")] == [False, True, True, False, False]


@pytest.mark.parametrize("ranges,msg", [
    ([], "empty range set"),
    ([{"subnet": "192.0.2.0/24"}, {"subnet": "2001:db8::/64"}], "mixed address families"),
    ([{"subnet": "192.0.2.0/24"}, {"subnet": "192.0.2.0/25"}],
     "subnets 192.0.2.1-192.0.2.254 and 192.0.2.1-192.0.2.126 overlap"),
    ([{"subnet": "192.0.2.0/24", "rangeEnd": "192.0.2.100"},
      {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100"}],
     "subnets 192.0.2.1-192.0.2.100 and 192.0.2.100-192.0.2.254 overlap"),
])
def test_rangeset_refused(ranges, msg):
    with pytest.raises(CNIError) as e:
        RangeSet.from_json(ranges)
    assert e.value.msg == msg


def test_rangeset_of_disjoint_pools_in_one_subnet():
    rs = rangeset({"subnet": "192.0.2.0/24", "rangeEnd": "192.0.2.99"},
                  {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100"})
    assert rs.version == 4 and str(rs) == "192.0.2.1-192.0.2.99,192.0.2.100-192.0.2.254"
    assert rs.range_for(ip("192.0.2.150")) is rs.ranges[1]
    assert rs.range_for(ip("198.51.100.1")) is None


@pytest.mark.parametrize("a,b,overlap", [
    ([{"subnet": "192.0.2.0/24"}], [{"subnet": "192.0.2.0/25"}], True),
    ([{"subnet": "192.0.2.0/24"}], [{"subnet": "198.51.100.0/24"}], False),
    ([{"subnet": "192.0.2.0/24", "rangeEnd": "192.0.2.9"}],
     [{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10"}], False),
    ([{"subnet": "192.0.2.0/24"}], [{"subnet": "2001:db8::/64"}], False),
])
def test_rangeset_overlaps(a, b, overlap):
    assert RangeSet.from_json(a).overlaps(RangeSet.from_json(b)) is overlap
    assert RangeSet.from_json(b).overlaps(RangeSet.from_json(a)) is overlap


TWO_POOLS = ({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10", "rangeEnd": "192.0.2.12"},
             {"subnet": "198.51.100.0/24", "rangeStart": "198.51.100.1",
              "rangeEnd": "198.51.100.3"})


@pytest.mark.parametrize("last,expected", [
    (None, ["192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.2", "198.51.100.3"]),
    # after the last reserved one, wrapping across pools; the last one comes last
    ("192.0.2.11", ["192.0.2.12", "198.51.100.2", "198.51.100.3", "192.0.2.10",
                    "192.0.2.11"]),
    ("198.51.100.3", ["192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.2",
                      "198.51.100.3"]),
    # the gateway is never a candidate, not even as the last reserved
    ("198.51.100.1", ["198.51.100.2", "198.51.100.3", "192.0.2.10", "192.0.2.11",
                      "192.0.2.12"]),
    # outside the set (the ranges changed): from the start
    ("203.0.113.7", ["192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.2",
                     "198.51.100.3"]),
])
def test_iterate_from_round_robin(last, expected):
    rs = rangeset(*TWO_POOLS)
    got = [(str(a), r) for a, r in rs.iterate_from(ip(last) if last else None)]
    assert [a for a, _ in got] == expected
    assert all(r.contains(ip(a)) for a, r in got)  # each with the pool it came from


def test_iterate_single_address_that_is_the_gateway():
    rs = rangeset({"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.1", "rangeEnd": "192.0.2.1"})
    assert list(rs.iterate_from(None)) == []


def test_iterate_ipv6():
    rs = rangeset({"subnet": "2001:db8::/126"})
    assert [str(a) for a, _ in rs.iterate_from(ip("2001:db8::2"))] == [
        "2001:db8::3", "2001:db8::2"]
