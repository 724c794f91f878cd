"""Duplicate addresses: a pod's static or requested address that someone already has.

Two findings, both errors when the ADD would surely create a conflict:

- `duplicate-address-node`: the node holds the address, on the attachment's own network (the
  master, the host VLAN device, the bridge) or on any link of any namespace of the node
  (another pod's sandbox); a holder on another network is a warning, or nothing when both
  networks are known to differ (isolated networks may reuse addresses).
- `duplicate-address-pod`: another pod asked for (delegate caches on this node) or got
  (its network-status, with API access) the same address on the same network.

Different addresses in the same subnet are normal and never flagged. Requests come from the
pods' `k8s.v1.cni.cncf.io/networks` `ips`, else the NAD's static IPAM addresses; before an
ADD, from the sandbox being added (`Inputs.adding`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from .delegates import CachedPod
from .findings import ERROR, WARNING, Finding
from .hostconfig import DeclaredDevice
from .model import (
    NETWORK_STATUS_ANNOTATION,
    Attachment,
    Inputs,
    _edit,
    ip_interface,
    nad_index,
    parse_nad,
    static_addresses,
    static_requests,
)
from .node import STACKED_KINDS, NodeLink, NodeSnapshot
from .sources import NadSource

REASON = "DuplicateAddress"
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Segment = tuple[str, ...]


# -- which network (L2 segment) an attachment or a link is on ---------------------------------
def device_segment(name: str, node: NodeSnapshot | None) -> Segment:
    """The segment of a node-namespace device: its VLAN, its bridge, or the link itself."""
    lk = node.node_link(name) if node is not None else None
    if lk is not None and lk.kind == "vlan" and lk.parent and lk.vlan_id is not None:
        return ("vlan", lk.parent, str(lk.vlan_id))
    if lk is not None and lk.kind == "bridge":
        return ("bridge", name, "0")
    if lk is not None and lk.kind in ("macvlan", "ipvlan") and lk.parent and lk.parent != name:
        return device_segment(lk.parent, node)
    return ("link", name)


def attachment_segment(a: Attachment, node: NodeSnapshot | None) -> Segment:
    """Where a pod on `a` lands; ("nad", key) when only the NAD itself says it."""
    if a.in_container:
        return ("nad", a.nad.key)
    if a.type == "vlan" and a.master:
        return ("vlan", a.master, str(a.vlan_id or 0))
    if a.type in ("macvlan", "ipvlan"):
        dev = a.master or (node.default_route_links[0] if node is not None
                           and node.default_route_links else None)
        if dev:
            return device_segment(dev, node)
    if a.type == "host-device" and a.master:
        return ("link", a.master)
    if a.type == "bridge":
        return ("bridge", str(a.get("bridge", "cni0")), str(a.get("vlan", 0)))
    return ("nad", a.nad.key)


def link_segment(lk: NodeLink, node: NodeSnapshot | None) -> Segment | None:
    """The segment a link is on; None when it cannot be told (a pod's veth...)."""
    if lk.in_node:
        return device_segment(lk.name, node)
    if not (lk.parent and lk.parent_in_node):
        return None
    if lk.kind == "vlan" and lk.vlan_id is not None:
        return ("vlan", lk.parent, str(lk.vlan_id))
    if lk.kind in STACKED_KINDS:
        return device_segment(lk.parent, node)
    return None


def segment_text(seg: Segment) -> str:
    if seg[0] == "vlan":
        return f"VLAN {seg[2]} on {seg[1]}"
    if seg[0] == "bridge":
        return f"bridge {seg[1]}" + (f" VLAN {seg[2]}" if seg[2] != "0" else "")
    if seg[0] == "nad":
        return f"the network of NAD {seg[1]}"
    return seg[1]


# -- who asks for what, who already has what ---------------------------------------------------
@dataclass(frozen=True)
class AddressRequest:
    """An address a pod will get on one attachment. `own_netns` are the namespace ids of
    its own sandboxes, `own_status` the (interface, ip) its own network-status reports:
    addresses found there are its own, not a conflict."""

    ip: IPInterface
    pod: str
    who: str
    attachment: Attachment
    from_nad: bool = False  # the NAD's static addresses, not the pod's "ips"
    source: str = "annotation"  # "annotation", "cache" (a sandbox on this node), "adding"
    node_name: str = ""
    own_netns: frozenset[str] = frozenset()
    own_status: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class AddressClaim:
    """Another pod's hold on an address: its delegate cache, or its network-status."""

    ip: IPAddress
    pod: str
    who: str
    nad: str
    segment: Segment
    container: str = ""
    origin: str = ""  # the delegate cache file


def _delegate_attachments(c: CachedPod, origin: str
                          ) -> Iterable[tuple[str, str, Attachment, list[str], bool]]:
    """(nad key, ifname, first plugin, addresses, from the NAD) per secondary delegate."""
    for d in c.delegates:
        if d.is_default:
            continue
        ns, _, name = d.name.rpartition("/")
        atts = parse_nad(NadSource(ns, name, d.config, origin))
        if not atts:
            continue
        ips = list(d.requested_ips)
        from_nad = not ips
        if from_nad:
            ips = static_addresses(atts[0])
        if ips:
            yield d.name, d.ifname, atts[0], ips, from_nad


def _sandbox(c: CachedPod, ifname: str) -> str:
    where = f", delegate cache {c.origin}" if c.origin else ""
    return f"{c.pod_ref} (sandbox {c.container_id[:12]}, {ifname}{where})"


def address_requests(inp: Inputs) -> list[AddressRequest]:
    """Before an ADD: the sandbox being added. In doctor: every pod of the inputs and every
    sandbox in the delegate caches (live on this node)."""
    own_ns: dict[str, set[str]] = {}
    for c in (*inp.cached, *((inp.adding,) if inp.adding else ())):
        if c.netns_id:
            own_ns.setdefault(c.pod_ref, set()).add(c.netns_id)
    own_status = {p.key: frozenset((s.interface, ip) for s in _statuses(p.annotations.get(
        NETWORK_STATUS_ANNOTATION, ""), p.key) for ip in s.ips) for p in inp.pods}
    node_of = {p.key: p.node_name for p in inp.pods}
    out: list[AddressRequest] = []
    if inp.adding is not None:
        sandboxes = [(inp.adding, "adding")]
    else:
        sandboxes = [(c, "cache") for c in inp.cached]
        pod_requests = static_requests(inp)
        for sr in pod_requests:
            out.append(AddressRequest(sr.ip, sr.pod, sr.who, sr.attachment,
                                      "via the static addresses" in sr.who, "annotation",
                                      node_of.get(sr.pod, ""),
                                      frozenset(own_ns.get(sr.pod, ())),
                                      own_status.get(sr.pod, frozenset())))
        out += _nad_requests(inp, {sr.attachment.nad.key for sr in pod_requests})
    for c, source in sandboxes:
        for _key, ifname, att, ips, from_nad in _delegate_attachments(c, c.origin or "the ADD"):
            who = ("pod " + _sandbox(c, ifname) if source == "cache" else
                   f"pod {c.pod_ref} (being added, {ifname})")
            for text in ips:
                ip = ip_interface(text)
                if ip is not None:
                    out.append(AddressRequest(ip, c.pod_ref, who, att, from_nad, source, "",
                                              frozenset(own_ns.get(c.pod_ref, ())),
                                              own_status.get(c.pod_ref, frozenset())))
    seen: set[tuple[str, IPAddress, str]] = set()
    unique = []
    for r in out:
        key = (r.pod, r.ip.ip, r.attachment.nad.key)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


def _nad_requests(inp: Inputs, selected: set[str]) -> list[AddressRequest]:
    """The static addresses of NADs no pod of the inputs uses yet: any pod attached to it
    gets them. Sandboxes on the NAD (delegate caches) hold them by right."""
    users: dict[str, set[str]] = {}
    for c in inp.cached:
        for d in c.delegates:
            if c.netns_id:
                users.setdefault(d.name, set()).add(c.netns_id)
    out = []
    for nad in inp.nads:
        if nad.key in selected:
            continue
        for att in parse_nad(nad)[:1]:
            for text in static_addresses(att):
                ip = ip_interface(text)
                if ip is not None:
                    out.append(AddressRequest(
                        ip, f"NAD {nad.key}", f"{att.where()}, for any pod attached to it", att,
                        True, "nad", own_netns=frozenset(users.get(nad.key, ()))))
    return out


def _statuses(value: str, pod: str) -> tuple:
    if not value:
        return ()
    from netattach.kube.annotations import AnnotationError
    from netattach.kube.network_status import parse_network_status

    try:
        return parse_network_status(value, pod)
    except (AnnotationError, ValueError):
        return ()


def address_claims(inp: Inputs) -> list[AddressClaim]:
    """What other sandboxes on this node asked for (delegate caches), and what pods report
    in their network-status (API)."""
    index = nad_index(inp)
    out: list[AddressClaim] = []
    skip = inp.adding.container_id if inp.adding is not None else None
    for c in inp.cached:
        if c.container_id == skip:
            continue
        for key, ifname, att, ips, _ in _delegate_attachments(c, c.origin):
            seg = attachment_segment(att, inp.node)
            for text in ips:
                ip = ip_interface(text)
                if ip is not None:
                    out.append(AddressClaim(ip.ip, c.pod_ref, "pod " + _sandbox(c, ifname),
                                            key, seg, c.container_id, c.origin))
    for p in inp.pods:
        for s in _statuses(p.annotations.get(NETWORK_STATUS_ANNOTATION, ""), p.key):
            if s.default:
                continue
            atts = index.get(s.name) or []
            seg = attachment_segment(atts[0], inp.node) if atts else ("nad", s.name)
            for text in s.ips:
                ip = ip_interface(text)
                if ip is not None:
                    out.append(AddressClaim(
                        ip.ip, p.key, f"pod {p.key} ({p.origin}): {s.interface or '?'} in its "
                        "network-status", s.name, seg))
    return out


def _where_from(r: AddressRequest) -> str:
    if r.from_nad:
        nad = r.attachment.nad
        return f"the static addresses of NAD {nad.key} ({_edit(nad)})"
    return 'its "ips" in the k8s.v1.cni.cncf.io/networks annotation (pod annotations ' \
        "cannot change: edit the Deployment/manifest and recreate the pod)"


# -- duplicate-address-node --------------------------------------------------------------------
def _holders(inp: Inputs) -> dict[IPAddress, list[tuple[NodeLink, IPInterface,
                                                         DeclaredDevice | None]]]:
    """Every address on the node (any namespace), plus what the host config declares."""
    assert inp.node is not None
    out: dict[IPAddress, list[tuple[NodeLink, IPInterface, DeclaredDevice | None]]] = {}
    for lk in inp.node.address_holders():
        for text in lk.addresses:
            iface = ip_interface(text)
            if iface is not None:
                out.setdefault(iface.ip, []).append((lk, iface, None))
    for d in inp.host.devices if inp.host is not None else ():
        lk = inp.node.node_link(d.name) or NodeLink(d.name, kind=d.kind, oper_state="ABSENT")
        for text in d.addresses:
            iface = ip_interface(text)
            if iface is None or any(h[0].in_node and h[0].name == d.name
                                    for h in out.get(iface.ip, ())):
                continue
            out.setdefault(iface.ip, []).append((lk, iface, d))
    return out


def check_duplicate_address_node(inp: Inputs) -> list[Finding]:
    """A requested address that the node holds: on the attachment's network (error), on
    another link of the node namespace (warning), in another pod's namespace (error on the
    same network, warning when the network cannot be told)."""
    if inp.node is None:
        return []
    from .checks import configured_by

    holders = _holders(inp)
    out: list[Finding] = []
    for r in address_requests(inp):
        if r.ip.ip.is_loopback or (r.node_name and inp.node_name
                                   and r.node_name != inp.node_name):
            continue
        want = attachment_segment(r.attachment, inp.node)
        nad = r.attachment.nad.key
        for lk, iface, declared in holders.get(r.ip.ip, ()):
            if not lk.in_node and (lk.netns_id in r.own_netns
                                   or (lk.name, str(r.ip.ip)) in r.own_status):
                continue  # the pod's own sandbox
            if r.attachment.type == "host-device" and lk.in_node and lk.name == r.attachment.master:
                continue  # the device and its addresses leave the node with the ADD
            seg = link_segment(lk, inp.node)
            same = seg == want
            if lk.in_node:
                severity = ERROR if same else WARNING
            elif same:
                severity = ERROR
            elif seg is None:
                severity = WARNING
            else:
                continue  # known to be another network: isolated networks may reuse it
            if r.ip.ip.is_link_local and not same:
                continue  # link-local addresses are per link
            has = (f"{lk.describe()} has {iface}" if declared is None else
                   f"{declared.describe()} gives {lk.name} {iface} (not on the link now)")
            if same:
                why = (f"{lk.name} is on the network of NAD {nad} ({segment_text(want)}): two "
                       f"hosts answer ARP/ND for {r.ip.ip}, and traffic goes to whichever "
                       "answered last")
            elif seg is None:
                why = (f"whether {lk.name} ({lk.kind or 'device'}) is on the network of NAD "
                       f"{nad} ({segment_text(want)}) cannot be told; if it is, they conflict")
            else:
                why = (f"{lk.name} is on {segment_text(seg)}, NAD {nad} on "
                       f"{segment_text(want)}: no ARP fight, but the node has {r.ip.ip} "
                       "itself, so anything routing between the two networks is ambiguous")
            evidence = [f"{r.who} asks for {r.ip} on NAD {nad}", has, why]
            if lk.in_node and inp.host is not None and declared is None:
                evidence += [e for e in configured_by(inp.host, lk) if e.startswith("config")]
            fix = [f"give {r.pod} another address: {_where_from(r)}"]
            if declared is not None:
                fix.append(f"or, if {lk.name} should not have it, remove {iface} from "
                           f"{declared.file}" + (f" (line {declared.line})" if declared.line
                                                 else ""))
            else:
                fix.append(f"or, if {lk.name} should not have it: "
                           + lk.ip_command(f"addr del {iface} dev {lk.name}"))
            title = (f"{r.ip.ip} is the node's own address on {lk.name}" if lk.in_node
                     else f"{r.ip.ip} is already on {lk.describe()}")
            out.append(Finding("duplicate-address-node", severity, title, tuple(evidence),
                               tuple(fix), nad, REASON))
    return out


# -- duplicate-address-pod ---------------------------------------------------------------------
def check_duplicate_address_pod(inp: Inputs) -> list[Finding]:
    """A requested address that another pod asked for (delegate cache on this node) or got
    (network-status) on the same network. Two pods' annotations asking for one address is
    `static-ip-duplicate`; this one needs a live claim."""
    requests = address_requests(inp)
    claims = address_claims(inp)
    if not requests or not claims:
        return []
    by_ip: dict[IPAddress, list[AddressClaim]] = {}
    for c in claims:
        by_ip.setdefault(c.ip, []).append(c)
    annotated = {(r.pod, r.ip.ip, attachment_segment(r.attachment, inp.node))
                 for r in requests if r.source == "annotation"}
    seen: set[tuple[frozenset[str], IPAddress, Segment]] = set()
    out: list[Finding] = []
    for r in requests:
        if r.source == "nad":
            continue  # its users are the sandboxes that hold it
        want = attachment_segment(r.attachment, inp.node)
        nad = r.attachment.nad.key
        holders: dict[str, list[AddressClaim]] = {}
        for c in by_ip.get(r.ip.ip, ()):
            if c.pod == r.pod:
                continue
            if not (c.nad == nad or (c.segment == want and want[0] != "nad")):
                continue
            if r.source == "annotation" and (c.pod, c.ip, want) in annotated:
                continue  # both pods ask for it in their annotations: static-ip-duplicate
            holders.setdefault(c.pod, []).append(c)
        for pod, cs in holders.items():
            key = (frozenset({r.pod, pod}), r.ip.ip, want)
            if key in seen:
                continue
            seen.add(key)
            other = pod if pod.startswith("sandbox ") else f"pod {pod}"
            evidence = [f"{r.who} asks for {r.ip} on NAD {nad}"]
            evidence += [f"{c.who} has {c.ip} on NAD {c.nad}" for c in cs]
            if any(c.nad != nad for c in cs):
                evidence.append(f"same network: {segment_text(want)}")
            evidence.append("two pods with one address on one network: ARP/ND answers from "
                            "both, connections break at random")
            fix = [f"give {r.pod} another address: {_where_from(r)}"]
            for c in cs:
                if c.container:
                    fix.append(f"if {other} is gone, its sandbox is stale: crictl stopp "
                               f"{c.container} && crictl rmp {c.container} (its DEL removes "
                               f"{c.origin or 'the delegate cache'})")
                    break
            out.append(Finding(
                "duplicate-address-pod", ERROR,
                f"{r.ip.ip} on NAD {nad} is already used by {other}",
                tuple(dict.fromkeys(evidence)), tuple(fix), nad, REASON))
    return out
