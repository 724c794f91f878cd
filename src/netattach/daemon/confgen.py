"""Multus thick-mode config generation: `00-netattach.conflist` pointing at the primary.

The primary is the alphabetically first `.conf`, `.conflist` or `.json` in the CNI config
directory other than our own file. The generated conflist has one plugin, the shim, with
the primary's cniVersion, the union of its plugins' capabilities and `clusterNetwork` =
the primary file's path. `ConfigManager.poll()` is one reconcile step; `run()` loops it.

The file outlives the daemon (it is not removed on exit): while no daemon answers, the
shim it names tells the runtime to try again later, so no pod is set up by the plain
cluster network without the networks it asked for. It is removed when the readiness
indicator file or the primary disappears, and by `netattach uninstall`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netattach.fsutil import write_atomically
from netattach.node.primary import find_primary, primary_conflist

from .config import GENERATED_CONF, SHIM_TYPE

log = logging.getLogger("netattach.daemon.confgen")


class PrimaryConfigError(Exception):
    """The primary CNI config cannot be used; the message names the file and the fix."""


def render(primary: Path, *, socket_dir: str, network_name: str,
           extra: Mapping[str, Any] | None = None) -> bytes:
    """The generated conflist for `primary` (raises PrimaryConfigError if it is unusable)."""
    shim: dict[str, Any] = {"type": SHIM_TYPE, "clusterNetwork": str(primary),
                            "daemonSocketDir": socket_dir, **(extra or {})}
    try:
        return primary_conflist(primary, str(primary), shim, network_name)
    except ValueError as e:
        raise PrimaryConfigError(str(e)) from None


@dataclass(frozen=True)
class ConfigManager:
    """Keeps `<conf_dir>/00-netattach.conflist` in step with the primary and readiness file."""

    conf_dir: Path
    socket_dir: str
    network_name: str = "netattach-cni-network"
    readiness_file: str = ""
    extra: Mapping[str, Any] | None = None

    @property
    def target(self) -> Path:
        return self.conf_dir / GENERATED_CONF

    def poll(self) -> str:
        """Reconcile once; returns what happened: written, unchanged, removed, waiting."""
        if self.readiness_file and not Path(self.readiness_file).exists():
            if self.remove():
                log.warning("readiness indicator file %s is missing: removed %s so the "
                            "runtime stops sending pods to netattach until it is back",
                            self.readiness_file, self.target)
                return "removed"
            return "waiting"
        primary = find_primary(self.conf_dir)
        if primary is None:
            if self.remove():
                log.warning("no primary CNI config in %s any more: removed %s",
                            self.conf_dir, self.target)
                return "removed"
            return "waiting"
        data = render(primary, socket_dir=self.socket_dir, network_name=self.network_name,
                      extra=self.extra)
        try:
            if self.target.read_bytes() == data:
                return "unchanged"
        except FileNotFoundError:
            pass
        write_atomically(self.target, data, mode=0o600)
        log.info("wrote %s for primary CNI config %s", self.target, primary)
        return "written"

    def remove(self) -> bool:
        try:
            self.target.unlink()
            return True
        except FileNotFoundError:
            return False

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll until `stop` is set; errors are logged and retried, never fatal."""
        last_error = ""
        while not stop.is_set():
            try:
                self.poll()
                last_error = ""
            except (PrimaryConfigError, OSError) as e:
                if str(e) != last_error:
                    log.error("config generation: %s", e)
                    last_error = str(e)
            stop.wait(interval)
