"""Interface address-configuration helpers matching the reference `ipam.ConfigureIface`."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from netattach.linux.errors import DadFailed, DadTimeout, NotFound

if TYPE_CHECKING:
    from netattach.linux.netlink import LinkRef, NetlinkSession

DAD_TIMEOUT = 5.0


def prepare_ipv6(nl: NetlinkSession, ifname: str) -> None:
    """Enable IPv6 on lo and `ifname` (disable_ipv6=0) and keep addresses on link down.

    Silently does nothing where IPv6 is absent (no /proc/sys/net/ipv6), like the reference.
    """
    for dev in ("lo", ifname):
        try:
            if nl.sysctl_get(f"net/ipv6/conf/{dev}/disable_ipv6") != "0":
                nl.sysctl_set(f"net/ipv6/conf/{dev}/disable_ipv6", 0)
        except NotFound:
            pass
    with contextlib.suppress(NotFound):
        nl.sysctl_set(f"net/ipv6/conf/{ifname}/keep_addr_on_down", 1)


def enable_announcements(nl: NetlinkSession, ifname: str) -> None:
    """Set arp_notify=1 and ndisc_notify=1 so link-up sends gratuitous ARP / unsolicited NA."""
    nl.sysctl_set(f"net/ipv4/conf/{ifname}/arp_notify", 1)
    with contextlib.suppress(NotFound):
        nl.sysctl_set(f"net/ipv6/conf/{ifname}/ndisc_notify", 1)


def wait_for_dad(nl: NetlinkSession, link: LinkRef, *, timeout: float = DAD_TIMEOUT,
                 interval: float = 0.05) -> None:
    """Wait until no IPv6 address of `link` is tentative (bounded by `timeout` seconds).

    DadFailed if the kernel marked an address dadfailed; DadTimeout at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        addrs = nl.addresses(link, family=6)
        failed = [a for a in addrs if a.dad_failed]
        if failed:
            raise DadFailed(f"duplicate address detection failed for {failed[0].interface} "
                            f"on link {link!r}", op="dad", obj=str(failed[0].interface))
        tentative = [a for a in addrs if a.tentative]
        if not tentative:
            return
        if time.monotonic() >= deadline:
            raise DadTimeout(f"IPv6 address {tentative[0].interface} on link {link!r} still "
                             f"tentative after {timeout:g}s", op="dad",
                             obj=str(tentative[0].interface))
        time.sleep(interval)
