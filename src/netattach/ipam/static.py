"""The `static` IPAM plugin: addresses, routes and DNS given in the config, as the reference does.

Address sources, later ones replacing earlier ones as in containernetworking/plugins:
`ipam.addresses`, then CNI_ARGS `IP=` (appended) and `GATEWAY=`, then `args.cni.ips`
(replaces), then `runtimeConfig.ips` (the `ips` capability; replaces).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netattach.cni import version as versions
from netattach.cni.errors import CNIError, plugin_error
from netattach.cni.request import Request
from netattach.cni.skel import BasePlugin
from netattach.cni.types import DNS, IPAddress, IPConfig, IPInterface, Result, Route
from netattach.ipam import parse_routes

KNOWN_ARGS = ("IP", "GATEWAY")


@dataclass(frozen=True)
class StaticAddress:
    address: IPInterface
    gateway: IPAddress | None = None


@dataclass(frozen=True)
class StaticConfig:
    name: str
    cni_version: str
    addresses: tuple[StaticAddress, ...]
    routes: tuple[Route, ...]
    dns: DNS


def _cidr(text: Any, source: str) -> IPInterface:
    if isinstance(text, str) and "/" in text:
        try:
            return ipaddress.ip_interface(text.strip())
        except ValueError:
            pass
    raise plugin_error(f"the '{source}' field is expected to be in CIDR notation, got: '{text}'",
                       f"write the address with its prefix length, e.g. {_example(text)}")


def _example(text: Any) -> str:
    try:
        return f"{ipaddress.ip_address(str(text).strip())}/24"
    except ValueError:
        return "192.0.2.10/24"


def _ip(text: Any, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise plugin_error(f"invalid {what}: {text}", "expected an IP address such as 192.0.2.1") \
            from None


def _ips_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise plugin_error(f"{where} must be a list of strings", f"got {value!r}")
    return value


def load_config(request: Request) -> StaticConfig:
    """Read the static IPAM settings of `request`, applying every address source in order."""
    conf = request.config
    ipam = conf.ipam
    if ipam is None:
        raise plugin_error("IPAM config missing 'ipam' key",
                           f'network {conf.name!r}: add "ipam": {{"type": "static", '
                           '"addresses": [{"address": "192.0.2.10/24"}]}')
    raw_addresses = ipam.get("addresses") or []
    if not isinstance(raw_addresses, list):
        raise plugin_error("ipam.addresses must be a list", f"got {raw_addresses!r}")
    addresses: list[StaticAddress] = []
    for entry in raw_addresses:
        if not isinstance(entry, Mapping):
            raise plugin_error("each ipam.addresses entry must be an object",
                               'e.g. {"address": "192.0.2.10/24", "gateway": "192.0.2.1"}')
        gw = entry.get("gateway")
        addresses.append(StaticAddress(_cidr(entry.get("address"), "address"),
                                       _ip(gw, "gateway") if gw else None))

    if request.args.raw:
        request.args.validate(KNOWN_ARGS)
        ip_arg = request.args.get("IP")
        from_args = [StaticAddress(_cidr(item.strip(), "IP"))
                     for item in ip_arg.split(",")] if ip_arg else []
        gw_arg = request.args.get("GATEWAY")
        if gw_arg:
            # GATEWAY= applies to the IP= addresses only, as in the reference (the config's
            # addresses keep their own "gateway").
            for item in gw_arg.split(","):
                gw = _ip(item, "gateway address")
                from_args = [StaticAddress(a.address, gw) if gw in a.address.network else a
                             for a in from_args]
        addresses.extend(from_args)

    args_ips = conf.cni_args.get("ips")
    if args_ips:
        addresses = [StaticAddress(_cidr(a, "ips")) for a in _ips_list(args_ips, "args.cni.ips")]
    runtime_ips = conf.runtime_config.get("ips")
    if runtime_ips:
        addresses = [StaticAddress(_cidr(a, "ips"))
                     for a in _ips_list(runtime_ips, "runtimeConfig.ips")]

    per_family = [sum(1 for a in addresses if a.address.version == v) for v in (4, 6)]
    if max(per_family) > 1 and not versions.at_least(conf.cni_version, "0.3.0"):
        raise plugin_error(f"CNI version {conf.cni_version} does not support more than 1 address "
                           "per family", "use cniVersion 0.3.0 or later, or one address per family")

    routes = parse_routes(ipam, "static")
    try:
        dns = DNS.from_json(ipam.get("dns"))
    except CNIError as err:
        raise plugin_error(f"static: {err.msg}", err.details) from None
    return StaticConfig(conf.name, conf.cni_version, tuple(addresses), routes, dns)


class StaticIPAM(BasePlugin):
    """IPAM from the config alone: no state, so DEL and GC have nothing to release."""

    type_name = "static"

    def add(self, request: Request) -> Result:
        cfg = load_config(request)
        return Result(
            ips=tuple(IPConfig(address=a.address, gateway=a.gateway) for a in cfg.addresses),
            routes=cfg.routes,
            dns=cfg.dns,
        )

    def delete(self, request: Request) -> None:
        """Nothing was allocated, so nothing to release: succeed even on a broken config."""
        return None

    def check(self, request: Request) -> None:
        cfg = load_config(request)
        prev = request.config.prev_result
        if prev is None:
            raise plugin_error("Required prevResult missing",
                               "CHECK needs the ADD result as prevResult (cniVersion 0.4.0+)")
        for want in cfg.addresses:
            for got in prev.ips:
                if got.address.ip != want.address.ip:
                    continue
                if want.gateway is None or want.gateway == got.gateway:
                    break
                raise plugin_error(
                    f"static: Failed to match addr {got.address.ip} on interface "
                    f"{request.ifname}",
                    f"prevResult has gateway {got.gateway}, the config says {want.gateway}")
