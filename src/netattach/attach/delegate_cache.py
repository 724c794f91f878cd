"""The delegate cache: what ADD is about to attach, on disk before any plugin runs.

`<cniDir>/<containerID>` lets DEL, CHECK and GC work when the pod, the NAD or the API
server is gone. Written atomically; a missing or unreadable file reads as None.

Format 2 keeps each delegate's conflist as a JSON object (readable by people and by
`netattach explain`); format 1 (no "format" key) kept it base64-encoded and still loads.
"""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError, Code
from netattach.fsutil import read_file_at, remove_stale_temp_files, write_atomically

log = logging.getLogger("netattach")

DEFAULT_CNI_DIR = "/var/lib/cni/multus"  # the meta plugin's default "cniDir", as Multus's

KIND = "netattachDelegatesV1"
FORMAT = 2
FORMAT_MARK = f'"format": {FORMAT},'.encode()  # as save() writes it: configs as JSON objects


@dataclass(frozen=True)
class Delegate:
    """One attachment of a pod: which network, as which interface, with what requests."""

    name: str                 # status name: "ns/nad" for NADs, the conf name for the cluster
    conflist: NetConfList     # the full conflist (a single conf wrapped into a list)
    ifname: str
    is_default: bool = False  # the cluster network (eth0)
    capability_args: Mapping[str, Any] = field(default_factory=dict)
    cni_args: tuple[tuple[str, str], ...] = ()
    requested_ips: tuple[str, ...] = ()
    default_route: tuple[str, ...] | None = None  # requested gateways (None: not asked)
    # an element of the pod's networks annotation (hot-plug may add and remove those);
    # None: not recorded (a cache of format 1)
    from_annotation: bool | None = False

    @property
    def network(self) -> str:
        """The CNI network name ("name" in the conflist)."""
        return self.conflist.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "network": self.network, "ifname": self.ifname,
            "default": self.is_default, "conflist": self.conflist.to_object(),
            "capabilityArgs": dict(self.capability_args),
            "cniArgs": [list(p) for p in self.cni_args],
            "requestedIPs": list(self.requested_ips),
            "defaultRoute": list(self.default_route) if self.default_route is not None else None,
            "fromAnnotation": self.from_annotation,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delegate:
        route = data.get("defaultRoute")
        raw = data["conflist"]
        conflist = (NetConfList.from_bytes(base64.b64decode(raw)) if isinstance(raw, str)
                    else NetConfList.from_object(raw))
        return cls(
            name=str(data["name"]), conflist=conflist, ifname=str(data["ifname"]),
            is_default=bool(data.get("default")),
            capability_args=dict(data.get("capabilityArgs") or {}),
            cni_args=tuple((str(k), str(v)) for k, v in data.get("cniArgs") or ()),
            requested_ips=tuple(str(ip) for ip in data.get("requestedIPs") or ()),
            default_route=tuple(str(gw) for gw in route) if route is not None else None,
            from_annotation=(bool(data["fromAnnotation"]) if data.get("fromAnnotation")
                             is not None else None),
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
    # the meta plugin's config this sandbox was added with (what hot-plug runs with);
    # None in caches written before it was kept
    meta_config: Mapping[str, Any] | None = None
    cni_path: tuple[str, ...] = ()  # the runtime's CNI_PATH at ADD (for hot-plug)

    @property
    def pod_ref(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}" if self.pod_name else self.container_id

    def to_json(self) -> dict[str, Any]:
        out = {"kind": KIND, "format": FORMAT, "containerID": self.container_id,
               "netns": self.netns, "podNamespace": self.pod_namespace,
               "podName": self.pod_name, "podUID": self.pod_uid,
               "delegates": [d.to_json() for d in self.delegates]}
        if self.meta_config is not None:
            out["metaConfig"] = dict(self.meta_config)
        if self.cni_path:
            out["cniPath"] = list(self.cni_path)
        return out

    @classmethod
    def from_json(cls, data: Any) -> PodAttachments | None:
        """Parse a cache file's object; None for anything that is not one (or is damaged)."""
        if not isinstance(data, dict) or data.get("kind") != KIND:
            return None
        try:
            meta = data.get("metaConfig")
            return cls(str(data["containerID"]), str(data.get("netns", "")),
                       str(data.get("podNamespace", "")), str(data.get("podName", "")),
                       str(data.get("podUID", "")),
                       tuple(Delegate.from_json(d) for d in data["delegates"]),
                       dict(meta) if isinstance(meta, dict) else None,
                       tuple(str(p) for p in data.get("cniPath") or ()))
        except (KeyError, TypeError, ValueError, AttributeError, CNIError):
            return None


@dataclass(frozen=True)
class DelegateCache:
    root: Path

    def path(self, container_id: str) -> Path:
        return self.root / container_id

    def save(self, attachments: PodAttachments) -> None:
        """Write the entry; code 5 naming the file when cniDir is not a writable directory."""
        target = self.path(attachments.container_id)
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(target, json.dumps(attachments.to_json()).encode())
        except OSError as e:
            raise CNIError(Code.IO_FAILURE, f"cannot write the delegate cache {target}: "
                           f"{e.strerror or e}", f"cniDir ({self.root}) must be a directory "
                           "netattach can write (it needs root)") from None

    def load(self, container_id: str) -> PodAttachments | None:
        path = self.path(container_id)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        entry = self._parse(raw)
        if entry is None:  # DEL goes on without it: say which file, so it can be looked at
            log.warning("delegate cache %s cannot be read (not a netattach delegate cache "
                        "or damaged); the attachments it lists are not deleted from it", path)
        return entry

    @staticmethod
    def _parse(raw: bytes) -> PodAttachments | None:
        try:
            return PodAttachments.from_json(json.loads(raw))
        except (ValueError, RecursionError):
            return None

    def remove(self, container_id: str) -> None:
        """Remove the entry; none there (or none that could be: a name too long, cniDir
        not a directory) is not an error."""
        target = self.path(container_id)
        remove_stale_temp_files(self.root, target=container_id)  # of a killed save()
        try:
            target.unlink()
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
                return
            raise CNIError(Code.IO_FAILURE, f"cannot remove the delegate cache {target}: "
                           f"{e.strerror or e}", f"cniDir ({self.root}) must be a directory "
                           "netattach can write (it needs root)") from None

    def names(self) -> list[str]:
        """The container IDs with an entry, sorted."""
        try:
            return sorted(e.name for e in os.scandir(self.root)
                          if e.is_file() and not e.name.startswith("."))
        except OSError:
            return []

    def all(self) -> list[PodAttachments]:
        return [entry for name in self.names() if (entry := self.load(name)) is not None]

    def mentioning(self, texts: Collection[str]) -> list[PodAttachments]:
        """The entries that may name one of `texts` (IPv4 addresses, say), parsing only
        those: a file is parsed when one of them appears in it as a JSON string or as one
        up to a "/" ("192.0.2.10" in "192.0.2.10/24"), or when it holds its configs in
        base64 (format 1). At a hundred sandboxes this is a read of each small file
        instead of parsing every config in them (0.6 ms each)."""
        needles = [n for t in texts for n in (f'"{t}"'.encode(), f'"{t}/'.encode())]
        out = []
        try:
            dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return out
        try:
            for name in self.names():
                try:
                    raw = read_file_at(dir_fd, name)
                except OSError:
                    continue
                if FORMAT_MARK in raw and not any(n in raw for n in needles):
                    continue
                if (entry := self._parse(raw)) is not None:
                    out.append(entry)
        finally:
            os.close(dir_fd)
        return out
