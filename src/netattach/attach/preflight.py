"""Pre-ADD checks: refuse a pod's ADD before any plugin runs when doctor can name the culprit.

Runs the cheap, pod-relevant doctor checks on this pod's delegates only: VLAN id range,
master present, MTU, default-route interface, and VLAN conflicts (the namespace scan runs
only when the pod has a vlan delegate that is not shared). The wording of a VLAN conflict
is the vlan plugin's own EEXIST sentence, so users see one story either way.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from netattach.cni.errors import CNIError, Code

from .delegate_cache import Delegate, PodAttachments
from .plan import error_prefix

if TYPE_CHECKING:
    from netattach.doctor.checks import Inputs
    from netattach.doctor.findings import Finding
    from netattach.doctor.sources import NadSource
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

    from .config import MetaConfig

log = logging.getLogger("netattach")

HOST_TYPES = frozenset({"vlan", "macvlan", "ipvlan", "host-device"})
# what the plugin itself would have said, in front of the finding's title
_PLUGIN_WORDS = {"vlan-conflict": "failed to create vlan: file exists: "}
WARNING_EVENTS = frozenset({"MasterDown", "DuplicateAddress"})
_CODES = {"vlan-id-out-of-range": Code.INVALID_NETWORK_CONFIG,
          "mtu-too-large": Code.INVALID_NETWORK_CONFIG,
          "default-route-interface": Code.INVALID_NETWORK_CONFIG}


def _sources(att: PodAttachments) -> list[tuple[Delegate, NadSource]]:
    from netattach.doctor.sources import NadSource

    out = []
    for d in att.delegates:
        ns, _, name = d.name.rpartition("/")
        out.append((d, NadSource(ns, name, d.conflist.source.decode("utf-8", "replace"),
                                 f"network {d.network}, {d.ifname}")))
    return out


def _inputs(nads: list[NadSource]) -> Inputs | None:
    """Inputs for these delegates, or None when none of them touches a host device."""
    from netattach.doctor.checks import Inputs, parse_nad
    from netattach.doctor.findings import ERROR
    from netattach.doctor.node import vlan_snapshot

    atts = [a for n in nads for a in parse_nad(n) if a.type in HOST_TYPES and not a.in_container]
    if not atts:
        return None
    vlans: dict[str, set[int]] = {}
    for a in atts:
        if a.type == "vlan" and not a.shared and a.master and a.vlan_id is not None:
            vlans.setdefault(a.master, set()).add(a.vlan_id)
    masters = {a.master for a in atts if a.master}
    return Inputs(nads=tuple(nads), node=vlan_snapshot(vlans, masters),
                  pod_holder_severity=ERROR)


def check_before_add(att: PodAttachments, cfg: MetaConfig | None = None,
                     kube: KubeAPI | None = None, *, attached: bool = False) -> list[Finding]:
    """Error and warning findings for this pod's delegates (reads the node, changes nothing).

    `kube`: where this node's pods come from when known without an API call (the daemon's
    watch cache), to compare addresses with their network-status; asked only when the pod
    wants fixed addresses, for the pods that may name them. `attached`: the sandbox
    `att.netns` is already set up (`netattach explain` replays the checks on a running
    pod): its own links hold its VLANs and are no conflict.
    """
    from dataclasses import replace

    from netattach.doctor import checks as c
    from netattach.doctor.delegates import DEFAULT_CNI_DIR, netns_key
    from netattach.doctor.findings import WARNING, sort_findings
    from netattach.doctor.preadd import address_findings_before_add
    from netattach.doctor.sources import PodSource

    inp = _inputs([n for _, n in _sources(att)])
    own = netns_key(att.netns) if attached else ""
    if inp is not None and inp.node is not None and own:
        links = tuple(lk for lk in inp.node.links if lk.in_node or lk.netns_id != own)
        inp = replace(inp, node=replace(inp.node, links=links))
    found: list[Finding] = []
    if inp is not None:
        found = c.run_checks(inp, (c.check_vlan_range, c.check_masters, c.check_mtu,
                                   c.check_default_route_interface, c.check_vlan_conflict))
        if any(f.id == "vlan-conflict" for f in found):
            from netattach.doctor.hostconfig import read_host_config

            # only now read /etc/netplan & co., to say who configured the holder
            inp = replace(inp, host=read_host_config("/"))
            found = [f for f in found if f.id != "vlan-conflict"] + c.check_vlan_conflict(inp)
        # a master that is down: the pod starts, but no frame leaves it (a Warning event)
        found += c.check_master_down(replace(inp, master_down_severity=WARNING))
    def pods(mentioning: Collection[str] | None) -> list[PodSource]:
        local = kube.local_pods(mentioning) if kube is not None else None
        return [PodSource(p.namespace, p.name, p.node_name, p.annotations)
                for p in local or ()]

    found += address_findings_before_add(
        att, cfg.cni_dir if cfg else DEFAULT_CNI_DIR, node=inp.node if inp else None,
        pods=pods)
    return sort_findings(found)


def finding_error(att: PodAttachments, d: Delegate, f: Finding) -> CNIError:
    """The CNIError of a failed ADD: Multus's prefix, the culprit in msg, the fix in details."""
    msg = (f"{error_prefix(att.pod_namespace, att.pod_name, att.pod_uid, d.network)}: error "
           f'adding container to network "{d.network}": {_PLUGIN_WORDS.get(f.id, "")}{f.title}')
    # details is the fix (a runtime prints "msg; details"), then what it rests on
    details = ("; ".join(f.fix) + " (evidence: " + "; ".join(f.evidence)
               + f"; netattach preflight {f.id}: nothing was attached)")
    return CNIError(_CODES.get(f.id, Code.INTERNAL), msg, details)


def enforce_before_add(att: PodAttachments, cfg: MetaConfig, kube: KubeAPI | None,
                       pod: Pod | None) -> None:
    """Raise the first error finding as a CNIError, with a Warning event on the pod; the
    warnings that matter to the pod's traffic (a master down, a duplicate address) are
    events too, and the ADD goes on.

    A failure of the checks themselves never blocks the ADD (it is logged as an error).
    """
    try:
        findings = check_before_add(att, cfg, kube)
    except Exception as e:  # noqa: BLE001 - the plugins still check for themselves
        log.error("pre-ADD checks of %s skipped: %s", att.pod_ref, e)
        return
    for f in findings:
        if f.severity != "error":
            log.info("pre-ADD %s %s: %s", f.severity, f.id, f.title)
            if f.reason in WARNING_EVENTS and kube is not None and pod is not None:
                kube.record_event(pod, "Warning", f.reason, f"{f.title}; {'; '.join(f.fix)}")
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return
    f = errors[0]
    d = next((d for d, n in _sources(att) if n.key == f.nad), att.delegates[-1])
    err = finding_error(att, d, f)
    if kube is not None and pod is not None:
        kube.record_event(pod, "Warning", f.reason, err.msg)
    raise err
