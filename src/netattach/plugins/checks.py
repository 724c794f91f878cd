"""CHECK helpers: the pod's interface, addresses and routes against prevResult
(the reference's ip.ValidateExpectedInterfaceIPs / ValidateExpectedRoute)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from netattach.cni.errors import plugin_error
from netattach.cni.request import Request
from netattach.cni.types import Interface, Result

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession


def find_result_interface(request: Request) -> tuple[Result, int]:
    """prevResult and the index of the container interface (name CNI_IFNAME in CNI_NETNS)."""
    prev = request.config.prev_result
    if prev is None:
        raise plugin_error("Required prevResult missing",
                           "CHECK needs the ADD result as prevResult (cniVersion 0.4.0+)")
    for i, iface in enumerate(prev.interfaces):
        if iface.name == request.ifname:
            if iface.sandbox != request.netns:
                raise plugin_error(f"Sandbox in prevResult {iface.sandbox} doesn't match "
                                   f"configured netns: {request.netns}",
                                   "the cached result is for another sandbox")
            return prev, i
    raise plugin_error(f"interface {request.ifname} not found in prevResult",
                       "the cached ADD result does not list this interface")


def validate_ips(nl: NetlinkSession, ifname: str, prev: Result, index: int) -> None:
    """Every prevResult address of this interface must be on the link (ValidateExpected...)."""
    present = {str(a.interface) for a in nl.addresses(ifname)}
    for ip in prev.ips:
        if ip.interface == index and str(ip.address) not in present:
            raise plugin_error(f"Failed to match addr {ip.address} on interface {ifname}",
                               f"{ifname} has {', '.join(sorted(present)) or 'no addresses'}; "
                               "something changed it after ADD")


def validate_routes(nl: NetlinkSession, ifname: str, prev: Result) -> None:
    """Every prevResult route must be in the main table via this interface."""
    link = nl.link(ifname)
    table = nl.routes(table=0)
    gw4 = next((ip.gateway for ip in prev.ips if ip.gateway and ip.gateway.version == 4), None)
    gw6 = next((ip.gateway for ip in prev.ips if ip.gateway and ip.gateway.version == 6), None)
    for route in prev.routes:
        gw = route.gw or (gw4 if route.dst.version == 4 else gw6)
        if not any(r.dst == route.dst and r.oif == link.index and
                   (gw is None or r.gateway == gw) for r in table):
            raise plugin_error(f"Expected Route {json.dumps(route.to_json())} not found in "
                               "routing table", f"the route via {ifname} was removed after ADD")


def check_container_link(nl: NetlinkSession, iface: Interface, kind: str, *,
                         master: Link | None = None, mtu: int = 0) -> Link:
    """CHECK the container link against prevResult's interface and the config.

    Verifies it exists, has `kind`, sits on `master` (when given), has `mtu` (when set)
    and the MAC of prevResult; messages name what differs.
    """
    link = nl.find_link(iface.name)
    if link is None:
        raise plugin_error(f"Container Interface name in prevResult: {iface.name} not found",
                           f"{iface.name} was removed from the container after ADD; DEL and "
                           "ADD the attachment again")
    if link.kind != kind:
        raise plugin_error(f"Error: Container interface {link.name} not of type {kind}",
                           f"{link.name} is {link.kind or 'a plain device'}; something "
                           "replaced the interface after ADD")
    if master is not None and link.parent_index != master.index:
        raise plugin_error(f"Container {kind} {link.name} master ifindex {link.parent_index} "
                           f"does not match expected {master.name} (ifindex {master.index})",
                           f"the network config says master {master.name}; the link sits on "
                           "another device")
    if mtu and link.mtu != mtu:
        raise plugin_error(f"Error: configured MTU of {link.name} is {mtu}, current value is "
                           f"{link.mtu}", "something changed the MTU after ADD")
    if iface.mac and (link.mac or "").lower() != iface.mac.lower():
        raise plugin_error(f"Interface {iface.name} Mac {iface.mac} doesn't match container "
                           f"Mac: {link.mac}", "something changed the MAC address after ADD")
    return link
