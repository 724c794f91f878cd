"""The delegate cache: what ADD is about to attach, on disk before any plugin runs.

`<cniDir>/<containerID>` lets DEL, CHECK and GC work when the pod, the NAD or the API
server is gone. Written atomically; a missing or unreadable file reads as None.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netattach.fsutil import write_atomically

KIND = "netattachDelegatesV1"


@dataclass(frozen=True)
class Delegate:
    """One attachment of a pod: which network, as which interface, with what requests."""

    name: str                 # status name: "ns/nad" for NADs, the conf name for the cluster
    network: str              # the CNI network name ("name" in the conflist)
    conflist: bytes           # the full conflist bytes (a single conf wrapped into a list)
    ifname: str
    is_default: bool = False  # the cluster network (eth0)
    capability_args: Mapping[str, Any] = field(default_factory=dict)
    cni_args: tuple[tuple[str, str], ...] = ()
    requested_ips: tuple[str, ...] = ()
    default_route: tuple[str, ...] | None = None  # requested gateways (None: not asked)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "network": self.network, "ifname": self.ifname,
            "default": self.is_default, "conflist": base64.b64encode(self.conflist).decode(),
            "capabilityArgs": dict(self.capability_args),
            "cniArgs": [list(p) for p in self.cni_args],
            "requestedIPs": list(self.requested_ips),
            "defaultRoute": list(self.default_route) if self.default_route is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delegate:
        route = data.get("defaultRoute")
        return cls(
            name=str(data["name"]), network=str(data["network"]), ifname=str(data["ifname"]),
            is_default=bool(data.get("default")),
            conflist=base64.b64decode(data["conflist"]),
            capability_args=dict(data.get("capabilityArgs") or {}),
            cni_args=tuple((str(k), str(v)) for k, v in data.get("cniArgs") or ()),
            requested_ips=tuple(data.get("requestedIPs") or ()),
            default_route=tuple(route) if route is not None else None,
        )


@dataclass(frozen=True)
class PodAttachments:
    """All delegates of one sandbox, in ADD order."""

    container_id: str
    netns: str
    pod_namespace: str
    pod_name: str
    pod_uid: str
    delegates: tuple[Delegate, ...]

    @property
    def pod_ref(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}" if self.pod_name else self.container_id

    def to_json(self) -> dict[str, Any]:
        return {"kind": KIND, "containerID": self.container_id, "netns": self.netns,
                "podNamespace": self.pod_namespace, "podName": self.pod_name,
                "podUID": self.pod_uid, "delegates": [d.to_json() for d in self.delegates]}

    @classmethod
    def from_json(cls, data: Any) -> PodAttachments | None:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            return None
        try:
            return cls(str(data["containerID"]), str(data.get("netns", "")),
                       str(data.get("podNamespace", "")), str(data.get("podName", "")),
                       str(data.get("podUID", "")),
                       tuple(Delegate.from_json(d) for d in data["delegates"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class DelegateCache:
    root: Path

    def path(self, container_id: str) -> Path:
        return self.root / container_id

    def save(self, attachments: PodAttachments) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(self.path(attachments.container_id),
                         json.dumps(attachments.to_json()).encode())

    def load(self, container_id: str) -> PodAttachments | None:
        try:
            return PodAttachments.from_json(json.loads(self.path(container_id).read_bytes()))
        except (OSError, ValueError):
            return None

    def remove(self, container_id: str) -> None:
        self.path(container_id).unlink(missing_ok=True)

    def all(self) -> list[PodAttachments]:
        try:
            names = sorted(p.name for p in self.root.iterdir() if p.is_file())
        except OSError:
            return []
        found = []
        for name in names:
            entry = self.load(name)
            if entry is not None:
                found.append(entry)
        return found
