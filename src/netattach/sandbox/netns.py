"""Creating and removing the sandbox's named network namespaces (via iproute2)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from .model import SandboxError


def run(argv: Sequence[str], *, check: bool = True, input_: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a command (argument list, no shell); SandboxError with its stderr on failure."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input_, check=False)
    if check and proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def add(name: str) -> str:
    run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])
    return f"/run/netns/{name}"


def delete(name: str) -> None:
    run(["ip", "netns", "del", name], check=False)


def exists(name: str) -> bool:
    return name in run(["ip", "netns", "list"]).stdout.split()


def exec_in(name: str, argv: Sequence[str], **kwargs: object) -> list[str]:
    return ["ip", "netns", "exec", name, *argv]


def kernel_has_vlan() -> bool:
    """Whether this kernel can create 802.1Q devices (tried in a throw-away namespace)."""
    import os

    probe = f"nas-probe-{os.getpid()}"
    add(probe)
    try:
        run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
        return run(["ip", "-n", probe, "link", "add", "link", "p0", "name", "p0.7", "type",
                    "vlan", "id", "7"], check=False).returncode == 0
    finally:
        delete(probe)
