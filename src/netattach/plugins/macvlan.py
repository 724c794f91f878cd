"""The `macvlan` plugin: a MAC-VLAN of a host NIC with its own MAC, created inside the pod.

Reads like the reference (plugins/main/macvlan/macvlan.go): load config, add, del, check,
status. IPAM is optional (L2 mode: the link is only set up). Any ADD failure deletes the
link and releases IPAM; DEL never needs the master.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netattach.cni.args import K8S_KEYS
from netattach.cni.errors import plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.skel import BasePlugin
from netattach.cni.types import DNS, Result
from netattach.linux import LinuxNetError, temp_link_name
from netattach.plugins.common import (
    announce_quietly,
    attach_ips,
    check_container_link,
    cleanup_failed_add,
    configure_iface,
    container_interface,
    default_route_master,
    find_result_interface,
    ipam_add,
    ipam_gc,
    ipam_status,
    lookup_master,
    master_mtu_ok,
    master_session,
    netconf_field,
    pod_session,
    release_attachment,
    rename_new_link,
    require_absent,
    run_ipam,
    validate_ips,
    validate_routes,
)

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession

MODES = ("bridge", "private", "vepa", "passthru")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$")


# -- config -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MacvlanConf:
    """The macvlan plugin's keys; `master` "" means the default-route interface."""

    master: str = ""
    mode: str = "bridge"
    mtu: int = 0
    mac: str = ""
    bcqueuelen: int | None = None
    link_in_container: bool = False
    dns: DNS = DNS()


def parse_mode(mode: str) -> str:
    """`""` is bridge; anything outside MODES is the reference's `unknown macvlan mode`."""
    if mode == "":
        return "bridge"
    if mode not in MODES:
        raise plugin_error(f'unknown macvlan mode: "{mode}"',
                           f"mode is one of {', '.join(MODES)} (default bridge)")
    return mode


def parse_mac(mac: str) -> str:
    """A unicast-looking 48-bit MAC, normalised to lower-case colon form."""
    if not _MAC.match(mac):
        raise plugin_error(f"invalid args {mac} for MAC addr: address {mac}: invalid MAC "
                           "address", "use the form c2:11:22:33:44:55")
    return mac.replace("-", ":").lower()


def load_conf(request: Request) -> MacvlanConf:
    """Parse the keys and apply MAC precedence: conf < CNI_ARGS MAC= < runtimeConfig.mac."""
    raw = request.config.raw
    master = netconf_field(raw, "master", str, "")
    mode = parse_mode(netconf_field(raw, "mode", str, ""))
    mtu = netconf_field(raw, "mtu", int, 0)
    mac = netconf_field(raw, "mac", str, "")
    bcq = raw.get("bcqueuelen")
    bcqueuelen = None if bcq is None else netconf_field(raw, "bcqueuelen", int, 0)
    if bcqueuelen is not None and bcqueuelen < 0:
        raise plugin_error(f"invalid bcqueuelen {bcqueuelen}", "bcqueuelen must be >= 0")
    in_container = netconf_field(raw, "linkInContainer", bool, False)
    if request.args.raw:
        request.args.validate(("MAC", *K8S_KEYS))
        mac = request.args.get("MAC") or mac
    runtime_mac = request.config.runtime_config.get("mac")
    if isinstance(runtime_mac, str) and runtime_mac:
        mac = runtime_mac
    if mtu < 0:
        raise plugin_error(f"invalid MTU {mtu}, must be [0, master MTU]",
                           "leave mtu unset (0) to inherit the master's MTU")
    return MacvlanConf(master=master, mode=mode, mtu=mtu, mac=parse_mac(mac) if mac else "",
                       bcqueuelen=bcqueuelen, link_in_container=in_container,
                       dns=request.config.dns)


# -- ADD / DEL / CHECK / STATUS ------------------------------------------------------------
class MacvlanPlugin(BasePlugin):
    """CNI `macvlan`: a macvlan of `master` (default: the default-route NIC) per attachment."""

    type_name = "macvlan"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        layer3 = bool(request.config.ipam_type)
        with pod_session(request) as pod:
            require_absent(pod, request.ifname, request.netns)
            tmp = create_macvlan(conf, pod)
            ipam_called = False
            try:
                link = rename_new_link(pod, tmp, request.ifname, "macvlan")
                iface = container_interface(pod, link.name, request.netns)
                result = Result(cni_version=request.config.cni_version, interfaces=(iface,))
                if layer3:
                    ipam_called = True
                    result = attach_ips(result, ipam_add(request))
                    announce_quietly(pod, request.ifname)
                    configure_iface(pod, request.ifname, result)
                else:
                    set_up(pod, request.ifname)
            except BaseException:
                cleanup_failed_add(pod, (request.ifname, tmp), request, ipam_called)
                raise
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
