"""libcni's result cache: `<root>/results/<net>-<containerID>-<ifname>`, kind cniCacheV1.

Files are written to a temporary name, fsynced and renamed, so a crash never leaves the
truncated cache that breaks DEL with libcni ("unexpected end of JSON input"). A writer
killed before the rename leaves its temporary file (`results/.<name>.XXXXXXXX`): DEL of
that attachment and GC of its network remove such files once their writer is gone.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netattach.fsutil import remove_stale_temp_files, write_atomically

DEFAULT_ROOT = "/var/lib/cni"
KIND = "cniCacheV1"


@dataclass(frozen=True)
class CachedAttachment:
    """One cached ADD: enough to DEL, CHECK or GC it without the original caller."""

    network_name: str
    container_id: str
    ifname: str
    config: bytes
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": KIND,
            "containerId": self.container_id,
            "config": base64.b64encode(self.config).decode(),
            "ifName": self.ifname,
            "networkName": self.network_name,
        }
        if self.netns:
            out["netns"] = self.netns
        if self.cni_args:
            out["cniArgs"] = [list(p) for p in self.cni_args]
        if self.capability_args:
            out["capabilityArgs"] = dict(self.capability_args)
        if self.result is not None:
            out["result"] = dict(self.result)
        return out

    @classmethod
    def from_json(cls, data: Any) -> CachedAttachment | None:
        """Parse a cache file's object; None for a legacy (raw result) or foreign file."""
        if not isinstance(data, dict) or data.get("kind") != KIND:
            return None
        try:
            return cls(
                network_name=str(data["networkName"]),
                container_id=str(data["containerId"]),
                ifname=str(data["ifName"]),
                config=base64.b64decode(data.get("config") or ""),
                netns=str(data.get("netns", "")),
                cni_args=tuple((str(k), str(v)) for k, v in data.get("cniArgs") or ()),
                capability_args=dict(data.get("capabilityArgs") or {}),
                result=data.get("result"),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ResultCache:
    """The cache under `root` (default /var/lib/cni; Multus delegates use /var/lib/cni/multus)."""

    root: Path = Path(DEFAULT_ROOT)

    def path(self, network_name: str, container_id: str, ifname: str) -> Path:
        return self.root / "results" / f"{network_name}-{container_id}-{ifname}"

    def write(self, entry: CachedAttachment) -> Path:
        target = self.path(entry.network_name, entry.container_id, entry.ifname)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(target, json.dumps(entry.to_json()).encode())
        return target

    def read(self, network_name: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The cached entry, or None when missing or unreadable (as libcni, DEL goes on)."""
        try:
            data = json.loads(self.path(network_name, container_id, ifname).read_bytes())
        except (OSError, ValueError):
            return None
        return CachedAttachment.from_json(data)

    def delete(self, network_name: str, container_id: str, ifname: str) -> None:
        """Remove the entry and the stale temporary files of killed writes of it."""
        target = self.path(network_name, container_id, ifname)
        target.unlink(missing_ok=True)
        remove_stale_temp_files(target.parent, target=target.name)

    def remove_stale_temp_files(self, network_name: str) -> int:
        """Remove the temporary files that killed writes of `network_name` left behind."""
        return remove_stale_temp_files(self.root / "results", target_prefix=f"{network_name}-")

    def entries(self, network_name: str | None = None) -> Iterator[CachedAttachment]:
        """Every readable cniCacheV1 entry, optionally of one network."""
        directory = self.root / "results"
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        for name in names:
            if network_name is not None and not name.startswith(f"{network_name}-"):
                continue
            try:
                entry = CachedAttachment.from_json(json.loads((directory / name).read_bytes()))
            except (OSError, ValueError):
                continue
            if entry and (network_name is None or entry.network_name == network_name):
                yield entry

