"""network-status entries from delegate results, in the format Multus writes, and their
publication on the pod (the annotation, then one AddedInterface event per attachment)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from netattach.cni.types import Result
from netattach.kube.network_status import DNS as StatusDNS
from netattach.kube.network_status import NetworkStatus, format_network_status

from .delegate_cache import Delegate, PodAttachments

if TYPE_CHECKING:
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

log = logging.getLogger("netattach")


def statuses_for(delegate: Delegate, result: Result) -> list[NetworkStatus]:
    """One entry per sandbox interface of `result` (nad-client's CreateNetworkStatuses)."""
    dns = StatusDNS(nameservers=result.dns.nameservers, domain=result.dns.domain,
                    search=result.dns.search, options=result.dns.options)
    gateways = tuple(str(r.gw) for r in result.routes if r.dst.prefixlen == 0 and r.gw)
    sandboxed = [(i, iface) for i, iface in enumerate(result.interfaces) if iface.sandbox]
    if not sandboxed:
        return [NetworkStatus(name=delegate.name, interface=delegate.ifname,
                              ips=tuple(str(ip.address.ip) for ip in result.ips),
                              default=delegate.is_default, dns=dns, gateway=gateways)]
    out = []
    for index, iface in sandboxed:
        ips = tuple(str(ip.address.ip) for ip in result.ips
                    if ip.interface == index or (ip.interface is None and len(sandboxed) == 1))
        out.append(NetworkStatus(name=delegate.name, interface=iface.name, ips=ips,
                                 mac=iface.mac, mtu=iface.mtu, default=delegate.is_default,
                                 dns=dns, gateway=gateways))
    return out


def publish_status(kube: KubeAPI, pod: Pod, att: PodAttachments, results: list[Result]) -> None:
    """Write network-status and one AddedInterface event per attachment; an API failure is
    logged, the pod keeps its networks (as Multus, a status write does not fail the ADD)."""
    from netattach.kube.errors import KubeError

    entries = [s for d, r in zip(att.delegates, results, strict=True) for s in statuses_for(d, r)]
    try:
        # the UID the API has: a static pod's CNI_ARGS carry the kubelet's UID, not its
        # mirror pod's (lookup_pod accepted it already)
        kube.set_network_status(pod.namespace, pod.name, pod.uid or att.pod_uid,
                                format_network_status(entries))
    except KubeError as e:
        log.error("cannot write network-status of %s: %s", att.pod_ref, e)
        return
    for d, r in zip(att.delegates, results, strict=True):
        if r.interfaces or r.ips:
            ips = ",".join(str(ip.address) for ip in r.ips)
            kube.record_event(pod, "Normal", "AddedInterface",
                              f"Add {d.ifname} [{ips}] from {d.name}")


def clear_status(kube: KubeAPI, pod: Pod) -> None:
    """DEL of a pod that still exists: its network-status says no networks (Multus thin)."""
    from netattach.kube.errors import KubeError

    try:
        kube.set_network_status(pod.namespace, pod.name, pod.uid, format_network_status([]))
    except KubeError as e:
        log.warning("cannot clear network-status of %s/%s: %s", pod.namespace, pod.name, e)
