"""CNI result types (the 1.1.0 model) and their JSON forms in every spec version.

The inside of netattach works on one model, `Result`; `Result.to_json(version)` and
`Result.from_json(data, version)` convert exactly as libcni's types/020, 040 and 100 do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import version as versions
from .errors import CNIError, Code

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _decode_error(what: str, value: Any, expected: str) -> CNIError:
    return CNIError(Code.DECODING_FAILURE, f"invalid {what}: {value!r}", f"expected {expected}")


def parse_ip(value: Any, what: str = "IP address") -> IPAddress:
    """Parse a bare IP address (no prefix)."""
    try:
        return ipaddress.ip_address(value)
    except (TypeError, ValueError):
        raise _decode_error(what, value, "an IPv4 or IPv6 address such as 192.0.2.1") from None


def parse_cidr(value: Any, what: str = "address") -> IPInterface:
    """Parse "IP/prefix" keeping the host bits, as CNI's types.ParseCIDR does."""
    if not isinstance(value, str) or "/" not in value:
        raise _decode_error(what, value, "CIDR notation such as 192.0.2.10/24")
    try:
        return ipaddress.ip_interface(value)
    except ValueError:
        raise _decode_error(what, value, "CIDR notation such as 192.0.2.10/24") from None


def parse_network(value: Any, what: str = "route dst") -> IPNetwork:
    """Parse a destination "IP/prefix"; host bits are masked as Go's net.ParseCIDR does."""
    if not isinstance(value, str) or "/" not in value:
        raise _decode_error(what, value, "CIDR notation such as 0.0.0.0/0")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _decode_error(what, value, "CIDR notation such as 0.0.0.0/0") from None


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    v = data.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise _decode_error(key, v, "an integer")
    return v


def _str_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = data.get(key)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _decode_error(f"dns {key}", v, "a list of strings")
    return tuple(v)


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _decode_error(what, value, "a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _decode_error(what, value, "a JSON list")
    return value


@dataclass(frozen=True)
class DNS:
    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out

    @classmethod
    def from_json(cls, data: Any) -> DNS:
        if data is None:
            return cls()
        d = _obj(data, "dns")
        domain = d.get("domain", "")
        if not isinstance(domain, str):
            raise _decode_error("dns domain", domain, "a string")
        return cls(_str_list(d, "nameservers"), domain, _str_list(d, "search"),
                   _str_list(d, "options"))


@dataclass(frozen=True)
class Route:
    dst: IPNetwork
    gw: IPAddress | None = None
    mtu: int = 0
    advmss: int = 0
    priority: int = 0
    table: int | None = None
    scope: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dst": str(self.dst)}
        if self.gw is not None:
            out["gw"] = str(self.gw)
        if self.mtu:
            out["mtu"] = self.mtu
        if self.advmss:
            out["advmss"] = self.advmss
        if self.priority:
            out["priority"] = self.priority
        if self.table is not None:
            out["table"] = self.table
        if self.scope is not None:
            out["scope"] = self.scope
        return out

    @classmethod
    def from_json(cls, data: Any) -> Route:
        d = _obj(data, "route")
        gw = d.get("gw")
        return cls(
            dst=parse_network(d.get("dst")),
            gw=parse_ip(gw, "route gw") if gw not in (None, "") else None,
            mtu=_opt_int(d, "mtu") or 0,
            advmss=_opt_int(d, "advmss") or 0,
            priority=_opt_int(d, "priority") or 0,
            table=_opt_int(d, "table"),
            scope=_opt_int(d, "scope"),
        )


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str = ""
    mtu: int = 0
    sandbox: str = ""
    socket_path: str = ""
    pci_id: str = ""

    def to_json(self, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.mac:
            out["mac"] = self.mac
        v1 = version in versions.V1
        if v1 and self.mtu:
            out["mtu"] = self.mtu
        if self.sandbox:
            out["sandbox"] = self.sandbox
        if v1 and self.socket_path:
            out["socketPath"] = self.socket_path
        if v1 and self.pci_id:
            out["pciID"] = self.pci_id
        return out

    @classmethod
    def from_json(cls, data: Any) -> Interface:
        d = _obj(data, "interface")
        name = d.get("name", "")
        if not isinstance(name, str):
            raise _decode_error("interface name", name, "a string")
        return cls(name=name, mac=str(d.get("mac", "") or ""), mtu=_opt_int(d, "mtu") or 0,
                   sandbox=str(d.get("sandbox", "") or ""),
                   socket_path=str(d.get("socketPath", "") or ""),
                   pci_id=str(d.get("pciID", "") or ""))


@dataclass(frozen=True)
class IPConfig:
    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None

    @property
    def family(self) -> str:
        return str(self.address.version)

    def to_json(self, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if version in versions.V04:
            out["version"] = self.family
        if self.interface is not None:
            out["interface"] = self.interface
        out["address"] = str(self.address)
        if self.gateway is not None:
            out["gateway"] = str(self.gateway)
        return out

    @classmethod
    def from_json(cls, data: Any) -> IPConfig:
        d = _obj(data, "ips entry")
        gw = d.get("gateway")
        return cls(address=parse_cidr(d.get("address"), "ips address"),
                   gateway=parse_ip(gw, "ips gateway") if gw not in (None, "") else None,
                   interface=_opt_int(d, "interface"))


@dataclass(frozen=True)
class Result:
    """The outcome of an ADD, in the 1.1.0 model; `cni_version` is what it was read as."""

    cni_version: str = versions.CURRENT
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = field(default_factory=DNS)

    def with_version(self, version: str) -> Result:
        return replace(self, cni_version=version)

    def to_json(self, version: str | None = None) -> dict[str, Any]:
        """The result as a plugin prints it for a config of `version` (default: its own)."""
        version = version or self.cni_version
        if version in versions.LEGACY:
            return self._to_legacy(version)
        if version not in versions.V04 and version not in versions.V1:
            raise CNIError(Code.INCOMPATIBLE_VERSION, f"unsupported CNI result version {version!r}",
                           f"supported versions are {', '.join(versions.ALL)}")
        out: dict[str, Any] = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [i.to_json(version) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.to_json(version) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.to_json() for r in self.routes]
        out["dns"] = self.dns.to_json()
        return out

    def _to_legacy(self, version: str) -> dict[str, Any]:
        ip4 = next((ip for ip in self.ips if ip.address.version == 4), None)
        ip6 = next((ip for ip in self.ips if ip.address.version == 6), None)
        if ip4 is None and ip6 is None:
            raise CNIError(Code.INTERNAL, "cannot convert: no valid IP addresses",
                           f"a cniVersion {version} result needs an IP address; this attachment "
                           "has none (an L2-only plugin): use cniVersion 0.3.0 or later")
        out: dict[str, Any] = {"cniVersion": version}
        for key, ip in (("ip4", ip4), ("ip6", ip6)):
            if ip is None:
                continue
            block: dict[str, Any] = {"ip": str(ip.address)}
            if ip.gateway is not None:
                block["gateway"] = str(ip.gateway)
            routes = [{"dst": str(r.dst), **({"gw": str(r.gw)} if r.gw is not None else {})}
                      for r in self.routes if r.dst.version == ip.address.version]
            if routes:
                block["routes"] = routes
            out[key] = block
        out["dns"] = self.dns.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any, version: str | None = None) -> Result:
        """Read a result printed for `version` (default: its own `cniVersion`, else 0.1.0)."""
        d = _obj(data, "result")
        version = version or d.get("cniVersion") or "0.1.0"
        if not isinstance(version, str):
            raise _decode_error("result cniVersion", version, "a version string")
        if version in versions.LEGACY:
            return cls._from_legacy(d, version)
        if version not in versions.V04 and version not in versions.V1:
            raise CNIError(Code.INCOMPATIBLE_VERSION, f"unsupported CNI result version {version!r}",
                           f"supported versions are {', '.join(versions.ALL)}")
        return cls(
            cni_version=version,
            interfaces=tuple(Interface.from_json(i) for i in _list(d.get("interfaces"),
                                                                   "interfaces")),
            ips=tuple(IPConfig.from_json(i) for i in _list(d.get("ips"), "ips")),
            routes=tuple(Route.from_json(r) for r in _list(d.get("routes"), "routes")),
            dns=DNS.from_json(d.get("dns")),
        )

    @classmethod
    def _from_legacy(cls, d: Mapping[str, Any], version: str) -> Result:
        ips: list[IPConfig] = []
        routes: list[Route] = []
        for key in ("ip4", "ip6"):
            block = d.get(key)
            if block is None:
                continue
            b = _obj(block, key)
            gw = b.get("gateway")
            ips.append(IPConfig(address=parse_cidr(b.get("ip"), f"{key} ip"),
                                gateway=parse_ip(gw, f"{key} gateway") if gw else None))
            routes.extend(Route.from_json(r) for r in _list(b.get("routes"), f"{key} routes"))
        return cls(cni_version=version, ips=tuple(ips), routes=tuple(routes),
                   dns=DNS.from_json(d.get("dns")))

    def convert(self, version: str) -> Result:
        """Round-trip through `version`'s JSON form: what a caller of that version would see."""
        return Result.from_json(self.to_json(version), version)
