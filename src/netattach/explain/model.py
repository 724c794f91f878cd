"""What `netattach explain` reads (`Gathered`) and what it reports (`Explanation`).

Frozen data only: `gather` fills a `Gathered` from the sources, `compare` turns it into an
`Explanation`, `report` renders that. The JSON shape (`Explanation.to_json`, version 1) is
documented in docs/doctor.md and only grows (new keys), never changes meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netattach.attach.config import MetaConfig
    from netattach.attach.delegate_cache import Delegate, PodAttachments
    from netattach.cni.result_cache import CachedAttachment
    from netattach.doctor.findings import Finding as DoctorFinding
    from netattach.kube.models import Pod
    from netattach.kube.network_status import NetworkStatus

KIND = "NetattachExplanation"
VERSION = 1
DEFAULT_NAMESPACE = "default"

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)  # most severe first

# a NAD as the plan found it
NAD_FOUND = "found"
NAD_MISSING = "missing"
NAD_INVALID = "invalid"
NAD_FILE = "file"  # not a NAD: the cluster network / defaultNetworks from a file or confDir
NAD_NOT_READ = "not-read"  # cache-only: the API was not asked


class ExplainInputError(Exception):
    """An input cannot be read (exit code 2); the message names it and how to fix it."""


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ExplainOptions:
    """`netattach explain POD`'s options. `kubeconfig` "" with `use_api`: $KUBECONFIG, else
    the meta config's; `cni_dir`/`conf_dir` "": the meta config's, else the defaults."""

    pod: str
    namespace: str = ""
    kubeconfig: str = ""
    use_api: bool = True
    config: str = ""
    cni_dir: str = ""
    conf_dir: str = ""
    output: str = "text"

    def pod_ref(self) -> tuple[str, str]:
        """(namespace, name) from `NS/NAME` or `NAME` with -n (default "default")."""
        from netattach.kube.names import InvalidName, check_name, check_namespace

        ns, sep, name = self.pod.rpartition("/")
        if not sep:
            ns = ""
        if ns and self.namespace and ns != self.namespace:
            raise ExplainInputError(f"pod {self.pod} names namespace {ns} but -n says "
                                    f"{self.namespace}; give one of them")
        ns = ns or self.namespace or DEFAULT_NAMESPACE
        try:
            check_namespace(ns)
            check_name(name, "pod")
        except InvalidName as e:
            raise ExplainInputError(f"{e.message}; give the pod as NAME or NAMESPACE/NAME"
                                    ) from None
        return ns, name


# -- what was read -----------------------------------------------------------------------
@dataclass(frozen=True)
class LinkView:
    """A link as the kernel reports it (in the pod's netns or on the node)."""

    name: str
    kind: str = ""
    mac: str = ""
    mtu: int = 0
    admin_up: bool = False
    oper_state: str = ""
    addresses: tuple[str, ...] = ()  # "192.0.2.1/24"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "mac": self.mac, "mtu": self.mtu,
                "up": self.admin_up, "operState": self.oper_state,
                "addresses": list(self.addresses)}


@dataclass(frozen=True)
class NetnsView:
    """The pod's network namespace: its links, or why it could not be read."""

    path: str
    exists: bool
    links: tuple[LinkView, ...] = ()
    error: str = ""

    def link(self, name: str) -> LinkView | None:
        return next((lk for lk in self.links if lk.name == name), None)


@dataclass(frozen=True)
class SandboxCache:
    """One delegate cache file naming the pod (a sandbox netattach ADDed on this node)."""

    attachments: PodAttachments
    file: str
    mtime: float = 0.0
    netns_exists: bool = False


@dataclass(frozen=True)
class Planned:
    """One delegate of the replayed plan and how its NAD was found. `stand_in`: the NAD is
    missing or invalid and nothing was cached, so `delegate.conflist` is only a stand-in
    that keeps the interface names right."""

    delegate: Delegate
    nad: str = NAD_FOUND
    nad_error: str = ""
    stand_in: bool = False


@dataclass(frozen=True)
class Gathered:
    """Everything read about one pod. None means "not read" (see the matching note)."""

    namespace: str
    name: str
    cfg: MetaConfig
    config_source: str  # the --config file, or "" (defaults)
    cluster_known: bool = True  # False: no --config and no cache: eth0's network unknown
    api: str = ""  # the API server read, "" in cache-only mode
    api_note: str = ""  # why there is no API
    pod: Pod | None = None
    pod_found: bool | None = None  # None: not knowable (no API)
    cache_count: int = 0  # delegate caches in cniDir (all pods)
    sandboxes: tuple[SandboxCache, ...] = ()  # every cache naming this pod
    chosen: SandboxCache | None = None  # the pod's current sandbox
    planned: tuple[Planned, ...] | None = None  # None: not replayed (no API, no pod)
    plan_error: tuple[str, str] | None = None  # (msg, details) of a refused plan
    results: Mapping[str, CachedAttachment | None] = field(default_factory=_empty)  # by ifname
    netns: NetnsView | None = None
    node: Mapping[str, LinkView | None] = field(default_factory=_empty)  # node devices
    status: tuple[NetworkStatus, ...] | None = None  # None: no annotation / not read
    status_error: str = ""
    preflight: tuple[DoctorFinding, ...] = ()
    preflight_error: str = ""


# -- what is reported --------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One problem (or note) with evidence and a fix. `interfaces`: the rows it concerns
    (every row for a sandbox-wide problem). `mismatch`: what netattach set up and what is
    there differ (exit 1 at any severity); pre-ADD findings count only as errors."""

    id: str
    severity: str
    title: str
    evidence: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    nad: str = ""
    reason: str = ""
    mismatch: bool = True
    source: str = "explain"  # or "preflight" (the pre-ADD checks)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def counts(self) -> bool:
        """Whether it makes the exit code 1."""
        return self.severity == ERROR or (self.mismatch and self.severity != INFO)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "evidence": list(self.evidence), "fix": list(self.fix),
                "interfaces": list(self.interfaces), "nad": self.nad, "reason": self.reason,
                "mismatch": self.mismatch, "source": self.source}


@dataclass(frozen=True)
class NodeDevice:
    """A device of the node an attachment needs: its master, bridge or host-side veth."""

    name: str
    role: str  # "master", "bridge", "host-side"
    state: str  # "up", "down", "missing", "unknown"
    link: LinkView | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "state": self.state,
                "link": self.link.to_json() if self.link else None}


@dataclass(frozen=True)
class Row:
    """One attachment: what the plan says, what the caches hold, what is there."""

    network: str
    interface: str
    type: str = ""
    default: bool = False
    nad: str = NAD_FOUND
    config: Mapping[str, Any] | None = None  # the effective config netattach uses now
    attached_config: Mapping[str, Any] | None = None  # what the delegate cache recorded
    requested_ips: tuple[str, ...] = ()
    planned: bool = True
    cache: str = "none"  # "ok", "no-result", "none"
    result_ips: tuple[str, ...] = ()
    result_mac: str = ""
    in_pod: str = "-"  # "up", "down", "missing", "gone", "unknown", "-" (no sandbox)
    pod_link: LinkView | None = None
    node: tuple[NodeDevice, ...] = ()
    status: str = "-"  # "ok", "missing", "differs", "unknown", "-"
    status_entry: NetworkStatus | None = None
    problems: tuple[str, ...] = ()

    @property
    def node_state(self) -> str:
        """The worst state of the node devices ("-" when there are none)."""
        for state in ("missing", "down", "unknown"):
            if any(d.state == state for d in self.node):
                return state
        return "ok" if self.node else "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network, "interface": self.interface, "type": self.type,
            "default": self.default, "nad": self.nad, "planned": self.planned,
            "config": _plain(self.config), "attachedConfig": _plain(self.attached_config),
            "requestedIPs": list(self.requested_ips),
            "cache": {"state": self.cache, "ips": list(self.result_ips),
                      "mac": self.result_mac},
            "pod": {"state": self.in_pod,
                    "link": self.pod_link.to_json() if self.pod_link else None},
            "node": {"state": self.node_state, "devices": [d.to_json() for d in self.node]},
            "status": {"state": self.status,
                       "entry": self.status_entry.to_json() if self.status_entry else None},
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class SandboxInfo:
    container_id: str
    netns: str
    netns_exists: bool
    cache_file: str

    def to_json(self) -> dict[str, Any]:
        return {"containerID": self.container_id, "netns": self.netns,
                "netnsExists": self.netns_exists, "delegateCache": self.cache_file}


@dataclass(frozen=True)
class Explanation:
    """The report on one pod."""

    namespace: str
    name: str
    uid: str = ""
    node_name: str = ""
    in_api: bool | None = None  # None: not knowable (cache-only)
    api: str = ""
    config_source: str = ""
    cni_dir: str = ""
    conf_dir: str = ""
    sandbox: SandboxInfo | None = None
    rows: tuple[Row, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def matched(self) -> bool:
        return not any(f.counts for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.matched else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND, "version": VERSION,
            "pod": {"namespace": self.namespace, "name": self.name, "uid": self.uid,
                    "nodeName": self.node_name, "inAPI": self.in_api},
            "sources": {"api": self.api or None, "config": self.config_source or None,
                        "cniDir": self.cni_dir, "confDir": self.conf_dir},
            "sandbox": self.sandbox.to_json() if self.sandbox else None,
            "attachments": [r.to_json() for r in self.rows],
            "findings": [f.to_json() for f in self.findings],
            "matched": self.matched, "exitCode": self.exit_code,
        }


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    import json

    return None if value is None else json.loads(json.dumps(value, default=dict))
