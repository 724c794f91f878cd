"""host-device: move an existing host interface into the pod (plugins/main/host-device).

Reads like the reference: load config, ADD (find the device, move it in through a
temporary netns, IPAM), DEL (move it back under its original name), CHECK, STATUS.
The "host" is the network namespace of the calling thread.

Differences from the reference, on purpose:
- exactly one of device/hwaddr/kernelpath/pciBusID (runtimeConfig.deviceID replaces them);
- DEL succeeds when the pod's netns or the device is already gone (the kernel returns a
  physical device to the initial netns when a netns dies, and destroys virtual ones such
  as veths: there is nothing left to move back);
- a failed ADD moves the device back and releases the IPAM allocation;
- the node's default-route interface is refused however it is named (device, hwaddr,
  kernelpath, pciBusID, deviceID), unless "allowDefaultRouteInterface": true.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from netattach.cni.errors import CNIError, Code, plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.rollback import rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import Interface, Result
from netattach.linux import Link, LinuxNetError, NetnsHandle, NetnsNotFound, NetnsThread
from netattach.linux.netlink import NetlinkSession, netlink_session
from netattach.linux.netns import CLONE_NEWNET, THREAD_NETNS_PATH, open_netns
from netattach.plugins.address_probe import probe_settings
from netattach.plugins.addressing import attach_ips, configure_iface
from netattach.plugins.checks import find_result_interface, validate_ips, validate_routes
from netattach.plugins.delegation import ipam_add, ipam_del, ipam_gc, ipam_status, run_ipam
from netattach.plugins.pod_links import pod_session, require_absent

SYS_PCI = "/sys/bus/pci/devices"
SYS_AUX = "/sys/bus/auxiliary/devices"
DPDK_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")
PICK_ERROR = 'specify either "device", "hwaddr", "kernelpath" or "pciBusID"'


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class HostDeviceConf:
    device: str = ""
    hwaddr: str = ""
    kernelpath: str = ""
    pci_bus_id: str = ""
    aux_device: str = ""
    ipam_type: str = ""

    @property
    def dpdk_driver(self) -> str:
        """The PCI driver when it is a userspace (DPDK) one, else ""."""
        if not self.pci_bus_id:
            return ""
        try:
            driver = os.path.basename(os.readlink(os.path.join(SYS_PCI, self.pci_bus_id,
                                                               "driver")))
        except OSError:
            return ""
        return driver if driver in DPDK_DRIVERS else ""


def load_conf(request: Request) -> HostDeviceConf:
    raw = request.config.raw
    picks = {}
    for key in ("device", "hwaddr", "kernelpath", "pciBusID"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise plugin_error(f"failed to load netconf: {key!r} must be a string",
                               f"got {value!r}")
        if value:
            picks[key] = value
    device_id = request.config.runtime_config.get("deviceID")
    aux = ""
    if isinstance(device_id, str) and device_id:
        if os.path.exists(os.path.join(SYS_PCI, device_id)):
            picks = {"pciBusID": device_id}
        elif os.path.exists(os.path.join(SYS_AUX, device_id)):
            picks, aux = {}, device_id
        else:
            raise plugin_error(f"runtime config DeviceID {device_id} not found or unsupported",
                               f"deviceID must name a PCI device in {SYS_PCI} or an auxiliary "
                               f"device in {SYS_AUX}")
    if not aux and len(picks) != 1:
        got = f"got {', '.join(sorted(picks))}" if picks else "got none of them"
        raise plugin_error(PICK_ERROR, f"pick the host interface one way only ({got})")
    kernelpath = picks.get("kernelpath", "")
    if kernelpath and (not os.path.isabs(kernelpath)
                       or not kernelpath.startswith("/sys/devices/")):
        raise plugin_error(f"kernel device path {kernelpath!r} must be absolute and begin "
                           "with /sys/devices/", "e.g. /sys/devices/pci0000:00/0000:00:03.0")
    return HostDeviceConf(device=picks.get("device", ""), hwaddr=picks.get("hwaddr", "").lower(),
                          kernelpath=kernelpath, pci_bus_id=picks.get("pciBusID", ""),
                          aux_device=aux, ipam_type=request.config.ipam_type)


# -- finding the device -------------------------------------------------------------------------
def _sysfs_netdevs(path: str) -> list[str]:
    try:
        return sorted(os.listdir(os.path.join(path, "net")))
    except OSError:
        return []


def find_host_device(host: NetlinkSession, conf: HostDeviceConf) -> Link:
    """The host link the config names; a CNI error that says how it was looked for."""
    if conf.device:
        link = host.find_link(conf.device)
        how = f"no link named {conf.device!r}"
    elif conf.hwaddr:
        link = next((lk for lk in host.links() if (lk.mac or "").lower() == conf.hwaddr), None)
        how = f"no link with MAC {conf.hwaddr}"
    else:
        base = conf.kernelpath or (os.path.join(SYS_PCI, conf.pci_bus_id) if conf.pci_bus_id
                                   else os.path.join(SYS_AUX, conf.aux_device))
        names = _sysfs_netdevs(base)
        link = next((lk for n in names if (lk := host.find_link(n)) is not None), None)
        how = f"no network interface under {base}/net" if not names else \
            f"{', '.join(names)} (from {base}/net) is not in this namespace"
    if link is None:
        raise plugin_error(f"failed to find host device: {how}",
                           "check the device exists on the node and is not already in use "
                           "by another pod")
    return link


ALLOW_DEFAULT_ROUTE_KEY = "allowDefaultRouteInterface"


def _how_named(conf: HostDeviceConf) -> str:
    if conf.device:
        return f'"device": "{conf.device}"'
    if conf.hwaddr:
        return f'"hwaddr": "{conf.hwaddr}"'
    if conf.kernelpath:
        return f'"kernelpath": "{conf.kernelpath}"'
    if conf.pci_bus_id:
        return f'"pciBusID": "{conf.pci_bus_id}"'
    return f"auxiliary device {conf.aux_device}"


def refuse_default_route_device(host: NetlinkSession, dev: Link, conf: HostDeviceConf,
                                allowed: bool) -> None:
    """Refuse to take the node's default-route interface, however the config named it
    (device, hwaddr, kernelpath, pciBusID, deviceID): the node would lose its default route
    and its API server. Checked on the resolved link, in every routing table."""
    if allowed:
        return
    defaults = [r for r in host.routes(table=0, dev=dev.index) if r.dst.prefixlen == 0]
    if not defaults:
        return
    families = " and ".join(sorted({f"IPv{r.dst.version}" for r in defaults}))
    raise CNIError(Code.INVALID_NETWORK_CONFIG,
                   f"host-device: {_how_named(conf)} is {dev.name}, the interface of this "
                   f"node's {families} default route: moving it into the pod would cut the node "
                   "off (no default route, no API server)",
                   f'use a dedicated NIC, or, if that is intended, add "{ALLOW_DEFAULT_ROUTE_KEY}"'
                   ": true to the host-device config")


# -- moving through a temporary netns ----------------------------------------------------------
def _unshare_net() -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise LinuxNetError(f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}",
                            op="unshare", obj="temporary netns", errno=err)


@contextlib.contextmanager
def temp_netns() -> Iterator[str]:
    """A fresh, unnamed network namespace, alive until the block ends; yields its path.

    Physical devices left inside return to the initial netns when it dies; virtual ones
    (veth...) are destroyed, so callers move everything out before leaving.
    """
    worker = NetnsThread(None, name="host-device-tempns")
    try:
        worker.call(_unshare_net)
        handle: NetnsHandle = worker.call(open_netns, THREAD_NETNS_PATH)
    finally:
        worker.close()
    try:
        yield f"/proc/{os.getpid()}/fd/{handle.fd}"
    finally:
        handle.close()


def _step(what: str) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def wrapped() -> Iterator[None]:
        try:
            yield
        except LinuxNetError as e:
            raise plugin_error(f"{what}: {e}", "see the kernel's reason above") from None
    return wrapped()


def move_link_in(host: NetlinkSession, dev: Link, pod_netns: str, ifname: str) -> Link:
    """Host -> temp netns (rename to `ifname`, alias = host name) -> pod, up; rolled back."""
    host_name = dev.name
    with _step(f"failed to set {host_name!r} down"):
        host.set_down(host_name)
    try:
        with temp_netns() as tmp_path, netlink_session(tmp_path) as tmp:
            with _step(f"failed to move {host_name!r} to tempNS"):
                host.move_link(host_name, tmp.handle)
            try:
                with _step(f"failed to rename {host_name!r} to {ifname!r} (alias "
                           f"{host_name!r})"):
                    tmp.set_link(host_name, name=ifname, alias=host_name)
                with _step(f"failed to move {ifname!r} to the pod netns {pod_netns}"):
                    tmp.move_link(ifname, pod_netns)
            except BaseException:
                with contextlib.suppress(LinuxNetError):
                    if tmp.find_link(ifname) is not None:
                        tmp.set_link(ifname, name=host_name, alias="")
                    tmp.move_link(host_name, host.handle)
                raise
        with netlink_session(pod_netns) as pod:
            try:
                with _step(f"failed to set {ifname!r} up in the pod"):
                    return pod.set_up(ifname)
            except BaseException:
                with contextlib.suppress(CNIError, LinuxNetError):
                    move_link_out(host, pod, ifname)
                raise
    except BaseException:
        if dev.admin_up:
            with contextlib.suppress(LinuxNetError):
                if host.find_link(host_name) is not None:
                    host.set_up(host_name)
        raise


def move_link_out(host: NetlinkSession, pod: NetlinkSession, ifname: str) -> str:
    """Pod -> temp netns (rename back to the alias, clear it) -> host. Returns the name."""
    dev = pod.link(ifname)
    if not dev.alias:
        raise plugin_error(f"failed to find original ifname for {ifname!r} (alias is not set)",
                           f"{ifname} was not moved in by host-device (no alias); move it "
                           "back by hand")
    host_name = dev.alias
    with _step(f"failed to set {ifname!r} down"):
        pod.set_down(ifname)
    with temp_netns() as tmp_path, netlink_session(tmp_path) as tmp:
        with _step(f"failed to move {ifname!r} to tempNS"):
            pod.move_link(ifname, tmp.handle)
        try:
            with _step(f"failed to restore {ifname!r} to original name {host_name!r}"):
                tmp.set_link(ifname, name=host_name, alias="")
            with _step(f"failed to move {host_name!r} back to the host namespace"):
                tmp.move_link(host_name, host.handle)
        except BaseException:
            with contextlib.suppress(LinuxNetError):
                if tmp.find_link(host_name) is not None:
                    tmp.set_link(host_name, name=ifname, alias=host_name)
                tmp.move_link(ifname, pod.handle)
                pod.set_up(ifname)
            raise
    return host_name


def move_back(host: NetlinkSession, pod: NetlinkSession, ifname: str, up: bool) -> None:
    """Undo of a move: the device back in the host under its name, up if it was."""
    name = move_link_out(host, pod, ifname)
    if up:
        host.set_up(name)


# -- the plugin -------------------------------------------------------------------------------
class HostDevicePlugin(BasePlugin):
    type_name = "host-device"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        probe = probe_settings(request.config.raw)
        if conf.dpdk_driver:
            # a userspace (DPDK) device has no netdev to move: only the IPAM result
            if not conf.ipam_type:
                return Result()
            return replace(ipam_add(request), dns=request.config.dns)
        with netlink_session(None) as host, pod_session(request) as pod, \
                rollback(f"host-device ADD of {request.ifname}") as undo:
            require_absent(pod, request.ifname, request.netns)
            dev = find_host_device(host, conf)
            refuse_default_route_device(
                host, dev, conf, request.config.raw.get(ALLOW_DEFAULT_ROUTE_KEY) is True)
            link = move_link_in(host, dev, request.netns, request.ifname)
            undo.defer(move_back, host, pod, request.ifname, dev.admin_up)
            iface = Interface(name=link.name, mac=link.mac or "", sandbox=request.netns,
                              pci_id=conf.pci_bus_id)
            result = Result(interfaces=(iface,))
            if conf.ipam_type:
                undo.defer(ipam_del, request)
                result = replace(attach_ips(result, ipam_add(request), 0),
                                 dns=request.config.dns)
                configure_iface(pod, request.ifname, result, probe)
        return result

    def delete(self, request: Request) -> None:
        conf = load_conf(request)
        if conf.ipam_type:
            ipam_del(request)
        if not request.netns or conf.dpdk_driver:
            return
        try:
            pod_cm = netlink_session(request.netns)
            pod = pod_cm.__enter__()
        except NetnsNotFound:
            return  # the kernel already returned (physical) or destroyed (virtual) the device
        try:
            if pod.find_link(request.ifname) is None:
                return
            with netlink_session(None) as host:
                move_link_out(host, pod, request.ifname)
        finally:
            pod_cm.__exit__(None, None, None)

    def check(self, request: Request) -> None:
        conf = load_conf(request)
        if conf.ipam_type:
            run_ipam(request, Command.CHECK)
        prev, index = find_result_interface(request)
        if conf.dpdk_driver:
            return
        with pod_session(request) as pod:
            link = pod.find_link(request.ifname)
            if link is None:
                raise plugin_error(f"failed to find {request.ifname!r} in the pod",
                                   f"the device left {request.netns} after ADD")
            expected = prev.interfaces[index]
            if expected.mac and link.mac and expected.mac.lower() != link.mac.lower():
                raise plugin_error(f"Interface {request.ifname} Mac {expected.mac} doesn't "
                                   f"match container Mac: {link.mac}",
                                   "something changed the MAC after ADD")
            validate_ips(pod, request.ifname, prev, index)
            validate_routes(pod, request.ifname, prev)

    def gc(self, request: Request) -> None:
        ipam_gc(request)

    def status(self, request: Request) -> None:
        ipam_status(request)


__all__ = ["HostDeviceConf", "HostDevicePlugin", "load_conf", "move_link_in", "move_link_out",
           "temp_netns"]
