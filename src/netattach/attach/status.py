"""network-status entries from delegate results, in the format Multus writes."""

from __future__ import annotations

from netattach.cni.types import Result
from netattach.kube.network_status import DNS as StatusDNS
from netattach.kube.network_status import NetworkStatus

from .delegate_cache import Delegate


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
