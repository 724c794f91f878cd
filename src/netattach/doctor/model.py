"""What the checks read: `Inputs`, and a NAD's plugin entries as `Attachment`s."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .delegates import CachedPod
from .findings import ERROR, WARNING
from .hostconfig import HostConfig
from .node import NodeSnapshot
from .sources import NadSource, PodSource

DEFAULT_CNI_BIN_DIRS = ("/opt/cni/bin",)
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
# NAD keys read by doctor and the pre-ADD checks (documented in docs/doctor.md)
SHARED_KEY = "shared"


@dataclass(frozen=True)
class Inputs:
    """Everything a check may look at. `node`/`host` None: that part was not read."""

    nads: tuple[NadSource, ...] = ()
    pods: tuple[PodSource, ...] = ()
    node: NodeSnapshot | None = None
    host: HostConfig | None = None
    cni_bin_dirs: tuple[str, ...] = DEFAULT_CNI_BIN_DIRS
    node_name: str = ""
    pod_holder_severity: str = WARNING  # a VLAN held by another pod: error before an ADD
    master_down_severity: str = ERROR  # an admin-down master: a warning before an ADD
    cached: tuple[CachedPod, ...] = ()  # the delegate caches on this node (pod sandboxes)
    adding: CachedPod | None = None  # before an ADD: the sandbox being added


@dataclass(frozen=True)
class Attachment:
    """One plugin entry of a NAD, reduced to what the checks need."""

    nad: NadSource
    type: str
    raw: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def master(self) -> str | None:
        """The host-side device: master (vlan/macvlan/ipvlan) or device (host-device)."""
        key = "device" if self.type == "host-device" else "master"
        value = self.raw.get(key)
        return value if isinstance(value, str) and value else None

    @property
    def in_container(self) -> bool:
        return self.raw.get("linkInContainer") is True

    @property
    def shared(self) -> bool:
        return self.raw.get(SHARED_KEY) is True

    @property
    def vlan_id(self) -> int | None:
        vid = self.raw.get("vlanId", 0 if self.type == "vlan" else None)
        return vid if isinstance(vid, int) and not isinstance(vid, bool) else None

    @property
    def ipam(self) -> Mapping[str, Any]:
        ipam = self.raw.get("ipam")
        return ipam if isinstance(ipam, Mapping) else {}

    def segment(self) -> tuple[str, ...]:
        """The L2 segment this attachment lands on, to compare addresses across NADs."""
        if self.type == "vlan" and self.master:
            return ("vlan", self.master, str(self.vlan_id))
        if self.type in ("macvlan", "ipvlan", "host-device") and self.master:
            return ("link", self.master)
        if self.type == "bridge":
            return ("bridge", str(self.raw.get("bridge", "cni0")), str(self.raw.get("vlan", 0)))
        return ("nad", self.nad.key)

    def where(self) -> str:
        return f"NAD {self.nad.key} ({self.nad.origin})"


def parse_nad(nad: NadSource) -> list[Attachment]:
    """The plugin entries of a NAD's config; [] when empty or invalid (see check_nad_config)."""
    from netattach.cni.config import NetConfList
    from netattach.cni.errors import CNIError

    if not nad.config.strip():
        return []
    try:
        conflist = NetConfList.from_any_bytes(nad.config)
    except (CNIError, ValueError):
        return []
    return [Attachment(nad, str(p.get("type")), p) for p in conflist.plugins]


def attachments(inp: Inputs) -> Iterator[Attachment]:
    for nad in inp.nads:
        yield from parse_nad(nad)


def _edit(nad: NadSource) -> str:
    return f"kubectl edit net-attach-def -n {nad.namespace} {nad.name}"




def nad_index(inp: Inputs) -> dict[str, list[Attachment]]:
    return {nad.key: parse_nad(nad) for nad in inp.nads}


def selections(pod: PodSource) -> list[Any]:
    """The pod's networks annotation as NetworkSelections ([] when it does not parse)."""
    from netattach.kube.annotations import AnnotationError, parse_networks

    try:
        return list(parse_networks(pod.annotations.get(NETWORKS_ANNOTATION, ""),
                                   pod.namespace, pod.name))
    except AnnotationError:
        return []


def ip_interface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class StaticRequest:
    """An address a pod asks for on an attachment: its `ips`, else the NAD's static ones."""

    ip: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    who: str
    attachment: Attachment
    pod: str = ""  # "ns/name"


def static_addresses(a: Attachment) -> list[str]:
    """The `addresses` of a static IPAM ([] for any other IPAM)."""
    if a.ipam.get("type") != "static":
        return []
    return [str(x.get("address", "")) for x in a.ipam.get("addresses") or ()
            if isinstance(x, Mapping)]


def static_requests(inp: Inputs) -> list[StaticRequest]:
    """What every pod of the inputs asks for, per selected network."""
    index = nad_index(inp)
    out: list[StaticRequest] = []
    for pod in inp.pods:
        for sel in selections(pod):
            atts = index.get(sel.key) or []
            if not atts:
                continue
            first = atts[0]
            who = f"pod {pod.key} ({pod.origin})"
            ips = list(sel.ips)
            if not ips and static_addresses(first):
                ips = static_addresses(first)
                who += f" via the static addresses of NAD {sel.key}"
            for text in ips:
                ip = ip_interface(str(text))
                if ip is not None:
                    out.append(StaticRequest(ip, who, first, pod.key))
    return out
