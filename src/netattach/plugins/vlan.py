"""The `vlan` plugin: an 802.1Q sub-interface of a host NIC, created inside the pod.

Reads like the reference (plugins/main/vlan/vlan.go): load config, add, del, check,
status. Differences on purpose: DEL never needs the master, a failed ADD removes the link
it created, and EEXIST names the device that already holds (master, vlanId) and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netattach.cni import schema
from netattach.cni.errors import CNIError, plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.rollback import Undo, rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import DNS, Result
from netattach.linux import LinkExists, LinuxNetError, temp_link_name
from netattach.plugins import shared_vlan
from netattach.plugins.address_probe import probe_settings
from netattach.plugins.addressing import attach_ips, configure_iface, container_interface
from netattach.plugins.checks import (
    check_container_link,
    find_result_interface,
    validate_ips,
    validate_routes,
)
from netattach.plugins.delegation import ipam_add, ipam_del, ipam_gc, ipam_status, run_ipam
from netattach.plugins.masters import lookup_master, master_mtu_ok, master_session
from netattach.plugins.pod_links import (
    delete_link_in_netns,
    pod_session,
    release_attachment,
    rename_new_link,
    require_absent,
)

if TYPE_CHECKING:
    from netattach.linux import Link, VlanDevice
    from netattach.linux.netlink import NetlinkSession


# -- config -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VlanConf:
    """The vlan plugin's keys (same names and defaults as the reference)."""

    master: str = schema.setting("master", str, "")
    # The reference's text says 4095, but 4095 is reserved and rejected (as here).
    vlan_id: int = schema.setting("vlanId", int, 0, check=schema.between(
        0, 4094, "invalid VLAN ID {value} (must be between 0 and 4095 inclusive)",
        "VLAN ids are 0..4094 (4095 is reserved by 802.1Q)"))
    mtu: int = schema.setting("mtu", int, 0, check=schema.between(
        0, 1 << 31, "invalid MTU {value}, must be [0, master MTU]",
        "leave mtu unset (0) to inherit the master's MTU"))
    link_in_container: bool = schema.setting("linkInContainer", bool, False)
    dns: DNS = DNS()
    # one host VLAN device, pods on it (see shared_vlan.py)
    shared: bool = schema.setting("shared", bool, False)
    # the pods' link on the shared device: macvlan or ipvlan
    shared_link: str = schema.setting("sharedLink", str, "macvlan", empty_is_default=True,
                                      check=schema.one_of(
                                          ("macvlan", "ipvlan"), 'invalid "sharedLink": {value}',
                                          'pods attach to a shared VLAN with "macvlan" '
                                          '(default) or "ipvlan"'))
    # macvlan mode (default bridge) or ipvlan mode (default l2)
    shared_mode: str = schema.setting("sharedMode", str, "")
    shared_state_dir: str = schema.setting("sharedStateDir", str, "",
                                           check=schema.no_nul_named("sharedStateDir"))


def load_conf(request: Request) -> VlanConf:
    """Parse and check the keys that need no kernel (the master's MTU is checked at ADD)."""
    conf = schema.load(VlanConf, request.config.raw, schema.GO_NETCONF,
                       dns=request.config.dns)
    if not conf.master:
        raise plugin_error('"master" field is required. It specifies the host interface name '
                           "to create the VLAN for",
                           'add "master": "<host NIC>" (e.g. "enp16s0f0") to the network '
                           "config")
    if conf.shared and conf.link_in_container:
        raise plugin_error('"shared" and "linkInContainer" cannot be combined',
                           "a shared VLAN device lives in the host namespace")
    return conf


# -- ADD ------------------------------------------------------------------------------------
class VlanPlugin(BasePlugin):
    """CNI `vlan`: one VLAN sub-interface of `master` per attachment."""

    type_name = "vlan"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        probe_settings(request.config.raw)  # a bad value fails before anything is made
        if not request.config.ipam_type:
            raise plugin_error("failed to execute IPAM delegate: no IPAM type",
                               'the vlan plugin needs "ipam": {"type": "static" | '
                               '"host-local" | ...}')
        if conf.shared:
            return add_shared(conf, request)
        with pod_session(request) as pod, rollback(f"vlan ADD of {request.ifname}") as undo:
            require_absent(pod, request.ifname, request.netns)
            result = finish_add(pod, request, create_vlan(conf, pod), undo)
        return replace(result, dns=conf.dns)

    def delete(self, request: Request) -> None:
        # No master lookup: DEL must work with the master (or the whole node NIC) gone.
        release_attachment(request)
        try:
            conf = load_conf(request)
        except CNIError:
            return
        if conf.shared:
            release_shared(conf, request)

    def check(self, request: Request) -> None:
        conf = load_conf(request)
        if request.config.ipam_type:
            run_ipam(request, Command.CHECK)
        prev, index = find_result_interface(request)
        with pod_session(request) as pod:
            with master_session(pod, conf.link_in_container) as host:
                master = lookup_master(host, conf.master, conf.link_in_container)
                if conf.shared:
                    master = shared_vlan.host_device(host, master, conf.vlan_id)
            kind = conf.shared_link if conf.shared else "vlan"
            link = check_container_link(pod, prev.interfaces[index], kind, master=master,
                                        mtu=conf.mtu)
            if not conf.shared and link.vlan_id != conf.vlan_id:
                raise plugin_error(f"Error: container vlan {link.name} has VLAN id "
                                   f"{link.vlan_id}, configured vlanId is {conf.vlan_id}",
                                   "the link was replaced after ADD; DEL and ADD again")
            validate_ips(pod, request.ifname, prev, index)
            validate_routes(pod, request.ifname, prev)

    def gc(self, request: Request) -> None:
        ipam_gc(request)

    def status(self, request: Request) -> None:
        ipam_status(request)


def create_vlan(conf: VlanConf, pod: NetlinkSession) -> str:
    """Create the VLAN directly in the pod under a temporary name; return that name.

    Checks the master exists and the MTU fits. EEXIST becomes an error naming the holder.
    """
    with master_session(pod, conf.link_in_container) as host:
        master = lookup_master(host, conf.master, conf.link_in_container)
        master_mtu_ok(conf.mtu, master)
        tmp = temp_link_name()
        try:
            host.create_vlan(tmp, master.index, conf.vlan_id, mtu=conf.mtu or None,
                             netns=None if conf.link_in_container else pod.handle)
        except LinkExists:
            raise vlan_in_use(conf, master, pod.label) from None
        except (LinuxNetError, ValueError) as e:
            raise plugin_error(f"failed to create vlan: {e}",
                               f"the kernel refused VLAN {conf.vlan_id} on {master.name}") \
                from None
    return tmp


def finish_add(pod: NetlinkSession, request: Request, tmp: str, undo: Undo,
               kind: str = "vlan") -> Result:
    """Rename the new link `tmp` to CNI_IFNAME, run IPAM, configure (undone on failure)."""
    undo.defer(delete_link_in_netns, request.netns, tmp)
    link = rename_new_link(pod, tmp, request.ifname, kind)
    undo.defer(delete_link_in_netns, request.netns, request.ifname)
    iface = container_interface(pod, link.name, request.netns)
    undo.defer(ipam_del, request)
    ipam = ipam_add(request)
    result = attach_ips(Result(cni_version=request.config.cni_version, interfaces=(iface,)),
                        ipam)
    configure_iface(pod, request.ifname, result, probe_settings(request.config.raw))
    return result


# -- EEXIST: who holds (master, vlanId)? ------------------------------------------------
def vlan_in_use(conf: VlanConf, master: Link, pod_netns: str) -> CNIError:
    """The reference's `failed to create vlan: file exists`, naming the holder and the fix."""
    from netattach.linux import find_vlan_users

    parent_netns = pod_netns if conf.link_in_container else None
    try:
        users = find_vlan_users(master.name, conf.vlan_id, parent_netns=parent_netns)
    except (LinuxNetError, OSError):
        users = []
    prefix = "failed to create vlan: file exists: "
    what = f"VLAN {conf.vlan_id} on {master.name}"
    one_per_parent = (f"the kernel allows one VLAN device per (parent, VLAN id) across all "
                      f"namespaces, so every pod asking for VLAN {conf.vlan_id} on "
                      f"{master.name} fails while it exists")
    if not users:
        return plugin_error(
            f"{prefix}{what} is already in use (no holder found; it may just have been "
            "deleted)",
            f"{one_per_parent}; retry the ADD, or look for a VLAN {conf.vlan_id} device on "
            f"{master.name} with `ip -d link show` in every namespace")
    holder = users[0]
    if holder.netns_id == holder.parent_netns_id and not conf.link_in_container:
        where = "the host namespace" + ("" if holder.netns == "host" else
                                        f" ({holder.netns})")
        return plugin_error(
            f"{prefix}{what} is already used by {holder.name} in {where}",
            f"delete it (ip link del {holder.name}) or attach pods with macvlan on "
            f"{holder.name}; a host VLAN device and a pod VLAN cannot share (parent, VLAN id)")
    return plugin_error(
        f"{prefix}{what} is already used by {holder.describe()}",
        f"{one_per_parent}. If {holder.name} is stale, delete it "
        f"({delete_command(holder)}); to give several pods VLAN {conf.vlan_id}, create one "
        f"VLAN device {master.name}.{conf.vlan_id} on the host and attach pods with macvlan "
        "(or ipvlan) on it")


def delete_command(holder: VlanDevice) -> str:
    """The shell command that deletes `holder` where it lives."""
    label = holder.netns
    if label == "host":
        return f"ip link del {holder.name}"
    if label.startswith("pid "):
        return f"nsenter -t {label[4:]} -n ip link del {holder.name}"
    if os.path.dirname(label) in ("/run/netns", "/var/run/netns"):
        return f"ip -n {os.path.basename(label)} link del {holder.name}"
    return f"nsenter --net={label} ip link del {holder.name}"


# -- shared mode --------------------------------------------------------------------------
def add_shared(conf: VlanConf, request: Request) -> Result:
    """ADD on the shared host VLAN device: a macvlan/ipvlan of it, created in the pod."""
    store = shared_vlan.SharedVlans(conf.shared_state_dir)
    user = f"{request.container_id}/{request.ifname}"
    with pod_session(request) as pod, master_session(pod, False) as host, \
            rollback(f"shared vlan ADD of {request.ifname}") as undo:
        require_absent(pod, request.ifname, request.netns)
        master = lookup_master(host, conf.master)
        master_mtu_ok(conf.mtu, master)
        device = shared_vlan.acquire(store, host, master, conf.vlan_id, user)
        undo.defer(shared_vlan.release, store, host, conf.master, conf.vlan_id, user)
        tmp = temp_link_name()
        try:
            if conf.shared_link == "ipvlan":
                host.create_ipvlan(tmp, device.index, mode=conf.shared_mode or "l2",
                                   mtu=conf.mtu or None, netns=pod.handle)
            else:
                host.create_macvlan(tmp, device.index, mode=conf.shared_mode or "bridge",
                                    mtu=conf.mtu or None, netns=pod.handle)
        except (LinuxNetError, ValueError) as e:
            raise plugin_error(f"failed to create {conf.shared_link} on shared vlan "
                               f"{device.name}: {e}", "see the kernel's reason") from None
        result = finish_add(pod, request, tmp, undo, conf.shared_link)
    return replace(result, dns=conf.dns)


def release_shared(conf: VlanConf, request: Request) -> None:
    """Count this attachment out of the shared device (deleted with its last user)."""
    from netattach.linux import netlink_session

    store = shared_vlan.SharedVlans(conf.shared_state_dir)
    with netlink_session(None) as host:
        shared_vlan.release(store, host, conf.master, conf.vlan_id,
                            f"{request.container_id}/{request.ifname}")
