"""The few apt operations the harness needs: install, download, resolve a package.

``apt-get update`` runs at most once per :class:`Apt` instance, and only when a lookup or
an install fails without it (a fresh CI machine has no package lists).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GuestError

_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


@dataclass
class Apt:
    """apt-get/apt-cache runner that updates the package lists once when needed."""

    log: Callable[[str], None] = print
    _updated: bool = field(default=False, init=False)

    def _run(
        self, argv: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        if shutil.which(argv[0]) is None:
            raise GuestError(
                f"running {argv[0]}", f"{argv[0]} is not on PATH",
                "run on Debian 12 (the guest uses Debian's kernel and qemu packages)",
            )
        env = {**os.environ, **_APT_ENV}
        return subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )

    def update(self) -> None:
        """Run ``apt-get update`` unless it already ran in this instance."""
        if self._updated:
            return
        self.log("guest: apt-get update")
        proc = self._run(["apt-get", "update"])
        if proc.returncode != 0:
            raise GuestError(
                "apt-get update", _tail(proc.stderr),
                "check network access to the Debian mirror and /etc/apt/sources.list*",
            )
        self._updated = True

    def _retrying(
        self, argv: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = self._run(argv, cwd)
        if proc.returncode != 0 and not self._updated:
            self.update()
            proc = self._run(argv, cwd)
        return proc

    def install(self, packages: Sequence[str]) -> None:
        """Install ``packages`` (without recommends)."""
        self.log(f"guest: apt-get install {' '.join(packages)}")
        argv = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        proc = self._retrying(argv)
        if proc.returncode != 0:
            raise GuestError(
                f"installing {', '.join(packages)}", _tail(proc.stderr),
                f"run `apt-get update && apt-get install -y {' '.join(packages)}` as root",
            )

    def download(self, package: str, dest: Path) -> Path:
        """Download ``package``'s .deb into ``dest`` (no install) and return its path."""
        self.log(f"guest: apt-get download {package}")
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob(f"{package}_*.deb"):
            old.unlink()
        proc = self._retrying(["apt-get", "download", package], cwd=dest)
        debs = sorted(dest.glob(f"{package}_*.deb"))
        if proc.returncode != 0 or not debs:
            raise GuestError(
                f"downloading {package}", _tail(proc.stderr) or "no .deb was written",
                "check that the Debian mirror is reachable (`apt-get download "
                f"{package}`)",
            )
        return debs[-1]

    def kernel_abi(self, metapackage: str = "linux-image-amd64") -> str:
        """The kernel ABI (e.g. ``6.1.0-56-amd64``) the metapackage currently depends on."""
        pattern = re.compile(r"Depends:\s*linux-image-(\d[\w.+~-]*-amd64)\b")
        for attempt in range(2):
            proc = self._run(["apt-cache", "depends", metapackage])
            match = pattern.search(proc.stdout) if proc.returncode == 0 else None
            if match:
                return match.group(1)
            if attempt == 0 and not self._updated:
                self.update()
        raise GuestError(
            f"finding the kernel of {metapackage}",
            _tail(proc.stderr) or f"`apt-cache depends {metapackage}` names no linux-image",
            "run `apt-get update`; the guest needs Debian's plain amd64 kernel package",
        )

    def is_installed(self, package: str) -> bool:
        """Whether dpkg reports ``package`` as installed."""
        proc = self._run(["dpkg-query", "-W", "-f=${db:Status-Status}", package])
        return proc.returncode == 0 and proc.stdout.strip() == "installed"


def _tail(text: str, lines: int = 3) -> str:
    """The last few non-empty lines of a command's output, joined into one line."""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
