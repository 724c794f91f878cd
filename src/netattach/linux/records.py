"""Frozen records returned by netattach.linux (no netlink objects ever leak out)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# rtnetlink scopes (rtm_scope / ifa_scope)
SCOPES: dict[str, int] = {"universe": 0, "global": 0, "site": 200, "link": 253, "host": 254,
                          "nowhere": 255}

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200

IFA_F_DADFAILED = 0x08
IFA_F_NODAD = 0x02
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_NOPREFIXROUTE = 0x200


def scope_value(scope: int | str | None) -> int | None:
    """Return the numeric scope for 'link'/'host'/'universe'/... or an int (None passes)."""
    if scope is None or isinstance(scope, int):
        return scope
    try:
        return SCOPES[scope]
    except KeyError:
        raise ValueError(f"unknown route scope {scope!r} (expected one of {sorted(SCOPES)})")\
            from None


@dataclass(frozen=True)
class Link:
    """One network interface as seen from the namespace `netns`.

    `parent_index` is IFLA_LINK (the lower device of vlan/macvlan/ipvlan, the peer of a
    veth); when `link_netnsid` is set, that index lives in another namespace.
    """

    index: int
    name: str
    kind: str  # "" for devices without IFLA_LINKINFO (physical NICs, lo)
    mac: str | None
    mtu: int
    flags: int
    admin_up: bool
    oper_state: str  # "UP", "DOWN", "UNKNOWN", "LOWERLAYERDOWN", ...
    master: int | None
    parent_index: int | None
    link_netnsid: int | None
    txqlen: int | None
    alias: str | None
    vlan_id: int | None = None
    macvlan_mode: str | None = None
    ipvlan_mode: str | None = None
    netns: str = ""

    @property
    def promisc(self) -> bool:
        return bool(self.flags & IFF_PROMISC)

    @property
    def allmulti(self) -> bool:
        return bool(self.flags & IFF_ALLMULTI)


@dataclass(frozen=True)
class Address:
    """An IP address on link `index` (`interface` carries the prefix length)."""

    index: int
    interface: IPInterface
    scope: int
    flags: int
    label: str | None = None

    @property
    def ip(self) -> IPAddress:
        return self.interface.ip

    @property
    def family(self) -> int:
        return self.interface.version

    @property
    def tentative(self) -> bool:
        return bool(self.flags & IFA_F_TENTATIVE)

    @property
    def dad_failed(self) -> bool:
        return bool(self.flags & IFA_F_DADFAILED)


@dataclass(frozen=True)
class Route:
    """A route. For input, unset fields (None) are left to the kernel's defaults."""

    dst: IPNetwork
    gateway: IPAddress | None = None
    oif: int | None = None
    scope: int | None = None
    table: int | None = None
    priority: int | None = None
    src: IPAddress | None = None
    mtu: int | None = None
    advmss: int | None = None
    protocol: int | None = None
    type: int | None = None

    @property
    def family(self) -> int:
        return self.dst.version

    @property
    def is_default(self) -> bool:
        return self.dst.prefixlen == 0


@dataclass(frozen=True)
class VethPair:
    """A veth pair: `name` in the namespace that created it, `peer_name` in the peer's."""

    name: str
    peer_name: str
