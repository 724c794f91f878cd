"""Putting an IPAM result on the pod's interface (the reference's ipam.ConfigureIface)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from netattach.cni.errors import plugin_error
from netattach.cni.types import Interface, IPAddress, Result

if TYPE_CHECKING:
    from netattach.linux.netlink import NetlinkSession

    from .address_probe import ProbeSettings


def configure_iface(nl: NetlinkSession, ifname: str, result: Result,
                    probe: ProbeSettings | None = None) -> None:
    """Addresses, link up, routes: the reference's ipam.ConfigureIface, inside `nl`'s netns.

    With `probe` enabled, nobody on the wire may hold the addresses (checked first). A
    duplicate the kernel's IPv6 DAD detects fails the ADD too.
    """
    from netattach.linux import AddressExists, DadFailed, LinuxNetError, RouteExists
    from netattach.linux.addrconf import prepare_ipv6, wait_for_dad

    if not result.interfaces:
        raise plugin_error("no interfaces to configure", "this is a bug in the plugin")
    if probe is not None and probe.enabled:
        from .address_probe import probe_before_configure

        probe_before_configure(nl, ifname, result, probe)
    gw4: IPAddress | None = None
    gw6: IPAddress | None = None
    ipv6_ready = False
    for ip in result.ips:
        if ip.interface is None:
            continue
        if not (0 <= ip.interface < len(result.interfaces)) or \
                result.interfaces[ip.interface].name != ifname:
            raise plugin_error(f"failed to add IP addr {ip.address} to {ifname!r}: invalid "
                               "interface index", "the result's ips[].interface must point to "
                               f"{ifname}")
        if ip.address.version == 6 and not ipv6_ready:
            prepare_ipv6(nl, ifname)
            ipv6_ready = True
        try:
            nl.add_address(ifname, ip.address)
        except AddressExists:
            pass
        except LinuxNetError as e:
            raise plugin_error(f"failed to add IP addr {ip.address} to {ifname!r}: {e}",
                               "see the kernel's reason above") from None
        if ip.gateway is not None:
            if ip.gateway.version == 4 and gw4 is None:
                gw4 = ip.gateway
            elif ip.gateway.version == 6 and gw6 is None:
                gw6 = ip.gateway
    try:
        nl.set_up(ifname)
    except LinuxNetError as e:
        raise plugin_error(f"failed to set {ifname!r} UP: {e}", "see the kernel's reason") \
            from None
    if ipv6_ready:
        try:
            wait_for_dad(nl, ifname)
        except DadFailed as e:
            raise plugin_error(f"duplicate address on {ifname!r}: {e}",
                               "another host on this network holds the address: free it "
                               "there or give this attachment another one") from None
        except LinuxNetError:  # a DAD that does not finish in time is not a conflict
            pass
    for route in result.routes:
        gw = route.gw or (gw4 if route.dst.version == 4 else gw6)
        try:
            # scope universe unless the result says otherwise, as the reference's
            # netlink.Route{} (a gateway-less route would otherwise get `ip`'s scope link)
            nl.add_route(route.dst, gateway=gw, dev=ifname, table=route.table,
                         priority=route.priority or None,
                         scope=route.scope if route.scope is not None else 0)
        except RouteExists:
            pass
        except LinuxNetError as e:
            raise plugin_error(f"failed to add route '{route.dst} via {gw} dev {ifname}': {e}",
                               "check that the gateway is reachable from this interface's "
                               "addresses") from None


def attach_ips(result: Result, ipam: Result, index: int = 0) -> Result:
    """The plugin's result: its interfaces plus IPAM's ips (pointing at `index`) and routes."""
    return replace(result, ips=tuple(replace(ip, interface=index) for ip in ipam.ips),
                   routes=ipam.routes, dns=ipam.dns)


def container_interface(nl: NetlinkSession, ifname: str, sandbox: str, mtu: bool = False
                        ) -> Interface:
    link = nl.link(ifname)
    return Interface(name=link.name, mac=link.mac or "", sandbox=sandbox,
                     mtu=link.mtu if mtu else 0)
