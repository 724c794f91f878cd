"""The annotation's `default-route`: which interface carries the pod's default routes.

As Multus: when any attachment asks (even with an empty list), every other attachment
loses its default routes; an attachment that names gateways gets `default via <gw>` for
each; an empty list keeps that attachment's own default routes. Results are adjusted so
CHECK and network-status see what is really in the pod (the routes themselves are set by
`netattach.linux.set_default_routes`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from netattach.cni.types import Result, Route

from .delegate_cache import Delegate


def wants_default_route(delegates: tuple[Delegate, ...]) -> bool:
    return any(d.default_route is not None for d in delegates)


def adjusted_result(delegate: Delegate, result: Result, any_requested: bool) -> Result:
    """The result after default-route handling (routes only; addresses are untouched)."""
    if not any_requested or delegate.default_route == ():
        return result
    kept = tuple(r for r in result.routes if r.dst.prefixlen != 0)
    added = tuple(Route(ipaddress.ip_network("0.0.0.0/0" if ipaddress.ip_address(gw).version == 4
                                             else "::/0"), ipaddress.ip_address(gw))
                  for gw in delegate.default_route or ())
    return replace(result, routes=kept + added)


def default_gateways(result: Result) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The gateways of `result`'s default routes (what the pod must end up with)."""
    return [r.gw for r in result.routes if r.dst.prefixlen == 0 and r.gw is not None]
