"""From what was read (`Gathered`) to the report (`Explanation`): rows and findings.

Pure: nothing here reads the node or the API, so every finding can be tested on a
synthetic `Gathered`. One function per kind of finding, in the order the sources are
compared: the pod and its sandbox, the plan against the delegate cache, the caches against
the pod's netns and the node, network-status against the cached results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .model import (
    ERROR,
    INFO,
    NAD_INVALID,
    NAD_MISSING,
    NAD_NOT_READ,
    SEVERITIES,
    WARNING,
    Explanation,
    Finding,
    Gathered,
    NodeDevice,
    Planned,
    Row,
    SandboxCache,
    SandboxInfo,
)

if TYPE_CHECKING:
    from netattach.attach.delegate_cache import Delegate
    from netattach.cni.result_cache import CachedAttachment
    from netattach.cni.types import Result
    from netattach.kube.network_status import NetworkStatus

STACKED = ("vlan", "macvlan", "ipvlan")
# the kind of the pod's interface each plugin creates
EXPECTED_KIND = {"vlan": "vlan", "macvlan": "macvlan", "ipvlan": "ipvlan", "bridge": "veth",
                 "ptp": "veth"}
STATUS_FIELDS = ("name", "interface", "ips", "mac", "mtu", "default", "gateway")


# -- helpers -----------------------------------------------------------------------------
def node_devices_of(d: Delegate, entry: CachedAttachment | None) -> list[tuple[str, str]]:
    """(device, role) on the node an attachment needs: the master of vlan/macvlan/ipvlan,
    the bridge, and the host-side interfaces of its result (a veth's host end)."""
    out: dict[str, str] = {}
    for p in d.conflist.plugins:
        ptype, master = p.get("type"), p.get("master")
        if ptype in STACKED and isinstance(master, str) and master \
                and p.get("linkInContainer") is not True:
            out.setdefault(master, "master")
        elif ptype == "bridge":
            out.setdefault(str(p.get("bridge") or "cni0"), "bridge")
    result = parse_result(entry)
    for iface in result.interfaces if result else ():
        if iface.name and not iface.sandbox:
            out.setdefault(iface.name, "host-side")
    return list(out.items())


def parse_result(entry: CachedAttachment | None) -> Result | None:
    from netattach.cni.errors import CNIError
    from netattach.cni.types import Result

    if entry is None or entry.result is None:
        return None
    try:
        return Result.from_json(dict(entry.result))
    except (CNIError, ValueError, TypeError):
        return None


def sandbox_side(result: Result | None, ifname: str) -> tuple[str, tuple[str, ...]]:
    """(MAC, addresses "ip/prefix") the result gives the pod's interface `ifname`."""
    if result is None:
        return "", ()
    sandboxed = [i for i, iface in enumerate(result.interfaces) if iface.sandbox]
    mine = [i for i in sandboxed if result.interfaces[i].name == ifname]
    ips = tuple(str(ip.address) for ip in result.ips
                if (ip.interface is not None and ip.interface in mine)
                or (ip.interface is None and len(sandboxed) <= 1))
    return (result.interfaces[mine[0]].mac if mine else ""), ips


def plugin_type(d: Delegate | None) -> str:
    return str(d.conflist.plugins[0].get("type", "")) if d is not None else ""


def _summary(d: Delegate) -> str:
    """ "macvlan on nic1, static IPAM" for evidence lines."""
    parts = []
    for p in d.conflist.plugins:
        text = str(p.get("type"))
        if isinstance(p.get("master"), str):
            text += f" on {p['master']}"
        if p.get("type") == "vlan" and "vlanId" in p:
            text += f" VLAN {p['vlanId']}"
        ipam = p.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type"):
            text += f", {ipam['type']} IPAM"
        parts.append(text)
    return " + ".join(parts)


def ip_in(netns: str, args: str) -> str:
    """`ip ARGS` run in the pod's namespace."""
    from netattach.doctor.node import NodeLink

    return NodeLink("", netns=netns, in_node=False).ip_command(args)


def _counted(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"


@dataclass
class _Pod:
    """The pod's references, for the wording of fixes."""

    namespace: str
    name: str

    @property
    def delete(self) -> str:
        return (f"delete the pod (kubectl delete pod -n {self.namespace} {self.name}) so its "
                "sandbox is set up again (its controller re-creates it; re-apply a bare pod)")

    @property
    def ref(self) -> str:
        return f"pod {self.namespace}/{self.name}"


def _sandbox_fix(s: SandboxCache) -> str:
    cid = s.attachments.container_id
    return (f"remove the sandbox with the runtime: crictl stopp {cid[:13]} && crictl rmp "
            f"{cid[:13]} (its DEL removes {s.file}; netattach's DEL needs neither the netns "
            "nor the API)")


# -- rows --------------------------------------------------------------------------------
@dataclass
class _Work:
    """Rows being built and the findings so far."""

    rows: list[Row] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, *found: Finding) -> None:
        self.findings.extend(found)

    def ifnames(self) -> tuple[str, ...]:
        return tuple(r.interface for r in self.rows)


def _pairs(g: Gathered) -> list[tuple[Planned | None, Delegate | None]]:
    """Planned and cached delegates side by side, by interface name (plan order first)."""
    cached = list(g.chosen.attachments.delegates) if g.chosen else []
    by_if = {d.ifname: d for d in cached}
    out: list[tuple[Planned | None, Delegate | None]] = []
    for p in g.planned or ():
        out.append((p, by_if.pop(p.delegate.ifname, None)))
    out += [(None, d) for d in cached if d.ifname in by_if]
    return out


def _row(g: Gathered, planned: Planned | None, cached: Delegate | None) -> Row:
    d = cached if planned is None or (planned.stand_in and cached is not None) \
        else planned.delegate
    assert d is not None
    entry = g.results.get(d.ifname) if cached is not None else None
    result = parse_result(entry)
    mac, ips = sandbox_side(result, d.ifname)
    row = Row(
        network=(planned.delegate if planned else d).name, interface=d.ifname,
        type="" if planned is not None and planned.stand_in and cached is None
        else plugin_type(d),
        default=d.is_default, nad=planned.nad if planned else NAD_NOT_READ,
        config=None if planned is None or planned.stand_in
        or planned.nad in (NAD_MISSING, NAD_INVALID) else planned.delegate.conflist.to_object(),
        attached_config=cached.conflist.to_object() if cached else None,
        requested_ips=(planned.delegate if planned else d).requested_ips,
        planned=planned is not None or g.planned is None,
        cache=("ok" if entry is not None and entry.result is not None else "no-result")
        if cached is not None else "none",
        result_ips=ips, result_mac=mac)
    if g.planned is None and planned is None:  # cache-only: the cache is the plan
        row = replace(row, config=row.attached_config)
    if cached is not None and g.netns is not None:
        link = g.netns.link(d.ifname)
        state = ("gone" if not g.netns.exists else "unknown" if g.netns.error
                 else "missing" if link is None else "up" if link.admin_up else "down")
        row = replace(row, in_pod=state, pod_link=link)
    devices = []
    for name, role in node_devices_of(d, entry):
        link = g.node.get(name)
        state = ("unknown" if name not in g.node else "missing" if link is None
                 else "up" if link.admin_up else "down")
        devices.append(NodeDevice(name, role, state, link))
    return replace(row, node=tuple(devices))


# -- findings: the pod and its sandbox ---------------------------------------------------
def pod_findings(g: Gathered, w: _Work) -> None:
    pod = _Pod(g.namespace, g.name)
    everything = w.ifnames()
    if g.pod_found is None:
        w.add(Finding(
            "cache-only", INFO, f"no API access ({g.api_note}): the pod's annotations, its "
            "NADs and its network-status are unknown; explained from what the delegate "
            "cache recorded", (f"cniDir {g.cfg.cni_dir}",),
            ("give --kubeconfig (or set $KUBECONFIG) to compare with the API too",),
            mismatch=False))
    if not g.cluster_known:
        w.add(Finding(
            "cluster-network-unknown", INFO, "the cluster network (eth0) is not known: no "
            "--config and no delegate cache", ("the meta config's clusterNetwork was not read",),
            ("give --config with the meta plugin's CNI config (e.g. "
             "/etc/cni/net.d/00-netattach.conflist)",), everything, mismatch=False))
    stale = [s for s in g.sandboxes if s is not g.chosen]
    if g.pod_found is False:
        evidence = [f"the API server {g.api} has no pod {g.namespace}/{g.name}"]
        fixes = [f"check the name and namespace: kubectl get pods -A | grep {g.name}"]
        if g.chosen is not None:
            evidence.append(f"but its sandbox {g.chosen.attachments.container_id[:13]} is "
                            f"still on this node: {g.chosen.file}")
            fixes = [_sandbox_fix(g.chosen)]
        w.add(Finding("pod-not-found", ERROR, f"{pod.ref} is not in the API server",
                      tuple(evidence), tuple(fixes), everything, reason="PodNotFound"))
    for s in stale:
        uid = s.attachments.pod_uid
        why = (f"it records pod UID {uid}, the pod in the API has UID {g.pod.uid}: a "
               "previous pod of the same name" if g.pod is not None and uid
               and uid != g.pod.uid else
               f"the pod's current sandbox is {g.chosen.attachments.container_id[:13]}"
               if g.chosen is not None else "its network namespace is gone")
        w.add(Finding(
            "stale-sandbox", WARNING, f"a stale sandbox of {pod.ref} is still on this node "
            f"(container {s.attachments.container_id[:13]})",
            (f"delegate cache {s.file}", why,
             f"network namespace {s.attachments.netns or '(none)'}: "
             + ("exists" if s.netns_exists else "gone")),
            (_sandbox_fix(s), "while it is there, its addresses count as taken "
             "(duplicate-address-pod)"), reason="StaleSandbox"))
    if g.chosen is None and g.pod_found is not False:
        node = g.pod.node_name if g.pod is not None else ""
        evidence = [f"no delegate cache in {g.cfg.cni_dir} names {pod.ref}"
                    + (" with its UID" if g.sandboxes else "")
                    + f" ({g.cache_count} sandbox cache(s) there)"]
        if node:
            evidence.append(f"the pod is scheduled on node {node} (spec.nodeName)")
        if g.status:
            evidence.append(f"its network-status lists {len(g.status)} interface(s): "
                            "written by netattach on another node, or this cache was removed")
        w.add(Finding(
            "never-added", ERROR, f"{pod.ref} was never added by netattach on this node",
            tuple(evidence),
            (f"run netattach explain on the pod's node{f' ({node})' if node else ''}",
             "if it is this node: the runtime did not call netattach for it; "
             "00-netattach.conflist must be the first file in /etc/cni/net.d, and kubectl "
             f"describe pod -n {g.namespace} {g.name} shows the runtime's "
             "FailedCreatePodSandBox message",
             f"if --cni-dir is not the meta config's cniDir, give the right one "
             f"(now {g.cfg.cni_dir})"), everything, reason="NeverAdded"))
    if g.chosen is not None and g.netns is not None and not g.netns.exists:
        w.add(Finding(
            "netns-gone", ERROR, f"the network namespace of {pod.ref}'s sandbox is gone",
            (f"delegate cache {g.chosen.file} records netns {g.netns.path}",
             g.netns.error or "it does not exist",
             "the sandbox was torn down without a CNI DEL, or the namespace was deleted "
             "by hand"),
            (_sandbox_fix(g.chosen), pod.delete), everything, reason="NetnsGone"))
    if g.plan_error is not None:
        msg, details = g.plan_error
        w.add(Finding(
            "plan-refused", ERROR, f"netattach would refuse {pod.ref}'s ADD now: {msg}",
            ("replayed from the pod's annotations and NADs as they are now",
             "the rows below are what the delegate cache recorded" if g.chosen else
             "nothing was attached"),
            (details,), everything, reason="PlanRefused"))
    if g.preflight_error:
        w.add(Finding("preflight-failed", INFO, "the pre-ADD checks could not run",
                      (g.preflight_error,), ("report this as a netattach bug",),
                      mismatch=False))


# -- findings: the plan against the delegate cache ---------------------------------------
def plan_findings(g: Gathered, pairs: list[tuple[Planned | None, Delegate | None]],
                  w: _Work) -> None:
    pod = _Pod(g.namespace, g.name)
    added = g.chosen is not None
    for planned, cached in pairs:
        if planned is None:
            if g.planned is not None and cached is not None:
                w.add(Finding(
                    "not-in-annotation", WARNING, f"{cached.ifname} ({cached.name}) is "
                    "attached, but the pod's annotations no longer ask for it",
                    (f"delegate cache {g.chosen.file if g.chosen else ''} records it",
                     "the annotation was changed after the ADD (netattach reads it once)"),
                    (pod.delete,), (cached.ifname,), cached.name))
            continue
        d = planned.delegate
        nad = d.name
        if planned.nad == NAD_MISSING:
            ev = [f"the pod asks for {nad} as {d.ifname}", f"the API server: {planned.nad_error}"]
            if cached is not None:
                ev.append(f"the delegate cache still records {d.ifname} attached from it: "
                          f"{_summary(cached)}")
            title = (f"NAD {nad} is gone, but {d.ifname} was attached from it" if cached
                     else f"NAD {nad} does not exist: the pod's ADD fails (NoNetworkFound)")
            ns, _, name = nad.rpartition("/")
            w.add(Finding(
                "nad-missing", ERROR, title, tuple(ev),
                (f"re-create NetworkAttachmentDefinition {name} in namespace {ns} "
                 f"(kubectl get net-attach-def -n {ns}; kubectl apply -f <its YAML>), or "
                 "remove it from the pod's k8s.v1.cni.cncf.io/networks annotation",
                 *((f"the running pod keeps {d.ifname}; a new sandbox of it (a restart, "
                    "another node) fails until then",) if cached else ())),
                (d.ifname,), nad, "NoNetworkFound"))
        elif planned.nad == NAD_INVALID:
            ns, _, name = nad.rpartition("/")
            w.add(Finding(
                "nad-invalid", ERROR, f"NAD {nad} does not parse: the pod's ADD fails",
                (planned.nad_error,), (f"kubectl edit net-attach-def -n {ns} {name}",),
                (d.ifname,), nad, "NADInvalid"))
        if not added or planned.stand_in:
            continue
        if cached is None:
            w.add(Finding(
                "not-attached", ERROR, f"{d.ifname} ({nad}) is in the pod's annotations but "
                "was not attached", ("the delegate cache has no attachment " + d.ifname,
                                     "the annotation was changed after the ADD"),
                (pod.delete,), (d.ifname,), nad))
            continue
        same = (d.network == cached.network) if d.is_default else (d.name == cached.name)
        if not same:
            w.add(Finding(
                "attachment-differs", ERROR, f"{d.ifname} is {nad} in the pod's annotations, "
                f"but {cached.name} was attached as {d.ifname}",
                (f"delegate cache {g.chosen.file if g.chosen else ''}: {d.ifname} = "
                 f"{cached.name} ({_summary(cached)})",
                 "the annotation was changed after the ADD"),
                (pod.delete,), (d.ifname,), nad))
        elif planned.nad not in (NAD_MISSING, NAD_INVALID) \
                and d.conflist.to_object() != cached.conflist.to_object():
            keys = _changed_keys(d.conflist.to_object(), cached.conflist.to_object())
            w.add(Finding(
                "config-changed", WARNING, f"{nad}'s config changed since {d.ifname} was "
                "attached: the pod runs with the old one",
                (f"changed: {', '.join(keys)}", f"attached: {_summary(cached)}",
                 f"now: {_summary(d)}"),
                (f"{pod.delete}, to attach it with the new config",), (d.ifname,), nad,
                "ConfigChanged"))


def _changed_keys(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    keys = [k for k in sorted(set(new) | set(old)) if k != "plugins" and new.get(k) != old.get(k)]
    newp, oldp = new.get("plugins") or [], old.get("plugins") or []
    for i in range(max(len(newp), len(oldp))):
        a = newp[i] if i < len(newp) else {}
        b = oldp[i] if i < len(oldp) else {}
        keys += [f"plugins[{i}].{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return keys or ["(formatting only)"]


# -- findings: what is there -------------------------------------------------------------
def cache_findings(g: Gathered, row: Row, cached: Delegate, w: _Work) -> None:
    if row.cache == "no-result":
        w.add(Finding(
            "result-missing", WARNING, f"libcni's result cache has no ADD result for "
            f"{row.interface} ({row.network})",
            (f"{g.cfg.cni_dir}/results/{cached.network}-"
             f"{g.chosen.attachments.container_id if g.chosen else ''}-{row.interface}: "
             "missing or unreadable",
             "CHECK of this attachment fails; DEL goes on without its prevResult"),
            (_Pod(g.namespace, g.name).delete,), (row.interface,), cached.name))


def pod_side_findings(g: Gathered, row: Row, cached: Delegate, w: _Work) -> None:
    if g.netns is None or not g.netns.exists or g.netns.error:
        if g.netns is not None and g.netns.exists and g.netns.error:
            w.add(Finding("netns-unreadable", WARNING, f"cannot read the pod's namespace "
                          f"{g.netns.path}", (g.netns.error,), ("run explain as root",),
                          (row.interface,), mismatch=False))
        return
    pod = _Pod(g.namespace, g.name)
    ns = g.netns.path
    entry = f"delegate cache: {row.interface} = {cached.name} ({_summary(cached)})"
    got = (f"result cache: {', '.join(row.result_ips) or 'no address'}"
           + (f", MAC {row.result_mac}" if row.result_mac else ""))
    link = row.pod_link
    if link is None:
        others = ", ".join(lk.name for lk in g.netns.links) or "none"
        w.add(Finding(
            "interface-missing", ERROR, f"{row.interface} is missing from the pod's namespace",
            (entry, got, f"{ip_in(ns, 'link show')}: no {row.interface} (links: {others})",
             "deleted by hand (ip link del), or its master went away"),
            (pod.delete,), (row.interface,), cached.name, "InterfaceMissing"))
        return
    if not link.admin_up:
        w.add(Finding(
            "interface-down", ERROR, f"{row.interface} is down in the pod's namespace",
            (entry, f"{ip_in(ns, 'link show ' + row.interface)}: state DOWN"),
            (ip_in(ns, f"link set {row.interface} up"), f"or {pod.delete}"),
            (row.interface,), cached.name, "InterfaceDown"))
    want = EXPECTED_KIND.get(row.type)
    if want and link.kind != want:
        w.add(Finding(
            "interface-kind", WARNING, f"{row.interface} in the pod is a {link.kind or 'device'}"
            f", not the {want} {row.type} creates", (entry, f"the pod's {row.interface}: kind "
                                                    f"{link.kind or '(none)'}"),
            (pod.delete,), (row.interface,), cached.name, "InterfaceReplaced"))
    have = {a.split("/")[0] for a in link.addresses}
    missing = [ip for ip in row.result_ips if ip.split("/")[0] not in have]
    if missing:
        w.add(Finding(
            "address-missing", ERROR, f"{row.interface} lacks {', '.join(missing)}, which "
            "its ADD gave it",
            (got, f"{ip_in(ns, 'addr show ' + row.interface)}: "
                  f"{', '.join(link.addresses) or 'no address'}"),
            (*(ip_in(ns, f"addr add {ip} dev {row.interface}") for ip in missing),
             f"or {pod.delete}"), (row.interface,), cached.name, "AddressMissing"))
    if row.result_mac and link.mac and link.mac.lower() != row.result_mac.lower():
        w.add(Finding(
            "mac-differs", WARNING, f"{row.interface}'s MAC is {link.mac}, its ADD gave it "
            f"{row.result_mac}", (got, f"the pod's {row.interface}: MAC {link.mac}"),
            (pod.delete,), (row.interface,), cached.name, "MACDiffers"))


def node_findings(g: Gathered, row: Row, cached: Delegate, w: _Work, pod: _Pod) -> None:
    gone = g.netns is not None and not g.netns.exists
    for dev in row.node:
        if gone and dev.role == "host-side":
            continue  # a veth goes with its peer's namespace: netns-gone says it
        if dev.state == "missing":
            what = {"master": "master", "bridge": "bridge",
                    "host-side": "host end"}.get(dev.role, dev.role)
            w.add(Finding(
                "node-device-missing", ERROR, f"{row.interface}'s {what} {dev.name} does not "
                "exist on the node",
                (f"{cached.name}: {_summary(cached)}", f"ip link show {dev.name}: no such "
                 "device in the node's namespace"),
                (f"restore {dev.name} (a NIC renamed or removed, a bridge deleted), then "
                 f"{pod.delete}",) if dev.role != "host-side" else (pod.delete,),
                (row.interface,), cached.name, "MasterMissing" if dev.role == "master"
                else "NodeDeviceMissing"))
        elif dev.state == "down":
            w.add(Finding(
                "node-device-down", ERROR, f"{row.interface}'s {dev.role} {dev.name} is down "
                "on the node: no frame leaves the pod on it",
                (f"{cached.name}: {_summary(cached)}", f"ip link show {dev.name}: state DOWN"),
                (f"ip link set {dev.name} up, and make it permanent in the host's network "
                 "config",), (row.interface,), cached.name, "MasterDown"))


def status_findings(g: Gathered, pairs: list[tuple[Planned | None, Delegate | None]],
                    w: _Work) -> dict[str, tuple[str, NetworkStatus | None]]:
    """network-status against what the cached results say it should be, per interface."""
    from netattach.attach.status import statuses_for

    out: dict[str, tuple[str, NetworkStatus | None]] = {}
    if g.pod is None or g.chosen is None or g.pod.namespace in g.cfg.system_namespaces:
        return out
    pod = _Pod(g.namespace, g.name)
    key = "k8s.v1.cni.cncf.io/network-status"
    if g.status_error:
        w.add(Finding("status-unreadable", WARNING, f"{pod.ref}'s network-status does not "
                      "parse", (g.status_error,), (pod.delete,), w.ifnames(),
                      reason="NetworkStatusUnreadable"))
        return {r: ("unknown", None) for r in w.ifnames()}
    attached = [c for _, c in pairs if c is not None]
    if not g.status and attached:  # no annotation, or "[]": one finding for the pod
        w.add(Finding(
            "status-missing", WARNING, f"{pod.ref}'s network-status lists none of its "
            f"{len(attached)} attachments",
            (f"{key}: " + ("absent" if g.status is None else "[] (no interfaces)"),
             f"the delegate cache attaches: {_counted(c.ifname for c in attached)}",
             "the status write of its ADD failed (see the ADD's log), or a DEL emptied it"),
            (pod.delete + " (its ADD writes network-status)",),
            tuple(c.ifname for c in attached), reason="NetworkStatusMissing"))
        return {c.ifname: ("missing", None) for c in attached}
    actual = {s.interface: s for s in g.status or ()}
    for cached in attached:
        result = parse_result(g.results.get(cached.ifname))
        if result is None:
            out[cached.ifname] = ("unknown", actual.get(cached.ifname))
            continue
        want = next((s for s in statuses_for(cached, result) if s.interface == cached.ifname),
                    None)
        have = actual.pop(cached.ifname, None)
        if want is None:
            out[cached.ifname] = ("unknown", have)
            continue
        if have is None:
            out[cached.ifname] = ("missing", None)
            w.add(Finding(
                "status-missing", WARNING, f"{pod.ref}'s network-status has no entry for "
                f"{cached.ifname}",
                (f"the result cache: {cached.ifname} {', '.join(want.ips) or 'no address'}",
                 f"{key}: lists {_counted(s.interface for s in g.status or ())}"),
                (pod.delete + " (its ADD writes network-status)",), (cached.ifname,),
                cached.name, "NetworkStatusMissing"))
            continue
        a, b = want.to_json(), have.to_json()
        diff = [f for f in STATUS_FIELDS if _norm(a.get(f)) != _norm(b.get(f))]
        if diff:
            out[cached.ifname] = ("differs", have)
            w.add(Finding(
                "status-differs", WARNING, f"network-status says something else than the "
                f"result cache for {cached.ifname}: {', '.join(diff)}",
                tuple(f"{f}: network-status {b.get(f)!r}, result cache {a.get(f)!r}"
                      for f in diff),
                (pod.delete + " (its ADD writes network-status from the results)",),
                (cached.ifname,), cached.name, "NetworkStatusDiffers"))
        else:
            out[cached.ifname] = ("ok", have)
    for ifname, extra in actual.items():
        w.add(Finding(
            "status-extra", WARNING, f"network-status lists {ifname or '(no interface)'} "
            f"({extra.name}), which this sandbox did not attach",
            (f"{key} entry {extra.name} {ifname}: {', '.join(extra.ips) or 'no address'}",
             f"the delegate cache attaches: {_counted(w.ifnames())}"),
            (pod.delete + " (its ADD writes network-status anew)",), (), extra.name,
            "NetworkStatusDiffers"))
    return out


def _norm(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def preflight_findings(g: Gathered, w: _Work) -> None:
    """The pre-ADD checks' findings, with the interfaces of the NAD they name."""
    by_nad: dict[str, list[str]] = {}
    for r in w.rows:
        by_nad.setdefault(r.network, []).append(r.interface)
    flagged = {(f.interfaces, f.id) for f in w.findings}
    for f in g.preflight:
        ifs = tuple(by_nad.get(f.nad, ()))
        # the node-device checks above already say it, with the pod's interface
        if f.id in ("master-missing", "master-down") and any(
                (ifs, i) in flagged for i in ("node-device-missing", "node-device-down")):
            continue
        w.add(Finding(f.id, f.severity, f.title, tuple(f.evidence), tuple(f.fix), ifs, f.nad,
                      f.reason, mismatch=False, source="preflight"))


# -- all of it ---------------------------------------------------------------------------
def explain(g: Gathered) -> Explanation:
    """The rows and findings for what was gathered."""
    pairs = _pairs(g)
    w = _Work(rows=[_row(g, p, c) for p, c in pairs])
    pod = _Pod(g.namespace, g.name)
    pod_findings(g, w)
    plan_findings(g, pairs, w)
    for row, (_, cached) in zip(w.rows, pairs, strict=True):
        if cached is None:
            continue
        cache_findings(g, row, cached, w)
        pod_side_findings(g, row, cached, w)
        node_findings(g, row, cached, w, pod)
    statuses = status_findings(g, pairs, w)
    preflight_findings(g, w)
    rows = []
    for row in w.rows:
        state, entry = statuses.get(row.interface, ("unknown" if g.chosen is not None
                                                    and g.pod_found is None else "-", None))
        problems = tuple(dict.fromkeys(f.id for f in w.findings
                                       if row.interface in f.interfaces and f.severity != INFO))
        rows.append(replace(row, status=state, status_entry=entry, problems=problems))
    findings = sorted(w.findings, key=lambda f: SEVERITIES.index(f.severity))
    s = g.chosen
    return Explanation(
        namespace=g.namespace, name=g.name,
        uid=g.pod.uid if g.pod else (s.attachments.pod_uid if s else ""),
        node_name=g.pod.node_name if g.pod else "", in_api=g.pod_found, api=g.api,
        config_source=g.config_source, cni_dir=g.cfg.cni_dir, conf_dir=g.cfg.conf_dir,
        sandbox=SandboxInfo(s.attachments.container_id, s.attachments.netns,
                            g.netns.exists if g.netns else False, s.file) if s else None,
        rows=tuple(rows), findings=tuple(findings))


__all__ = ["explain", "node_devices_of"]
