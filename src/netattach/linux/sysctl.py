"""Network sysctls (/proc/sys/net/...): read/write in the calling thread's namespace.

Call these on a thread inside the target namespace (NetlinkSession does that for you).
"""

from __future__ import annotations

import errno
import os

from netattach.linux.errors import LinuxNetError, NotFound

PROC_SYS = "/proc/sys/"


def sysctl_path(key: str) -> str:
    """Map 'net/ipv4/conf/eth0/arp_notify' to its /proc/sys path; only net/ keys allowed.

    Keys use '/' separators only (interface names may contain dots, e.g. 'vlan.100').
    """
    key = key.strip("/")
    parts = key.split("/")
    if parts[0] != "net" or len(parts) < 2 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid network sysctl key {key!r} (expected net/<...>, '/'-separated)")
    return PROC_SYS + key


def read_sysctl(key: str) -> str:
    """Return the value of a net sysctl (stripped), NotFound if it does not exist."""
    path = sysctl_path(key)
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        raise NotFound(f"sysctl {key!r} does not exist in this namespace", op="read",
                       obj=key, errno=errno.ENOENT) from None
    except OSError as exc:
        raise LinuxNetError(f"reading sysctl {key!r} failed: {exc.strerror}", op="read",
                            obj=key, errno=exc.errno or 0) from None


def write_sysctl(key: str, value: str | int) -> str:
    """Set a net sysctl and return its previous value; NotFound if it does not exist."""
    old = read_sysctl(key)
    path = sysctl_path(key)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise LinuxNetError(f"setting sysctl {key!r} to {value!r} failed: {exc.strerror}",
                            op="write", obj=key, errno=exc.errno or 0) from None
    return old
