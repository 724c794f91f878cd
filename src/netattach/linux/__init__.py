"""netattach.linux: network namespaces, links, addresses, routes, sysctls, VLAN inventory.

The only package that talks netlink; it knows nothing about CNI or Kubernetes.
It is standard library only (netlink through a small codec, `_rtnl`); the session,
inventory and addrconf names below are resolved lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netattach.linux.errors import (
    AddressExists,
    AlreadyExists,
    DadFailed,
    DadTimeout,
    LinkExists,
    LinkKindMismatch,
    LinkNotFound,
    LinuxNetError,
    NetlinkOperationError,
    NetnsError,
    NetnsNotFound,
    NotANetns,
    NotFound,
    RouteExists,
    error_from_errno,
)
from netattach.linux.names import temp_link_name, validate_ifname
from netattach.linux.netns import (
    NetnsHandle,
    NetnsId,
    NetnsThread,
    current_netns_id,
    netns_id,
    open_netns,
    run_in_netns,
)
from netattach.linux.records import Address, Link, Route, VethPair

if TYPE_CHECKING:
    from netattach.linux.addrconf import enable_announcements, prepare_ipv6, wait_for_dad
    from netattach.linux.default_routes import set_default_routes
    from netattach.linux.inventory import (
        NamespaceInfo,
        StackedLink,
        VlanDevice,
        find_stacked_users,
        find_vlan_users,
        list_namespaces,
        list_stacked_links,
        list_vlans,
    )
    from netattach.linux.netlink import (
        NetlinkSession,
        link_exists,
        netlink_session,
        shared_sessions,
    )

_LAZY = {
    "NetlinkSession": "netattach.linux.netlink",
    "netlink_session": "netattach.linux.netlink",
    "link_exists": "netattach.linux.netlink",
    "shared_sessions": "netattach.linux.netlink",
    "set_default_routes": "netattach.linux.default_routes",
    "prepare_ipv6": "netattach.linux.addrconf",
    "enable_announcements": "netattach.linux.addrconf",
    "wait_for_dad": "netattach.linux.addrconf",
    "NamespaceInfo": "netattach.linux.inventory",
    "StackedLink": "netattach.linux.inventory",
    "VlanDevice": "netattach.linux.inventory",
    "find_stacked_users": "netattach.linux.inventory",
    "find_vlan_users": "netattach.linux.inventory",
    "list_namespaces": "netattach.linux.inventory",
    "list_stacked_links": "netattach.linux.inventory",
    "list_vlans": "netattach.linux.inventory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netattach.linux' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Address", "AddressExists", "AlreadyExists", "DadFailed", "DadTimeout", "Link",
    "LinkExists", "LinkKindMismatch", "LinkNotFound", "LinuxNetError", "NamespaceInfo",
    "NetlinkOperationError", "NetlinkSession", "NetnsError", "NetnsHandle", "NetnsId",
    "NetnsNotFound", "NetnsThread", "NotANetns", "NotFound", "Route", "RouteExists",
    "StackedLink", "VethPair", "VlanDevice", "current_netns_id", "enable_announcements",
    "error_from_errno", "find_stacked_users", "find_vlan_users", "link_exists",
    "list_namespaces", "list_stacked_links", "list_vlans", "netlink_session", "netns_id",
    "open_netns", "prepare_ipv6", "run_in_netns", "set_default_routes", "shared_sessions",
    "temp_link_name",
    "validate_ifname", "wait_for_dad",
]
