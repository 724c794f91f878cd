"""The checks: one function per finding family, each `check_x(inputs) -> list[Finding]`.

Checks read only `Inputs` (NADs, pods, a NodeSnapshot, the host config), so unit tests feed
synthetic snapshots. Nothing here touches the node.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .findings import ERROR, WARNING, Finding
from .hostconfig import HostConfig

# re-exported: the pre-ADD checks (attach.preflight) and doctor.main import them from here
from .model import DEFAULT_CNI_BIN_DIRS as DEFAULT_CNI_BIN_DIRS
from .model import SHARED_KEY as SHARED_KEY
from .model import (
    Attachment,
    Inputs,
    StaticRequest,
    _edit,
    attachments,
    nad_index,
    selections,
    static_requests,
)
from .model import parse_nad as parse_nad
from .node import NodeLink

# NAD keys read by doctor and the pre-ADD checks (documented in docs/doctor.md)
ALLOW_DEFAULT_ROUTE_KEY = "allowDefaultRouteInterface"
MASTER_TYPES = ("vlan", "macvlan", "ipvlan")
# bridges that container runtimes and CNIs create themselves: never "stale"
RUNTIME_BRIDGES = ("docker0", "cni0", "cbr0", "virbr", "br-", "cilium", "flannel", "kube-",
                   "lxdbr", "podman", "weave", "nodelocaldns")


# -- 1. NAD config: parses, plugins and IPAM exist --------------------------------------------
def check_nad_config(inp: Inputs) -> list[Finding]:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.cni.config import NetConfList
    from netattach.cni.errors import CNIError

    def installed(t: str) -> bool:
        return t in BUILTIN_PLUGINS or any(
            os.access(os.path.join(d, t), os.X_OK) and os.path.isfile(os.path.join(d, t))
            for d in inp.cni_bin_dirs)

    out: list[Finding] = []
    dirs = ", ".join(inp.cni_bin_dirs)
    for nad in inp.nads:
        if not nad.config.strip():
            continue  # Multus then reads <confDir>/<name>.conf: nothing to check here
        try:
            conflist = NetConfList.from_any_bytes(nad.config)
        except (CNIError, ValueError) as e:
            out.append(Finding(
                "nad-invalid", ERROR, f"NAD {nad.key}: its config does not parse",
                (f"{nad.origin}: spec.config", str(e)),
                (f"fix spec.config ({_edit(nad)}): it must be one CNI config or a conflist "
                 "in JSON", "every pod using it fails ADD until then"),
                nad.key, "NADInvalid"))
            continue
        for p in conflist.plugins:
            ptype = str(p.get("type"))
            if not installed(ptype):
                out.append(Finding(
                    "unknown-plugin", ERROR,
                    f"NAD {nad.key}: plugin type {ptype!r} is not installed",
                    (f"{nad.origin}: \"type\": \"{ptype}\"",
                     f"not a netattach built-in ({', '.join(sorted(BUILTIN_PLUGINS))}) and "
                     f"no executable {ptype} in {dirs}"),
                    (f"install the {ptype} CNI plugin into {inp.cni_bin_dirs[0]}",
                     f"or fix \"type\" ({_edit(nad)})"),
                    nad.key, "UnknownPlugin"))
            ipam = p.get("ipam")
            itype = ipam.get("type") if isinstance(ipam, Mapping) else None
            if isinstance(itype, str) and itype and not installed(itype):
                out.append(Finding(
                    "unknown-ipam", ERROR,
                    f"NAD {nad.key}: IPAM type {itype!r} is not installed",
                    (f"{nad.origin}: \"ipam\": {{\"type\": \"{itype}\"}}",
                     f"not a netattach built-in (static, host-local) and no executable "
                     f"{itype} in {dirs}"),
                    (f"install the {itype} IPAM plugin into {inp.cni_bin_dirs[0]}",
                     f"or use \"static\" / \"host-local\" ({_edit(nad)})"),
                    nad.key, "UnknownIPAM"))
    return out


# -- 2. the master: there, up, with carrier, MTU, VLAN range -----------------------------------
def _host_side(inp: Inputs) -> Iterator[Attachment]:
    for a in attachments(inp):
        if a.type in (*MASTER_TYPES, "host-device") and a.master and not a.in_container:
            yield a


def check_masters(inp: Inputs) -> list[Finding]:
    if inp.node is None:
        return []
    out: list[Finding] = []
    for a in _host_side(inp):
        link = inp.node.node_link(a.master or "")
        if link is None:
            physical = sorted(lk.name for lk in inp.node.node_links()
                              if lk.kind == "" and lk.name != "lo")
            key = "device" if a.type == "host-device" else "master"
            out.append(Finding(
                "master-missing", ERROR,
                f'NAD {a.nad.key}: {key} "{a.master}" does not exist on this node',
                (f'{a.where()}: "{key}": "{a.master}"',
                 f"no link {a.master} in the host namespace; its interfaces are: "
                 f"{', '.join(physical) or '(none)'}"),
                (f'set "{key}" to an interface this node has ({_edit(a.nad)})',
                 "or give the NIC the same name on every node (a systemd .link file or a "
                 "udev rule)"),
                a.nad.key, "MasterMissing"))
        elif link.admin_up and link.oper_state in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT"):
            out.append(Finding(
                "master-no-carrier", WARNING,
                f"NAD {a.nad.key}: master {link.name} has no carrier",
                (f"{a.where()} uses {link.name}",
                 f"{link.name} is up but its operational state is {link.oper_state}"),
                (f"check the cable and the switch port of {link.name} (ip link show "
                 f"{link.name}; ethtool {link.name})",),
                a.nad.key, "MasterNoCarrier"))
    return out


def check_master_down(inp: Inputs) -> list[Finding]:
    """An administratively down master: no frame leaves any pod attached to it. An error
    in doctor; before an ADD, `master_down_severity=WARNING` (the ADD goes on: the pod
    works once the master is up, and a Warning event says why it cannot talk until then)."""
    if inp.node is None:
        return []
    out: list[Finding] = []
    for a in _host_side(inp):
        link = inp.node.node_link(a.master or "")
        if link is None or link.admin_up:
            continue
        key = "device" if a.type == "host-device" else "master"
        users = [c.describe() for c in inp.node.children(link.name)]
        consequence = (f"the {a.type} device is moved into the pod down: the pod has no link"
                       if a.type == "host-device" else
                       f"every pod attached to it is cut off: no frame leaves {link.name}")
        out.append(Finding(
            "master-down", inp.master_down_severity,
            f"NAD {a.nad.key}: {key} {link.name} is administratively down",
            (f"{a.where()} uses {link.name}",
             f"{link.name} is down (flags without UP, state {link.oper_state}): {consequence}",
             *([f"attached now: {', '.join(users)}"] if users else ())),
            (f"ip link set {link.name} up",
             "and make it permanent in the host's network config (netplan/networkd/"
             "NetworkManager), or it is down again after a reboot"),
            a.nad.key, "MasterDown"))
    return out


def check_mtu(inp: Inputs) -> list[Finding]:
    if inp.node is None:
        return []
    out: list[Finding] = []
    for a in _host_side(inp):
        mtu = a.get("mtu")
        link = inp.node.node_link(a.master or "")
        if link is None or not isinstance(mtu, int) or isinstance(mtu, bool):
            continue
        if mtu > link.mtu:
            out.append(Finding(
                "mtu-too-large", ERROR,
                f"NAD {a.nad.key}: mtu {mtu} is larger than master {link.name}'s MTU "
                f"{link.mtu}",
                (f'{a.where()}: "mtu": {mtu}', f"{link.name} has MTU {link.mtu}"),
                (f'lower "mtu" to at most {link.mtu}, or drop it to inherit '
                 f"({_edit(a.nad)})",
                 f"or raise the master first: ip link set {link.name} mtu {mtu} (and in the "
                 "host's network config)"),
                a.nad.key, "MTUTooLarge"))
    return out


def check_vlan_range(inp: Inputs) -> list[Finding]:
    out: list[Finding] = []
    for a in attachments(inp):
        key = "vlanId" if a.type == "vlan" else "vlan" if a.type == "bridge" else ""
        if not key or key not in a.raw:
            continue
        vid = a.raw[key]
        if isinstance(vid, int) and not isinstance(vid, bool) and 0 <= vid <= 4094:
            continue
        out.append(Finding(
            "vlan-id-out-of-range", ERROR,
            f"NAD {a.nad.key}: VLAN id {vid!r} is not between 0 and 4094",
            (f'{a.where()}: "{key}": {vid!r}',
             "802.1Q VLAN ids are 12 bits; 4095 is reserved"),
            (f'set "{key}" to the VLAN id your switch port carries (1..4094) '
             f"({_edit(a.nad)})",),
            a.nad.key, "VLANIDOutOfRange"))
    return out


# -- 3. VLAN conflicts: who holds (parent, VID)? -----------------------------------------------
def configured_by(host: HostConfig | None, link: NodeLink) -> list[str]:
    """Who declares this node link: netplan/networkd/NM file+line+key, or a stale verdict."""
    if host is None:
        return ["host network config not read"]
    decl = host.find(link.name)
    if link.kind == "vlan" and link.parent and link.vlan_id is not None:
        decl += [d for d in host.find_vlan(link.parent, link.vlan_id) if d not in decl]
    if decl:
        return [f"configured by {d.describe()}" for d in decl]
    return [f"not in any config (netplan, systemd-networkd, NetworkManager under "
            f"{host.root}): stale, left by `netplan apply`, which does not delete devices "
            "removed from its YAML"]


def vlan_conflict_title(vid: int, master: str, holder: NodeLink) -> str:
    """The sentence the vlan plugin prints after 'failed to create vlan: file exists: '."""
    return f"VLAN {vid} on {master} is already used by {holder.describe()}"


def check_vlan_conflict(inp: Inputs) -> list[Finding]:
    if inp.node is None:
        return []
    out: list[Finding] = []
    seen: set[tuple[str, str, int]] = set()
    for a in _host_side(inp):
        vid = a.vlan_id
        if a.type != "vlan" or a.shared or vid is None or not a.master:
            continue
        for holder in inp.node.vlan_users(a.master, vid):
            if (a.nad.key, holder.netns, holder.vlan_id or 0) in seen:
                continue
            seen.add((a.nad.key, holder.netns, holder.vlan_id or 0))
            why = (f"the kernel allows one VLAN device per (parent, VLAN id) across all "
                   f"namespaces, so every pod asking for VLAN {vid} on {a.master} fails with "
                   "'failed to create vlan: file exists' while it exists")
            evidence = [f"{a.where()} asks for VLAN {vid} on {a.master}",
                        f"{holder.describe()} is VLAN {vid} on {a.master}"]
            fix: list[str] = []
            if holder.in_node:
                decl = configured_by(inp.host, holder)
                evidence += decl
                if inp.host is not None:
                    for d in inp.host.find(holder.name):
                        fix.append(f"remove {d.key} from {d.file}"
                                   + (f" (line {d.line})" if d.line else "")
                                   + " if the host does not need it")
                fix.append(holder.delete_command() + "   # netplan apply does not delete it")
                fix.append(f'or share it: "shared": true in the vlan NAD config, or a macvlan '
                           f'NAD with "master": "{holder.name}"')
                severity = ERROR
            else:
                evidence.append(f"held by the sandbox of another pod (namespace "
                                f"{holder.netns}): the next pod on this node cannot attach")
                fix.append(f"if that pod is gone and {holder.name} is stale: "
                           + holder.delete_command())
                fix.append('to give several pods this VLAN: "shared": true in the vlan NAD '
                           f"config, or a host VLAN device {a.master}.{vid} and macvlan NADs "
                           "on it")
                severity = inp.pod_holder_severity
            evidence.append(why)
            out.append(Finding("vlan-conflict", severity, vlan_conflict_title(vid, a.master,
                                                                                holder),
                               tuple(evidence), tuple(fix), a.nad.key, "VLANConflict"))
    return out


def _referenced(inp: Inputs) -> set[str]:
    names: set[str] = set()
    for a in attachments(inp):
        for key in ("master", "device", "bridge"):
            v = a.get(key)
            if isinstance(v, str):
                names.add(v)
    return names


def check_stale_devices(inp: Inputs) -> list[Finding]:
    if inp.node is None or inp.host is None:
        return []
    used = _referenced(inp)
    out: list[Finding] = []
    for lk in inp.node.node_links():
        if lk.kind not in ("vlan", "bridge", "bond") or lk.name in used:
            continue
        if lk.kind == "bridge" and lk.name.startswith(RUNTIME_BRIDGES):
            continue
        if inp.host.find(lk.name) or (lk.kind == "vlan" and lk.parent and lk.vlan_id is not None
                                      and inp.host.find_vlan(lk.parent, lk.vlan_id)):
            continue
        what = f"VLAN {lk.vlan_id} on {lk.parent}" if lk.kind == "vlan" else lk.kind
        evidence = [f"{lk.describe()} ({what}) exists in the kernel",
                    f"no netplan, systemd-networkd or NetworkManager file under "
                    f"{inp.host.root} declares it ({len(inp.host.files)} files read): stale "
                    "after `netplan apply`, or created by hand"]
        if lk.kind == "vlan":
            evidence.append(f"while it exists no pod on this node can get VLAN {lk.vlan_id} "
                            f"on {lk.parent} (failed to create vlan: file exists)")
        out.append(Finding(
            "stale-device", WARNING, f"{lk.kind} {lk.name} is not in any host network config",
            tuple(evidence),
            (lk.delete_command() + "   # if nothing on the host still uses it",
             "netplan apply never deletes virtual devices; `ip link del` or a reboot does"),
            "", "StaleDevice"))
    return out


# -- 4. static addresses ---------------------------------------------------------------------
def check_static_ips(inp: Inputs) -> list[Finding]:
    out: list[Finding] = []
    requests = static_requests(inp)
    groups: dict[tuple[tuple[str, ...], Any], list[StaticRequest]] = {}
    for r in requests:
        groups.setdefault((r.attachment.segment(), r.ip.ip), []).append(r)
    for (_seg, ip), reqs in groups.items():
        whos = sorted({r.who for r in reqs})
        if len(whos) < 2:
            continue
        nads = sorted({r.attachment.nad.key for r in reqs})
        out.append(Finding(
            "static-ip-duplicate", ERROR,
            f"{ip} is requested by {len(whos)} pods on the same network",
            tuple(sorted({f"{r.who} asks for {ip} on NAD {r.attachment.nad.key}"
                          for r in reqs})),
            ("give each pod its own address in its k8s.v1.cni.cncf.io/networks \"ips\"",
             "or use a cluster-wide IPAM (whereabouts) instead of per-pod static addresses"),
            nads[0], "StaticIPConflict"))
    out += _range_overlaps(inp, requests)
    return out


def _ranges(a: Attachment) -> list[tuple[Any, Any, str]]:
    """host-local ranges of `a` as (first, last, text)."""
    ipam = a.ipam
    if ipam.get("type") != "host-local":
        return []
    specs: list[Mapping[str, Any]] = []
    for rs in ipam.get("ranges") or ():
        specs += [r for r in rs if isinstance(r, Mapping)] if isinstance(rs, list) else []
    if isinstance(ipam.get("subnet"), str):
        specs.append(ipam)
    out = []
    for spec in specs:
        try:
            net = ipaddress.ip_network(str(spec.get("subnet")), strict=False)
            first = ipaddress.ip_address(spec["rangeStart"]) if spec.get("rangeStart") \
                else net.network_address + 1
            last = ipaddress.ip_address(spec["rangeEnd"]) if spec.get("rangeEnd") \
                else net.broadcast_address - (1 if net.version == 4 else 0)
        except (ValueError, TypeError):
            continue
        out.append((first, last, f"{first}-{last} of {net}"))
    return out


def _range_overlaps(inp: Inputs, requests: list[StaticRequest]) -> list[Finding]:
    out: list[Finding] = []
    for a in attachments(inp):
        for first, last, text in _ranges(a):
            for r in requests:
                if r.attachment.segment() != a.segment() or r.ip.version != first.version:
                    continue
                if not first <= r.ip.ip <= last:
                    continue
                same = r.attachment.nad.key == a.nad.key
                out.append(Finding(
                    "range-overlaps-static", WARNING,
                    f"{r.ip.ip} is requested statically but lies in the host-local range of "
                    f"NAD {a.nad.key}",
                    (f"{r.who} asks for {r.ip} on NAD {r.attachment.nad.key}",
                     f"{a.where()} hands out {text}"
                     + (" to pods without a static request" if same else
                        " on the same segment")),
                    (f'shrink the range with "rangeStart"/"rangeEnd" to exclude {r.ip.ip} '
                     f"({_edit(a.nad)})", "or pick a static address outside the range"),
                    a.nad.key, "StaticIPConflict"))
    return out


# -- 5. the node's default-route interface ----------------------------------------------------
def check_default_route_interface(inp: Inputs) -> list[Finding]:
    if inp.node is None or not inp.node.default_route_links:
        return []
    out: list[Finding] = []
    for a in attachments(inp):
        if a.type not in (*MASTER_TYPES, "host-device") or a.in_container:
            continue
        if a.get(ALLOW_DEFAULT_ROUTE_KEY) is True:
            continue
        dev = a.master
        implicit = dev is None and a.type in ("macvlan", "ipvlan")
        if implicit:
            dev = inp.node.default_route_links[0]
        if dev not in inp.node.default_route_links:
            continue
        takes_nic = a.type == "host-device" or (a.type == "macvlan"
                                               and a.get("mode") == "passthru")
        risk = ("moves the NIC into the pod: the node loses its default route and its API "
                "server connection" if takes_nic else
                "a pod address or MAC clash on it can cut the node off")
        key = "device" if a.type == "host-device" else "master"
        out.append(Finding(
            "default-route-interface", ERROR if takes_nic else WARNING,
            f"NAD {a.nad.key}: {a.type} on {dev}, the node's default-route interface",
            (f"{a.where()}: " + (f'no "{key}", so the plugin picks the default-route interface'
                                 if implicit else f'"{key}": "{dev}"'),
             f"{dev} carries this node's default route; a {a.type} attachment {risk}"),
            (f'use a dedicated NIC for "{key}" ({_edit(a.nad)})',
             f'or, if intended, add "{ALLOW_DEFAULT_ROUTE_KEY}": true to the NAD config'),
            a.nad.key, "DefaultRouteInterface"))
    return out


# -- 6. VLAN capacity: one pod per (parent, VID) per node ----------------------------------------
def check_vlan_capacity(inp: Inputs) -> list[Finding]:
    index = nad_index(inp)
    groups: dict[tuple[str, str, int], list[tuple[str, str]]] = {}
    for pod in inp.pods:
        if inp.node_name and pod.node_name not in (inp.node_name, ""):
            continue
        for sel in selections(pod):
            for a in index.get(sel.key) or ():
                if a.type == "vlan" and a.master and not a.shared and not a.in_container:
                    groups.setdefault((pod.node_name, a.master, a.vlan_id or 0), []).append(
                        (pod.key, sel.key))
    out: list[Finding] = []
    for (node, master, vid), users in groups.items():
        if len(users) < 2:
            continue
        where = f"node {node}" if node else (f"node {inp.node_name}" if inp.node_name else
                                             "one node (these pods are not scheduled yet)")
        nads = sorted({n for _, n in users})
        out.append(Finding(
            "vlan-capacity", ERROR,
            f"{len(users)} attachments want VLAN {vid} on {master} on {where}; the kernel "
            "allows one",
            tuple(f"pod {p} uses NAD {n}" for p, n in users)
            + ("one VLAN device per (parent, VLAN id) per node: all but the first fail with "
               "'failed to create vlan: file exists'",),
            ('"shared": true in the vlan NAD config (one host VLAN device, pods attached on it)',
             f"or a host VLAN device {master}.{vid} and a macvlan NAD on it",
             "or spread these pods over nodes (pod anti-affinity)"),
            nads[0], "VLANCapacity"))
    return out


from .addresses import check_duplicate_address_node, check_duplicate_address_pod  # noqa: E402

ALL_CHECKS: tuple[Callable[[Inputs], list[Finding]], ...] = (
    check_nad_config, check_vlan_range, check_masters, check_master_down, check_mtu,
    check_vlan_conflict, check_vlan_capacity, check_default_route_interface, check_static_ips,
    check_duplicate_address_node, check_duplicate_address_pod, check_stale_devices,
)


def run_checks(inp: Inputs, checks: tuple[Callable[[Inputs], list[Finding]], ...] = ALL_CHECKS
               ) -> list[Finding]:
    from .findings import sort_findings

    return sort_findings([f for check in checks for f in check(inp)])
