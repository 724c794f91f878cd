"""host-local configuration: ranges from every source, requested IPs, routes, resolv.conf."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netattach.cni import version as versions
from netattach.cni.errors import CNIError, plugin_error
from netattach.cni.request import Request
from netattach.cni.types import DNS, IPAddress, Route
from netattach.ipam import parse_routes

from .ranges import RangeSet

KNOWN_ARGS = ("IP",)


@dataclass(frozen=True)
class HostLocalConfig:
    network: str
    cni_version: str
    range_sets: tuple[RangeSet, ...]
    requested: tuple[IPAddress, ...]
    routes: tuple[Route, ...]
    data_dir: str
    resolv_conf: str


def _requested(value: Any, where: str) -> list[IPAddress]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise plugin_error(f"{where} must be a list of IP addresses", f"got {value!r}")
    out = []
    for item in value:
        try:
            addr = ipaddress.ip_address(str(item).split("/")[0].strip())
        except ValueError:
            raise plugin_error(f"cannot understand ip: {item!r} in {where}",
                               "expected an address such as 192.0.2.10 (a /prefix is ignored)") \
                from None
        mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
        out.append(mapped or addr)  # ::ffff:192.0.2.5 is 192.0.2.5, as Go parses it
    return out


def require_ipam(request: Request) -> Mapping[str, Any]:
    """The "ipam" object; every verb refuses a config without one, with ADD's error."""
    ipam = request.config.ipam
    if ipam is None:
        raise plugin_error("IPAM config missing 'ipam' key",
                           f'network {request.config.name!r}: add "ipam": {{"type": '
                           '"host-local", "ranges": [[{"subnet": "192.0.2.0/24"}]]}')
    return ipam


def _range_sets(value: Any, where: str) -> list[Any]:
    """The range sets under `where` (absent: none); anything but a list is refused."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise plugin_error(f"{where} must be a list of range sets, not {json.dumps(value)[:80]}",
                           'e.g. "ranges": [[{"subnet": "192.0.2.0/24"}]]')
    return list(value)


def store_paths(ipam: Mapping[str, Any]) -> tuple[str, str]:
    """(dataDir, resolvConf), "" when missing or null. Anything but a path is refused, for
    every verb alike: GC must never fall back to the default store where ADD would refuse."""
    out = []
    for key in ("dataDir", "resolvConf"):
        value = ipam.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str) or "\0" in value:
            raise plugin_error("ipam.dataDir and ipam.resolvConf must be strings",
                               f"give file system paths (ipam.{key} is {json.dumps(value)})")
        out.append(value)
    return out[0], out[1]


def load_config(request: Request) -> HostLocalConfig:
    """Read host-local's settings the way the reference does (legacy range, ranges, ipRanges)."""
    conf = request.config
    ipam = require_ipam(request)
    requested: list[IPAddress] = []
    if request.args.raw:
        request.args.validate(KNOWN_ARGS)
        if request.args.get("IP"):
            requested += _requested([request.args.get("IP")], "CNI_ARGS IP")
    requested += _requested(conf.cni_args.get("ips"), "args.cni.ips")
    requested += _requested(conf.runtime_config.get("ips"), "runtimeConfig.ips")
    # the same address from several sources (a pod's ips come as CNI_ARGS and runtimeConfig)
    requested = list(dict.fromkeys(requested))

    raw_sets: list[Any] = _range_sets(conf.runtime_config.get("ipRanges"),
                                      "runtimeConfig.ipRanges")
    if ipam.get("subnet"):
        raw_sets.append([{k: ipam[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway")
                          if k in ipam}])
    raw_sets += _range_sets(ipam.get("ranges"), "ipam.ranges")
    if not raw_sets:
        raise plugin_error("no IP ranges specified",
                           f'network {conf.name!r}: add "ranges": [[{{"subnet": '
                           '"192.0.2.0/24"}]] to ipam')
    sets = []
    for i, raw in enumerate(raw_sets):
        try:
            sets.append(RangeSet.from_json(raw))
        except CNIError as err:
            raise plugin_error(f"invalid range set {i}: {err.msg}", err.details) from None
    per_family = [sum(1 for s in sets if s.version == v) for v in (4, 6)]
    if max(per_family) > 1 and not versions.at_least(conf.cni_version, "0.3.0"):
        raise plugin_error(f"CNI version {conf.cni_version} does not support more than 1 address "
                           "per family",
                           "use cniVersion 0.3.0 or later, or one range set per family")
    for i, a in enumerate(sets):
        for j in range(i + 1, len(sets)):
            if a.overlaps(sets[j]):
                raise plugin_error(f"range set {i} overlaps with {j}",
                                   "each range set must cover different addresses")
    routes = parse_routes(ipam, "host-local")
    data_dir, resolv = store_paths(ipam)
    return HostLocalConfig(conf.name, conf.cni_version, tuple(sets), tuple(requested), routes,
                           data_dir, resolv)


def parse_resolv_conf(path: str) -> DNS:
    """nameserver/domain/search/options lines of a resolv.conf file, as the reference reads it."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()  # noqa: SIM115
    except OSError as e:
        raise plugin_error(f"host-local: cannot read resolvConf {path}: {e.strerror}",
                           "fix ipam.resolvConf or create the file") from None
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    domain = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        key, rest = fields[0], fields[1:]
        if key == "nameserver":
            nameservers.append(rest[0])
        elif key == "domain":
            domain = rest[0]
        elif key == "search":
            search += rest
        elif key == "options":
            options += rest
    return DNS(tuple(nameservers), domain, tuple(search), tuple(options))
