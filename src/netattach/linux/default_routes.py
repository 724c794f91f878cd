"""An interface's default routes, replaced as a whole (the annotation's `default-route`)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence

from netattach.linux.errors import RouteExists
from netattach.linux.netlink import netlink_session

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def set_default_routes(netns: str, ifname: str, gateways: Sequence[IPAddress]) -> None:
    """In `netns`, remove the main table's default routes via `ifname`, then add one via each
    gateway."""
    with netlink_session(netns) as nl:
        link = nl.link(ifname)
        # main table only, where they are added back (policy-routing tables are not ours)
        for route in nl.routes(dev=link.index, default_only=True):
            nl.del_route(route.dst, gateway=route.gateway, dev=link.index,
                         table=route.table, priority=route.priority)
        for gw in gateways:
            dst = "0.0.0.0/0" if gw.version == 4 else "::/0"
            with contextlib.suppress(RouteExists):
                nl.add_route(dst, gateway=gw, dev=link.index)
