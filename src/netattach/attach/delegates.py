"""Running a pod's delegates: ADD in order (each undone if a later step fails), DEL in
reverse continuing past failures, CHECK of each. Multus's `[ns/pod/uid:net]` prefix on
every delegate error."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from netattach.builtins import PluginRunner
from netattach.cni import version as versions
from netattach.cni.errors import CNIError, Code
from netattach.cni.invoke import ExecExecutor, Invoker, RuntimeConf
from netattach.cni.result_cache import ResultCache
from netattach.cni.rollback import Undo
from netattach.cni.types import Result

from .config import MetaConfig
from .delegate_cache import Delegate, PodAttachments
from .plan import error_prefix

log = logging.getLogger("netattach")


@dataclass(frozen=True)
class Delegation:
    """How this call runs delegates: the invoker (libcni's rules, its result cache under
    cniDir) with built-ins in process and other types from binDir, then CNI_PATH."""

    invoker: Invoker

    @classmethod
    def for_config(cls, cfg: MetaConfig, cni_path: tuple[str, ...]) -> Delegation:
        path = tuple(p for p in (cfg.bin_dir, *cni_path) if p)
        runner = PluginRunner(external=ExecExecutor(chroot_dir=cfg.chroot_dir))
        return cls(Invoker(path=path, executor=runner, cache=ResultCache(Path(cfg.cni_dir))))

    def add(self, att: PodAttachments, d: Delegate) -> Result:
        return self.invoker.add(d.conflist, runtime_conf(att, d))

    def delete(self, att: PodAttachments, d: Delegate) -> None:
        self.invoker.delete(d.conflist, runtime_conf(att, d))

    def record_result(self, att: PodAttachments, d: Delegate, result: Result) -> None:
        """Replace the cached ADD result of `d` (after netattach changed its routes)."""
        cache = self.invoker.cache
        entry = cache.read(d.network, att.container_id, d.ifname)
        if entry is not None:
            cache.write(replace(entry, result=result.to_json()))


def runtime_conf(att: PodAttachments, d: Delegate) -> RuntimeConf:
    return RuntimeConf(att.container_id, att.netns, d.ifname, d.cni_args, d.capability_args)


def prefix(att: PodAttachments, d: Delegate) -> str:
    return error_prefix(att.pod_namespace, att.pod_name, att.pod_uid, d.network)


def add_error(att: PodAttachments, d: Delegate, err: CNIError) -> CNIError:
    """A delegate's ADD failure as Multus words it."""
    return CNIError(err.code, f"{prefix(att, d)}: error adding container to network "
                    f'"{d.network}": {err.msg}', err.details)


def add_delegates(delegation: Delegation, att: PodAttachments, undo: Undo) -> list[Result]:
    """ADD every delegate in order; each one's DEL is deferred on `undo` once it is added."""
    from netattach.linux import NetnsNotFound, link_exists

    results: list[Result] = []
    for d in att.delegates:
        try:
            taken = link_exists(att.netns, d.ifname)
        except NetnsNotFound:
            raise CNIError(Code.INVALID_NETNS, f"netns {att.netns} does not exist",
                           "the sandbox's network namespace is gone") from None
        if taken:  # Multus's validateIfName: the pod already has it; keep the pod's link
            raise add_error(att, d, CNIError(
                Code.INTERNAL, f"interface name {d.ifname} already exists in the pod",
                f"network {d.name} would be {d.ifname}, which the pod already has; request "
                'another "interface"'))
        undo.defer(delete_quietly, delegation, att, d)  # also when its ADD fails half way
        try:
            result = delegation.add(att, d)
            check_requested_ips(d, result)
        except CNIError as err:
            raise add_error(att, d, err) from None
        results.append(result)
        log.info("Add: %s:%s:%s(%s):%s %s", att.pod_namespace, att.pod_name, att.pod_uid,
                 d.network, d.ifname, result.to_json())
    return results


def delete_quietly(delegation: Delegation, att: PodAttachments, d: Delegate) -> None:
    """DEL of one delegate while undoing a failed ADD (the ADD's error is what matters)."""
    try:
        delegation.delete(att, d)
    except CNIError as err:
        log.warning("%s: undoing the ADD of %s: %s", prefix(att, d), d.ifname, err)


def check_requested_ips(d: Delegate, result: Result) -> None:
    """The network spec: every requested `ips` entry must be on the attachment (it may get
    more: a dual-stack network gives an IPv6 address to a pod asking for an IPv4 one)."""
    if not d.requested_ips:
        return
    wanted = {ipaddress.ip_interface(ip).ip if "/" in ip else ipaddress.ip_address(ip)
              for ip in d.requested_ips}
    got = {ip.address.ip for ip in result.ips}
    if not wanted <= got:
        types = [p.get("type") for p in d.conflist.plugins]
        raise CNIError(Code.INTERNAL,
                       f"requested ips {', '.join(d.requested_ips)} but the attachment got "
                       f"{', '.join(sorted(map(str, got))) or 'no address'}",
                       f"network {d.name} (plugins {', '.join(map(str, types))}) ignored the "
                       "request: use an IPAM that honours it (static, or host-local with the IP "
                       'in a range) and declare "capabilities": {"ips": true}')


def del_delegates(delegation: Delegation, att: PodAttachments,
                  delegates: Iterable[Delegate]) -> list[CNIError]:
    """DEL each delegate, continuing past failures; return the failures."""
    errors = []
    for d in delegates:
        try:
            delegation.delete(att, d)
        except CNIError as err:
            errors.append(CNIError(err.code, f"{prefix(att, d)}: error deleting network "
                                   f"\"{d.network}\" ({d.ifname}): {err.msg}", err.details))
        except Exception as exc:  # noqa: BLE001 - DEL goes on with the others
            errors.append(CNIError(Code.INTERNAL, f"{prefix(att, d)}: error deleting network "
                                   f"\"{d.network}\" ({d.ifname}): {exc}",
                                   f"unexpected {type(exc).__name__}; the other networks were "
                                   "deleted; DEL may be retried"))
    return errors


def check_delegates(delegation: Delegation, att: PodAttachments) -> None:
    """CHECK every delegate that can be checked (cniVersion 0.4.0+)."""
    for d in att.delegates:
        if not versions.at_least(d.conflist.cni_version, "0.4.0"):
            log.info("CHECK %s: skipping network %r (%s): cniVersion %s has no CHECK",
                     att.container_id, d.network, d.ifname, d.conflist.cni_version)
            continue
        try:
            delegation.invoker.check(d.conflist, runtime_conf(att, d))
        except CNIError as err:
            raise CNIError(err.code, f"{prefix(att, d)}: error checking network "
                           f"{d.network!r} ({d.ifname}): {err.msg}", err.details) from None
