"""The sandbox's record on disk: what it created, so `down` can always remove it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netattach.fsutil import write_atomically

STATE_ROOT = Path(os.environ.get("NETATTACH_SANDBOX_DIR", "/run/netattach/sandbox"))


@dataclass
class PodState:
    namespace: str
    name: str
    netns: str
    container_id: str
    uid: str
    ready: bool = False
    error: str = ""
    network_status: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SandboxState:
    name: str
    prefix: str
    sources: list[str]
    namespaces: list[str] = field(default_factory=list)
    pods: dict[str, PodState] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return STATE_ROOT / self.name

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self.directory / "state.json", json.dumps(asdict(self), indent=2)
                         .encode())

    @classmethod
    def load(cls, name: str) -> SandboxState | None:
        try:
            data = json.loads((STATE_ROOT / name / "state.json").read_text())
        except (OSError, ValueError):
            return None
        pods = {k: PodState(**v) for k, v in data.pop("pods", {}).items()}
        return cls(**data, pods=pods)


def existing() -> list[str]:
    try:
        return sorted(p.name for p in STATE_ROOT.iterdir() if (p / "state.json").exists())
    except OSError:
        return []
