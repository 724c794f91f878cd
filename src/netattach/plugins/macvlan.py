"""The `macvlan` plugin: a MAC-VLAN of a host NIC with its own MAC, created inside the pod.

Reads like the reference (plugins/main/macvlan/macvlan.go): load config, add, del, check,
status. IPAM is optional (L2 mode: the link is only set up). Any ADD failure deletes the
link and releases IPAM; DEL never needs the master.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netattach.cni import schema
from netattach.cni.args import K8S_KEYS
from netattach.cni.errors import plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.rollback import rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import DNS, Result
from netattach.linux import LinuxNetError, temp_link_name
from netattach.plugins.address_probe import probe_settings
from netattach.plugins.addressing import attach_ips, configure_iface, container_interface
from netattach.plugins.checks import (
    check_container_link,
    find_result_interface,
    validate_ips,
    validate_routes,
)
from netattach.plugins.delegation import ipam_add, ipam_del, ipam_gc, ipam_status, run_ipam
from netattach.plugins.masters import (
    default_route_master,
    lookup_master,
    master_mtu_ok,
    master_session,
)
from netattach.plugins.pod_links import (
    announce_quietly,
    delete_link_in_netns,
    pod_session,
    release_attachment,
    rename_new_link,
    require_absent,
)

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession

MODES = ("bridge", "private", "vepa", "passthru")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$")


# -- config -------------------------------------------------------------------------------
_NEGATIVE_MTU = ("invalid MTU {value}, must be [0, master MTU]",
                 "leave mtu unset (0) to inherit the master's MTU")


@dataclass(frozen=True)
class MacvlanConf:
    """The macvlan plugin's keys; `master` "" means the default-route interface."""

    master: str = schema.setting("master", str, "")
    mode: str = schema.setting("mode", str, "bridge", empty_is_default=True, check=schema.one_of(
        MODES, 'unknown macvlan mode: "{value}"', f"mode is one of {', '.join(MODES)} "
        "(default bridge)"))
    mtu: int = schema.setting("mtu", int, 0, check=schema.between(0, 1 << 31, *_NEGATIVE_MTU))
    mac: str = schema.setting("mac", str, "")
    bcqueuelen: int | None = schema.setting("bcqueuelen", int, None, check=schema.between(
        0, 1 << 32, "invalid bcqueuelen {value}", "bcqueuelen must be >= 0"))
    link_in_container: bool = schema.setting("linkInContainer", bool, False)
    dns: DNS = DNS()


def parse_mac(mac: str) -> str:
    """A unicast-looking 48-bit MAC, normalised to lower-case colon form."""
    if not _MAC.match(mac):
        raise plugin_error(f"invalid args {mac} for MAC addr: address {mac}: invalid MAC "
                           "address", "use the form c2:11:22:33:44:55")
    return mac.replace("-", ":").lower()


def load_conf(request: Request) -> MacvlanConf:
    """Parse the keys and apply MAC precedence: conf < CNI_ARGS MAC= < runtimeConfig.mac."""
    conf = schema.load(MacvlanConf, request.config.raw, schema.GO_NETCONF,
                       dns=request.config.dns)
    mac = conf.mac
    if request.args.raw:
        request.args.validate(("MAC", *K8S_KEYS))
        mac = request.args.get("MAC") or mac
    runtime_mac = request.config.runtime_config.get("mac")
    if isinstance(runtime_mac, str) and runtime_mac:
        mac = runtime_mac
    return replace(conf, mac=parse_mac(mac) if mac else "")


# -- ADD / DEL / CHECK / STATUS ------------------------------------------------------------
class MacvlanPlugin(BasePlugin):
    """CNI `macvlan`: a macvlan of `master` (default: the default-route NIC) per attachment."""

    type_name = "macvlan"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        probe = probe_settings(request.config.raw)
        with pod_session(request) as pod, rollback(f"macvlan ADD of {request.ifname}") as undo:
            require_absent(pod, request.ifname, request.netns)
            tmp = create_macvlan(conf, pod)
            undo.defer(delete_link_in_netns, request.netns, tmp)
            link = rename_new_link(pod, tmp, request.ifname, "macvlan")
            undo.defer(delete_link_in_netns, request.netns, request.ifname)
            iface = container_interface(pod, link.name, request.netns)
            result = Result(cni_version=request.config.cni_version, interfaces=(iface,))
            if request.config.ipam_type:
                undo.defer(ipam_del, request)  # also when ADD fails half way in the IPAM
                result = attach_ips(result, ipam_add(request))
                announce_quietly(pod, request.ifname)
                configure_iface(pod, request.ifname, result, probe)
            else:  # L2 mode: the link is only set up
                set_up(pod, request.ifname)
        return replace(result, dns=conf.dns)

    def delete(self, request: Request) -> None:
        release_attachment(request)

    def check(self, request: Request) -> None:
        conf = load_conf(request)
        if request.config.ipam_type:
            run_ipam(request, Command.CHECK)
        prev, index = find_result_interface(request)
        with pod_session(request) as pod:
            with master_session(pod, conf.link_in_container) as host:
                master = lookup_master(host, conf.master or default_route_master(host),
                                       conf.link_in_container)
            link = check_container_link(pod, prev.interfaces[index], "macvlan", master=master,
                                        mtu=conf.mtu)
            if link.macvlan_mode != conf.mode:
                raise plugin_error(f"container macvlan mode {link.macvlan_mode} does not match "
                                   f"expected value: {conf.mode}",
                                   "the link was replaced after ADD; DEL and ADD again")
            validate_ips(pod, request.ifname, prev, index)
            validate_routes(pod, request.ifname, prev)

    def gc(self, request: Request) -> None:
        ipam_gc(request)

    def status(self, request: Request) -> None:
        ipam_status(request)


def create_macvlan(conf: MacvlanConf, pod: NetlinkSession) -> str:
    """Create the macvlan directly in the pod under a temporary name; return that name."""
    with master_session(pod, conf.link_in_container) as host:
        master = lookup_master(host, conf.master or default_route_master(host),
                               conf.link_in_container)
        master_mtu_ok(conf.mtu, master)
        tmp = temp_link_name()
        try:
            host.create_macvlan(tmp, master.index, mode=conf.mode, mac=conf.mac or None,
                                mtu=conf.mtu or None, bcqueuelen=conf.bcqueuelen,
                                netns=None if conf.link_in_container else pod.handle)
        except (LinuxNetError, ValueError) as e:
            raise plugin_error(f"failed to create macvlan: {e}",
                               create_hint(conf, master, e)) from None
    return tmp


def create_hint(conf: MacvlanConf, master: Link, err: Exception) -> str:
    """The likely fix for a refused macvlan creation."""
    code = getattr(err, "errno", 0)
    if conf.mode == "passthru":
        return (f"passthru allows a single macvlan on {master.name}; delete the other one "
                "or use mode bridge")
    if code == 99 and conf.mac:  # EADDRNOTAVAIL
        return f"the kernel refused MAC {conf.mac}; use a unicast address (even first octet)"
    if code == 16:  # EBUSY
        return (f"{master.name} cannot take a macvlan (it may be enslaved or be an ipvlan "
                "parent); pick another master")
    return f"the kernel refused a macvlan on {master.name}; see the reason above"




def set_up(pod: NetlinkSession, ifname: str) -> None:
    """L2 mode: the link is only set up."""
    try:
        pod.set_up(ifname)
    except LinuxNetError as e:
        raise plugin_error(f'failed to set "{ifname}" UP: {e}', "see the kernel's reason") \
            from None
