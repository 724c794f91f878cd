"""What every interface plugin shares: IPAM delegation, interface configuration, CHECK helpers.

The reference plugins share pkg/ipam (ExecAdd/ExecDel, ConfigureIface) and pkg/ip
(ValidateExpectedInterfaceIPs/Route); this module is their counterpart. Built-in IPAM
types run in process; any other type is executed from CNI_PATH as the spec says.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from netattach.cni.errors import CNIError, Code, plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.types import Interface, IPAddress, Result

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession


# -- IPAM delegation --------------------------------------------------------------------
def run_ipam(request: Request, command: Command) -> Result | None:
    """Run the config's IPAM plugin for `command` with the whole config on stdin.

    Returns the IPAM result for ADD, None otherwise. Raises CNIError with the IPAM's error.
    """
    from netattach.builtins import is_builtin, load_plugin
    from netattach.cni.skel import dispatch

    ipam_type = request.config.ipam_type
    if not ipam_type:
        raise plugin_error("failed to execute IPAM delegate: no IPAM type",
                           f'network {request.config.name!r} needs "ipam": {{"type": ...}}')
    delegated = request.with_command(command)
    if is_builtin(ipam_type):
        return dispatch(load_plugin(ipam_type), delegated, {})
    from netattach.cni.invoke import ExecExecutor

    out = ExecExecutor().execute(ipam_type, delegated.env(), request.stdin, request.path)
    if command is not Command.ADD:
        return None
    if out is None:
        raise plugin_error("IPAM plugin returned missing IP config",
                           f"the {ipam_type} plugin printed nothing on ADD")
    if isinstance(out, dict) and not out.get("cniVersion"):
        out = {**out, "cniVersion": request.config.cni_version}
    return Result.from_json(out)


def ipam_add(request: Request) -> Result:
    """IPAM ADD; an IPAM without any IP is an error (the reference's "missing IP config")."""
    result = run_ipam(request, Command.ADD)
    assert result is not None
    if not result.ips:
        raise plugin_error("IPAM plugin returned missing IP config",
                           f"the {request.config.ipam_type} plugin allocated no address for "
                           f"network {request.config.name!r}; check its configuration")
    return result


def ipam_del_quietly(request: Request) -> None:
    """IPAM DEL after a failed ADD: the ADD's error matters, this one is only best effort."""
    with contextlib.suppress(CNIError):
        run_ipam(request, Command.DEL)


# -- namespaces ---------------------------------------------------------------------------
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


def master_mtu_ok(mtu: int, master: Link) -> None:
    if mtu < 0 or mtu > master.mtu:
        raise plugin_error(f"invalid MTU {mtu}, must be [0, master MTU({master.mtu})]",
                           f"master {master.name} has MTU {master.mtu}; leave mtu unset to "
                           "inherit it or raise the master's MTU first")


# -- configuring an interface from an IPAM result ----------------------------------------
def configure_iface(nl: NetlinkSession, ifname: str, result: Result) -> None:
    """Addresses, link up, routes: the reference's ipam.ConfigureIface, inside `nl`'s netns."""
    from netattach.linux import AddressExists, LinuxNetError, RouteExists
    from netattach.linux.addrconf import prepare_ipv6, wait_for_dad

    if not result.interfaces:
        raise plugin_error("no interfaces to configure", "this is a bug in the plugin")
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
        with contextlib.suppress(LinuxNetError):
            wait_for_dad(nl, ifname)
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


# -- CHECK ----------------------------------------------------------------------------------
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


# -- shared by the stacked-link plugins (vlan, macvlan, ipvlan) -----------------------------
# Added for vlan/macvlan/ipvlan; additive only, nothing above changed.
_GO_TYPES = {int: "int", str: "string", bool: "bool"}


def netconf_field(raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    """`raw[key]` checked like Go's json.Unmarshal into the plugin's NetConf (null = default).

    A wrong type is the reference's `failed to load netconf: json: cannot unmarshal ...`.
    """
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        got = {bool: "bool", int: "number", float: "number", str: "string", list: "array",
               dict: "object"}.get(type(value), type(value).__name__)
        raise plugin_error(
            f"failed to load netconf: json: cannot unmarshal {got} into Go struct field "
            f"NetConf.{key} of type {_GO_TYPES.get(kind, kind.__name__)}",
            f'"{key}" must be a JSON {_GO_TYPES.get(kind, kind.__name__)}, got '
            f"{json.dumps(value)}")
    return value


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


def cleanup_failed_add(pod: NetlinkSession, names: Iterable[str], request: Request,
                       ipam_called: bool) -> None:
    """Undo a failed ADD: delete the link under any of `names`, then release IPAM (quietly)."""
    from netattach.linux import LinuxNetError

    for name in names:
        with contextlib.suppress(LinuxNetError, ValueError):
            if pod.delete_link(name):
                break
    if ipam_called:
        ipam_del_quietly(request)


def release_attachment(request: Request) -> None:
    """The DEL of every stacked-link plugin: IPAM DEL (if any), then delete CNI_IFNAME.

    Succeeds when CNI_NETNS is empty, the namespace or the link is gone; never needs the
    master. The link is deleted explicitly: namespace teardown is asynchronous.
    """
    if request.config.ipam_type:
        run_ipam(request, Command.DEL)
    from netattach.linux import LinuxNetError

    try:
        delete_link_in_netns(request.netns, request.ifname)
    except LinuxNetError as e:
        raise plugin_error(f"failed to delete {request.ifname} in {request.netns}: {e}",
                           "see the kernel's reason; DEL may be retried") from None


def rename_new_link(pod: NetlinkSession, tmp: str, ifname: str, kind: str) -> Link:
    """Rename a link just created under a temporary name to CNI_IFNAME; re-fetch it."""
    from netattach.linux import LinuxNetError

    try:
        return pod.rename(tmp, ifname)
    except (LinuxNetError, ValueError) as e:
        raise plugin_error(f'failed to rename {kind} to "{ifname}": {e}',
                           f"{ifname} could not be given to the new {kind} device") from None


def ipam_status(request: Request) -> None:
    """STATUS of a plugin with an IPAM delegate: the delegate's STATUS (none: ready)."""
    if request.config.ipam_type:
        run_ipam(request, Command.STATUS)


def ipam_gc(request: Request) -> None:
    """GC of a plugin with an IPAM delegate: forward it (the spec says delegating plugins
    must; the reference plugins do not, so host-local allocations of vanished pods leak)."""
    if request.config.ipam_type:
        run_ipam(request, Command.GC)


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


def announce_quietly(nl: NetlinkSession, ifname: str) -> None:
    """arp_notify=1 and ndisc_notify=1 on `ifname`, best effort (as the reference does)."""
    from netattach.linux import LinuxNetError

    for key in (f"net/ipv4/conf/{ifname}/arp_notify", f"net/ipv6/conf/{ifname}/ndisc_notify"):
        with contextlib.suppress(LinuxNetError, OSError):
            nl.sysctl_set(key, 1)
