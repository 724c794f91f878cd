"""The `ipvlan` plugin: an IP-VLAN of a host NIC (sharing its MAC), created inside the pod.

Reads like the reference (plugins/main/ipvlan/ipvlan.go): load config, add, del, check,
status. Chained use: with no "master" the previous result's single interface is the
master, and with no IPAM type the previous result's IPs are reused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netattach.cni import schema
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
    from netattach.linux.netlink import NetlinkSession

MODES = ("l2", "l3", "l3s")


# -- config -------------------------------------------------------------------------------
@dataclass(frozen=True)
class IpvlanConf:
    """The ipvlan plugin's keys. `master` "" = chained master or the default-route NIC."""

    master: str = schema.setting("master", str, "")
    mode: str = schema.setting("mode", str, "l2", empty_is_default=True, check=schema.one_of(
        MODES, 'unknown ipvlan mode: "{value}"', f"mode is one of {', '.join(MODES)} "
        "(default l2)"))
    mtu: int = schema.setting("mtu", int, 0, check=schema.between(
        0, 1 << 31, "invalid MTU {value}, must be [0, master MTU]",
        "leave mtu unset (0) to inherit the master's MTU"))
    link_in_container: bool = schema.setting("linkInContainer", bool, False)
    dns: DNS = DNS()


def load_conf(request: Request, chained: bool = True) -> IpvlanConf:
    """Parse the keys; a chained call (prevResult, no master) takes prevResult's interface
    (not for CHECK: `chained=False`)."""
    conf = schema.load(IpvlanConf, request.config.raw, schema.GO_NETCONF,
                       dns=request.config.dns)
    prev = request.config.prev_result
    if chained and not conf.master and prev is not None:
        if len(prev.interfaces) == 1 and prev.interfaces[0].name:
            return replace(conf, master=prev.interfaces[0].name)
        raise plugin_error("chained master failure. PrevResult lacks a single named "
                           "interface", 'set "master" explicitly: the previous plugin '
                           f"returned {len(prev.interfaces)} interfaces")
    return conf


# -- ADD / DEL / CHECK / STATUS ------------------------------------------------------------
class IpvlanPlugin(BasePlugin):
    """CNI `ipvlan`: an ipvlan of `master` per attachment."""

    type_name = "ipvlan"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        prev = request.config.prev_result
        reuse = not request.config.ipam_type and prev is not None and bool(prev.ips)
        if not reuse and not request.config.ipam_type:
            raise plugin_error("failed to execute IPAM delegate: no IPAM type",
                               'the ipvlan plugin needs "ipam": {"type": ...} unless it is '
                               "chained after a plugin whose result has IPs")
        probe = probe_settings(request.config.raw)
        with pod_session(request) as pod, rollback(f"ipvlan ADD of {request.ifname}") as undo:
            require_absent(pod, request.ifname, request.netns)
            tmp = create_ipvlan(conf, pod)
            undo.defer(delete_link_in_netns, request.netns, tmp)
            link = rename_new_link(pod, tmp, request.ifname, "ipvlan")
            undo.defer(delete_link_in_netns, request.netns, request.ifname)
            iface = container_interface(pod, link.name, request.netns)
            base = Result(cni_version=request.config.cni_version, interfaces=(iface,))
            if reuse:
                assert prev is not None
                result = attach_ips(base, prev)
            else:
                undo.defer(ipam_del, request)
                result = attach_ips(base, ipam_add(request))
            announce_quietly(pod, request.ifname)
            configure_iface(pod, request.ifname, result, probe)
        return replace(result, dns=conf.dns)

    def delete(self, request: Request) -> None:
        # No master lookup (the reference may do a default-route lookup here).
        release_attachment(request)

    def check(self, request: Request) -> None:
        conf = load_conf(request, chained=False)
        if request.config.ipam_type:
            run_ipam(request, Command.CHECK)
        prev, index = find_result_interface(request)
        with pod_session(request) as pod:
            master = None
            if conf.master:
                with master_session(pod, conf.link_in_container) as host:
                    master = lookup_master(host, conf.master, conf.link_in_container)
            link = check_container_link(pod, prev.interfaces[index], "ipvlan", master=master,
                                        mtu=conf.mtu)
            if link.ipvlan_mode != conf.mode:
                raise plugin_error(f"Container IPVlan mode {link.ipvlan_mode} does not match "
                                   f"expected value: {conf.mode}",
                                   "the link was replaced after ADD; DEL and ADD again")
            validate_ips(pod, request.ifname, prev, index)
            validate_routes(pod, request.ifname, prev)

    def gc(self, request: Request) -> None:
        ipam_gc(request)

    def status(self, request: Request) -> None:
        ipam_status(request)


def create_ipvlan(conf: IpvlanConf, pod: NetlinkSession) -> str:
    """Create the ipvlan directly in the pod under a temporary name; return that name."""
    with master_session(pod, conf.link_in_container) as host:
        master = lookup_master(host, conf.master or default_route_master(host),
                               conf.link_in_container)
        master_mtu_ok(conf.mtu, master)
        tmp = temp_link_name()
        try:
            host.create_ipvlan(tmp, master.index, mode=conf.mode, mtu=conf.mtu or None,
                               netns=None if conf.link_in_container else pod.handle)
        except (LinuxNetError, ValueError) as e:
            raise plugin_error(f"failed to create ipvlan: {e}",
                               f"the kernel refused an ipvlan on {master.name}; a device "
                               "that already carries macvlans, or is a bridge port, cannot "
                               "be an ipvlan parent") from None
    return tmp

