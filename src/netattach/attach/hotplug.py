"""Hot-plug: a running pod's networks follow its annotation, as Multus's dynamic networks
controller does (thick mode only: the node daemon watches the pods of its node).

When the `k8s.v1.cni.cncf.io/networks` annotation of a pod that netattach attached on this
node no longer matches what the pod has (the delegate cache says what it has), the
elements it gained are added (each must name its `interface`), the ones it lost are
removed, network-status is written again, and every change is an event:
`AddedInterface`, `RemovedInterface`, `FailedAddingInterface` (the additions of one update
are all or nothing), `InterfaceAddRejected` (hostNetwork pods, refused changes). The
cluster network and defaultNetworks never change. The sandbox's namespace and the config
the pod was added with come from the delegate cache, so no CRI socket is needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from netattach.cni.config import NetConf
from netattach.cni.errors import CNIError
from netattach.cni.rollback import rollback

from .config import MetaConfig
from .delegate_cache import Delegate, DelegateCache, PodAttachments
from .delegates import Delegation, add_delegates, del_delegates, runtime_conf
from .plan import NETWORKS_ANNOTATION, selection_delegate

if TYPE_CHECKING:
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

log = logging.getLogger("netattach")


class Refused(Exception):
    """The annotation cannot be applied to the running pod; the message says why and how."""


@dataclass(frozen=True)
class Change:
    """What one annotation update does to a running pod."""

    added: tuple[Delegate, ...] = ()
    removed: tuple[Delegate, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def config_of(att: PodAttachments) -> MetaConfig:
    """The meta config the sandbox was added with (kept in its delegate cache)."""
    if att.meta_config is None:
        raise Refused("it was attached by a netattach that did not record its config; "
                      "delete the pod to give it the new networks")
    return MetaConfig.from_netconf(NetConf.from_json(att.meta_config))


def plan_change(att: PodAttachments, pod: Pod, cfg: MetaConfig, kube: KubeAPI) -> Change:
    """Compare the pod's annotation with its attachments; Refused when it cannot be done."""
    from netattach.kube.annotations import AnnotationError, parse_networks

    current = [d for d in att.delegates if d.from_annotation]
    if any(d.from_annotation is None for d in att.delegates):
        raise Refused("its delegate cache does not say which attachments the annotation made; "
                      "delete the pod to give it the new networks")
    try:
        selections = parse_networks(pod.annotations.get(NETWORKS_ANNOTATION, ""),
                                    pod.namespace, pod.name)
    except AnnotationError as e:
        raise Refused(f"{e}; fix the annotation") from None
    kept: list[Delegate] = []
    wanted = []
    for sel in selections:
        match = next((d for d in current if d not in kept and d.name == sel.key
                      and (sel.interface is None or d.ifname == sel.interface)), None)
        if match is not None:
            kept.append(match)
        elif sel.interface is None:
            raise Refused(f"the new element {sel.key} names no \"interface\": a running pod's "
                          "networks can change only with an interface name for each new "
                          "element")
        else:
            wanted.append(sel)
    taken = {d.ifname for d in att.delegates if d not in current or d in kept}
    base_args = next((d.cni_args for d in att.delegates if d.is_default), ())
    added = []
    for sel in wanted:
        assert sel.interface is not None
        if sel.interface in taken:
            raise Refused(f"interface {sel.interface} is already in use in the pod; pick "
                          "another \"interface\" for " + sel.key)
        taken.add(sel.interface)
        try:
            added.append(selection_delegate(
                cfg, sel, lambda ns, name: kube.get_nad(ns, name).config, pod,
                f"{pod.namespace}/{pod.name}", base_args, sel.interface))
        except CNIError as e:
            raise Refused(f"{e.msg}; {e.details}" if e.details else e.msg) from None
    return Change(tuple(added), tuple(d for d in current if d not in kept))


def apply_change(delegation: Delegation, cache: DelegateCache, att: PodAttachments,
                 change: Change) -> PodAttachments:
    """Add (all or nothing), then remove; the new delegate cache entry is saved and
    returned. CNIError when an addition failed (nothing of this update then stays)."""
    with rollback(f"hot-plug of {att.pod_ref}") as undo:
        add_delegates(delegation, replace(att, delegates=change.added), undo)
    kept_back = []
    for d in reversed(change.removed):
        for err in del_delegates(delegation, att, [d]):
            log.warning("hot-unplug of %s: %s", att.pod_ref, err)
            kept_back.append(d)  # still attached as far as anyone knows: DEL retries it
    remaining = tuple(d for d in att.delegates if d not in change.removed or d in kept_back)
    updated = replace(att, delegates=remaining + change.added)
    cache.save(updated)
    return updated


def write_status(delegation: Delegation, kube: KubeAPI, pod: Pod, att: PodAttachments) -> None:
    """network-status of what the pod has now, from the results cached at each ADD."""
    from netattach.kube.network_status import format_network_status

    from .status import statuses_for

    entries = []
    for d in att.delegates:
        result = delegation.invoker.cached_result(d.conflist, runtime_conf(att, d))
        if result is not None:
            entries += statuses_for(d, result)
    kube.set_network_status(pod.namespace, pod.name, pod.uid, format_network_status(entries))


def reconcile(pod: Pod, att: PodAttachments | None, kube: KubeAPI) -> PodAttachments | None:
    """Make the running sandbox `att` of `pod` match its annotation; events say what
    happened. Returns the new cache entry, or None when nothing changed."""
    if pod.host_network or att is None:
        if pod.host_network and pod.annotations.get(NETWORKS_ANNOTATION):
            kube.record_event(pod, "Warning", "InterfaceAddRejected",
                              "hostNetwork pods have no sandbox namespace: networks cannot "
                              "be added")
        return None
    try:
        cfg = config_of(att)
        change = plan_change(att, pod, cfg, kube)
    except Refused as e:
        kube.record_event(pod, "Warning", "InterfaceAddRejected",
                          f"networks of the running pod not changed: {e}")
        return None
    if not change:
        return None
    delegation = Delegation.for_config(cfg, att.cni_path)
    cache = DelegateCache(Path(cfg.cni_dir))
    try:
        updated = apply_change(delegation, cache, att, change)
    except CNIError as err:
        wanted = ", ".join(f"{d.ifname} ({d.name})" for d in change.added)
        kube.record_event(pod, "Warning", "FailedAddingInterface",
                          f"none of {wanted} added: {err.msg}"
                          + (f"; {err.details}" if err.details else ""))
        return None
    for d in change.added:
        result = delegation.invoker.cached_result(d.conflist, runtime_conf(updated, d))
        ips = ",".join(str(ip.address) for ip in result.ips) if result else ""
        kube.record_event(pod, "Normal", "AddedInterface", f"Add {d.ifname} [{ips}] from {d.name}")
    for d in change.removed:
        if d not in updated.delegates:
            kube.record_event(pod, "Normal", "RemovedInterface",
                              f"Remove {d.ifname} from {d.name}")
    write_status(delegation, kube, pod, updated)
    return updated


def sandbox_of(cache: DelegateCache, pod: Pod) -> PodAttachments | None:
    """The running sandbox netattach attached for `pod` on this node (its netns present)."""
    found = [a for a in cache.all() if a.pod_namespace == pod.namespace
             and a.pod_name == pod.name and (not pod.uid or a.pod_uid == pod.uid)
             and a.netns and os.path.exists(a.netns)]
    return found[-1] if found else None
