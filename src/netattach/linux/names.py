"""Interface name helpers: random temporary names and kernel name validation (pure)."""

from __future__ import annotations

import os

IFNAMSIZ = 16  # includes the trailing NUL: names are at most 15 bytes


def temp_link_name(prefix: str = "veth") -> str:
    """Return `<prefix>` + 8 random hex digits (like the reference `vethXXXXXXXX`)."""
    if len(prefix.encode()) > IFNAMSIZ - 1 - 8:
        raise ValueError(f"temp name prefix {prefix!r} is too long (max 7 bytes)")
    return f"{prefix}{os.urandom(4).hex()}"


def validate_ifname(name: str) -> None:
    """Raise ValueError unless the kernel would accept `name` as an interface name."""
    if not name:
        raise ValueError("interface name is empty")
    if len(name.encode()) > IFNAMSIZ - 1:
        raise ValueError(f"interface name {name!r} is longer than {IFNAMSIZ - 1} bytes")
    if name in (".", ".."):
        raise ValueError(f"interface name {name!r} is not allowed")
    for ch in name:
        if ch == "/" or ch == ":" or ch.isspace() or ord(ch) < 0x20:
            raise ValueError(f"interface name {name!r} contains an invalid character {ch!r}")
