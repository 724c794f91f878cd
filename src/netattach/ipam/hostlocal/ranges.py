"""host-local's address ranges and range sets, canonicalised as the reference plugin does."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from netattach.cni.errors import plugin_error
from netattach.cni.types import IPAddress, IPNetwork


def _addr(value: Any, what: str) -> IPAddress:
    try:
        addr = ipaddress.ip_address(str(value).split("/")[0].strip())
    except ValueError:
        raise plugin_error(f"invalid {what}: {value!r}",
                           "expected an IP address such as 192.0.2.10") from None
    return addr.ipv4_mapped or addr if isinstance(addr, ipaddress.IPv6Address) else addr


@dataclass(frozen=True)
class Range:
    """One pool: `subnet`, the inclusive [start, end] to allocate from, and its gateway."""

    subnet: IPNetwork
    start: IPAddress
    end: IPAddress
    gateway: IPAddress

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Range:
        if not isinstance(raw, Mapping):
            raise plugin_error("each range must be an object",
                               'e.g. {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10"}')
        text = raw.get("subnet")
        try:
            iface = ipaddress.ip_interface(str(text))
        except ValueError:
            raise plugin_error(f"invalid subnet {text!r}",
                               "write the subnet in CIDR notation, e.g. 192.0.2.0/24") from None
        if "/" not in str(text):
            raise plugin_error(f"invalid subnet {text!r}",
                               "write the subnet in CIDR notation, e.g. 192.0.2.0/24")
        subnet = iface.network
        if subnet.prefixlen > subnet.max_prefixlen - 2:
            raise plugin_error(f"Network {text} too small to allocate from",
                               "use a subnet with at least two usable addresses (/30 or wider "
                               "for IPv4, /126 or wider for IPv6)")
        if iface.ip != subnet.network_address:
            raise plugin_error(
                f"network has host bits set. For a subnet mask of length {subnet.prefixlen} "
                f"the network address is {subnet.network_address}",
                f'write "subnet": "{subnet}"')
        gateway = _addr(raw["gateway"], "gateway") if raw.get("gateway") else \
            subnet.network_address + 1
        start = _addr(raw["rangeStart"], "rangeStart") if raw.get("rangeStart") else \
            subnet.network_address + 1
        if raw.get("rangeEnd"):
            end = _addr(raw["rangeEnd"], "rangeEnd")
        else:
            end = subnet.broadcast_address - 1 if subnet.version == 4 else subnet.broadcast_address
        for name, value in (("RangeStart", start), ("RangeEnd", end)):
            if value not in subnet:
                raise plugin_error(f"{name} {value} not in network {subnet}",
                                   f"pick {name[0].lower()}{name[1:]} inside {subnet}")
        if end < start:
            raise plugin_error(f"RangeEnd {end} is before RangeStart {start} in {subnet}",
                               "rangeEnd must not be before rangeStart")
        return cls(subnet, start, end, gateway)

    def contains(self, addr: IPAddress) -> bool:
        return addr.version == self.subnet.version and addr in self.subnet \
            and self.start <= addr <= self.end

    def overlaps(self, other: Range) -> bool:
        return self.subnet.version == other.subnet.version and (
            self.contains(other.start) or self.contains(other.end)
            or other.contains(self.start) or other.contains(self.end))

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class RangeSet:
    """Ranges of one family; an ADD gets one address from each range set."""

    ranges: tuple[Range, ...]

    @classmethod
    def from_json(cls, raw: Any) -> RangeSet:
        if not isinstance(raw, list) or not raw:
            raise plugin_error("empty range set",
                               'each entry of "ranges" is a non-empty list of ranges')
        ranges = tuple(Range.from_json(r) for r in raw)
        if len({r.subnet.version for r in ranges}) > 1:
            raise plugin_error("mixed address families",
                               "put IPv4 and IPv6 ranges in separate range sets")
        for i, a in enumerate(ranges):
            for b in ranges[i + 1:]:
                if a.overlaps(b):
                    raise plugin_error(f"subnets {a} and {b} overlap",
                                       "ranges of one set must not share addresses")
        return cls(ranges)

    @property
    def version(self) -> int:
        return self.ranges[0].subnet.version

    def range_for(self, addr: IPAddress) -> Range | None:
        return next((r for r in self.ranges if r.contains(addr)), None)

    def contains(self, addr: IPAddress) -> bool:
        return self.range_for(addr) is not None

    def overlaps(self, other: RangeSet) -> bool:
        return any(a.overlaps(b) for a in self.ranges for b in other.ranges)

    def iterate_from(self, last: IPAddress | None) -> Iterator[tuple[IPAddress, Range]]:
        """Candidates in round-robin order: after `last` if it is in the set, else from the start.

        Each address of every range is visited once; gateways are skipped.
        """
        idx, cur = 0, None
        if last is not None:
            for i, r in enumerate(self.ranges):
                if r.contains(last):
                    idx, cur = i, last
                    break
        first: IPAddress | None = None
        while True:
            r = self.ranges[idx]
            if cur is None:
                cur = r.start
            elif cur == r.end:
                idx = (idx + 1) % len(self.ranges)
                r = self.ranges[idx]
                cur = r.start
            else:
                cur = cur + 1
            if first is None:
                first = cur
            elif cur == first:
                return
            if cur != r.gateway:
                yield cur, r

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.ranges)
