"""The pod's side of an attachment: its netns session, the interface name, the link.

Shared by the plugins that create one link in the pod (vlan, macvlan, ipvlan, bridge,
host-device): open the pod's namespace, check CNI_IFNAME is free, rename a link created
under a temporary name, and the DEL that never fails on something already gone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from netattach.cni.errors import CNIError, Code, plugin_error
from netattach.cni.request import Request

from .delegation import ipam_del

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession


@contextlib.contextmanager
def pod_session(request: Request) -> Iterator[NetlinkSession]:
    """A netlink session in CNI_NETNS; a missing namespace is code 8 for the caller to judge."""
    from netattach.linux import NetnsNotFound, netlink_session

    try:
        session = netlink_session(request.netns)
        nl = session.__enter__()
    except NetnsNotFound as e:
        raise CNIError(Code.INVALID_NETNS, f"failed to open netns {request.netns!r}: {e}",
                       "the container's network namespace does not exist; is the sandbox "
                       "still running?") from None
    try:
        yield nl
    finally:
        session.__exit__(None, None, None)


def delete_link_in_netns(netns: str, ifname: str) -> None:
    """Remove `ifname` from `netns`; success when the namespace or the link is already gone."""
    if not netns:
        return
    from netattach.linux import NetnsNotFound, netlink_session

    try:
        with netlink_session(netns) as nl:
            nl.delete_link(ifname)
    except NetnsNotFound:
        return


def require_absent(nl: NetlinkSession, ifname: str, netns: str) -> None:
    """ADD must fail when CNI_IFNAME already exists in the container (the spec says so)."""
    existing = nl.find_link(ifname)
    if existing is not None:
        raise plugin_error(f"interface {ifname} already exists in {netns}",
                           f"the container already has {ifname} ({existing.kind or 'device'}); "
                           "pick another interface name or DEL the old attachment first")


def rename_new_link(pod: NetlinkSession, tmp: str, ifname: str, kind: str) -> Link:
    """Rename a link just created under a temporary name to CNI_IFNAME; re-fetch it."""
    from netattach.linux import LinuxNetError

    try:
        return pod.rename(tmp, ifname)
    except (LinuxNetError, ValueError) as e:
        raise plugin_error(f'failed to rename {kind} to "{ifname}": {e}',
                           f"{ifname} could not be given to the new {kind} device") from None


def release_attachment(request: Request) -> None:
    """The DEL of every stacked-link plugin: IPAM DEL (if any), then delete CNI_IFNAME.

    Succeeds when CNI_NETNS is empty, the namespace or the link is gone; never needs the
    master. The link is deleted explicitly: namespace teardown is asynchronous.
    """
    if request.config.ipam_type:
        ipam_del(request)
    from netattach.linux import LinuxNetError

    try:
        delete_link_in_netns(request.netns, request.ifname)
    except LinuxNetError as e:
        raise plugin_error(f"failed to delete {request.ifname} in {request.netns}: {e}",
                           "see the kernel's reason; DEL may be retried") from None


def announce_quietly(nl: NetlinkSession, ifname: str) -> None:
    """arp_notify=1 and ndisc_notify=1 on `ifname`, best effort (as the reference does)."""
    from netattach.linux import LinuxNetError

    for key in (f"net/ipv4/conf/{ifname}/arp_notify", f"net/ipv6/conf/{ifname}/ndisc_notify"):
        with contextlib.suppress(LinuxNetError, OSError):
            nl.sysctl_set(key, 1)
