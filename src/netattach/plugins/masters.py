"""The host side of a stacked link (vlan, macvlan, ipvlan): finding the master."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from netattach.cni.errors import plugin_error

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession


@contextlib.contextmanager
def master_session(pod: NetlinkSession, link_in_container: bool) -> Iterator[NetlinkSession]:
    """Where the master lives: the pod's session with linkInContainer, else our own netns."""
    if link_in_container:
        yield pod
        return
    from netattach.linux import netlink_session

    with netlink_session(None) as host:
        yield host


def lookup_master(nl: NetlinkSession, name: str, link_in_container: bool = False) -> Link:
    """The master link by name; the reference's `failed to lookup master %q: %v` if absent."""
    from netattach.linux import LinuxNetError

    try:
        link = nl.find_link(name)
    except (LinuxNetError, ValueError) as e:
        raise plugin_error(f'failed to lookup master "{name}": {e}',
                           "check the \"master\" field of the network config") from None
    if link is None:
        where = "the container's namespace (linkInContainer)" if link_in_container \
            else "the host namespace"
        raise plugin_error(f'failed to lookup master "{name}": Link not found',
                           f"no interface {name} in {where}; fix \"master\" in the network "
                           "config or create the interface first")
    return link


def default_route_master(nl: NetlinkSession) -> str:
    """Name of the default-route interface (the reference's default master)."""
    link = nl.default_route_link()
    if link is None:
        raise plugin_error("no default route interface found",
                           'set "master" in the network config: this namespace has no '
                           "default route to pick the interface from")
    return link.name


def master_mtu_ok(mtu: int, master: Link) -> None:
    if mtu < 0 or mtu > master.mtu:
        raise plugin_error(f"invalid MTU {mtu}, must be [0, master MTU({master.mtu})]",
                           f"master {master.name} has MTU {master.mtu}; leave mtu unset to "
                           "inherit it or raise the master's MTU first")
