"""The duplicate-address checks before an ADD, for the meta plugin's preflight.

Cheap when it has nothing to do: a sandbox whose networks ask for no fixed address (no
`ips`, no static IPAM) costs parsing its delegates and nothing else. Otherwise it reads the
named links of the node namespace, one address dump per namespace of the node (decoding
only the wanted addresses), and the delegate caches of the other sandboxes (one small file
each, parsed only when it spells a wanted IPv4 address, or always for IPv6).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from .delegates import DEFAULT_CNI_DIR, CachedPod, from_attachments, read_delegate_caches
from .findings import Finding, sort_findings
from .model import Inputs
from .node import NodeSnapshot
from .sources import PodSource

if TYPE_CHECKING:
    from netattach.attach.delegate_cache import PodAttachments


# the pods whose network-status to compare with, asked only when the sandbox wants fixed
# addresses; given the IPv4 addresses wanted (None: any, IPv6 has many spellings)
PodsMentioning = Callable[[Collection[str] | None], Iterable[PodSource]]


def address_findings_before_add(att: PodAttachments, cni_dir: str = DEFAULT_CNI_DIR, *,
                                node: NodeSnapshot | None = None,
                                pods: PodsMentioning | None = None) -> list[Finding]:
    """`duplicate-address-node` and `duplicate-address-pod` findings for the sandbox `att`
    about to be added.

    `node`: a snapshot preflight already took (its links are reused; address holders are
    added). `pods`: the pods whose network-status to compare with (e.g. from the daemon's
    watch cache of this node's pods), if at hand.
    """
    from .addresses import (
        address_requests,
        check_duplicate_address_node,
        check_duplicate_address_pod,
    )
    from .node import take_snapshot, with_address_holders

    adding: CachedPod = from_attachments(att, "the ADD")
    requests = address_requests(Inputs(adding=adding))
    if not requests:
        return []
    if node is None:
        devices = {r.attachment.master for r in requests if r.attachment.master}
        devices |= {str(r.attachment.get("bridge", "cni0")) for r in requests
                    if r.attachment.type == "bridge"}
        node = take_snapshot(all_namespaces=False, only=devices)
    wanted = {r.ip.ip for r in requests}
    # IPv4 has one spelling (3.11's ipaddress refuses leading zeros), so only the caches
    # that spell a wanted address can claim it; IPv6 has many: read them all
    mentioning = None if any(ip.version == 6 for ip in wanted) else {str(ip) for ip in wanted}
    inp = Inputs(node=with_address_holders(node, wanted),
                 pods=tuple(pods(mentioning)) if pods is not None else (), adding=adding,
                 cached=read_delegate_caches(cni_dir, exclude=adding.container_id,
                                             mentioning=mentioning))
    return sort_findings(check_duplicate_address_node(inp) + check_duplicate_address_pod(inp))
