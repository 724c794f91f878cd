"""A tiny writer and reader for the newc ("070701") cpio format the kernel unpacks."""

from __future__ import annotations

import stat
from dataclasses import dataclass

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"
_FIELDS = (
    "ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
    "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check",
)


@dataclass(frozen=True)
class CpioEntry:
    """One archive member: a path without leading slash, its mode, data and device."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


class CpioWriter:
    """Collects entries and serialises them as a newc archive owned by root, mtime 0."""

    def __init__(self) -> None:
        self._entries: list[CpioEntry] = []
        self._names: set[str] = set()

    def add(self, entry: CpioEntry) -> None:
        name = entry.name.strip("/")
        if not name or name in self._names:
            raise ValueError(f"cpio: empty or duplicate member name {entry.name!r}")
        self._names.add(name)
        self._entries.append(CpioEntry(name, entry.mode, entry.data, entry.rdev))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self.add(CpioEntry(name, stat.S_IFDIR | perm))

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self.add(CpioEntry(name, stat.S_IFREG | perm, data))

    def symlink(self, name: str, target: str) -> None:
        self.add(CpioEntry(name, stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self.add(CpioEntry(name, stat.S_IFCHR | perm, rdev=(major, minor)))

    def __contains__(self, name: str) -> bool:
        return name.strip("/") in self._names

    def to_bytes(self) -> bytes:
        """The archive, parent directories first as listed, ending in the trailer."""
        out = bytearray()
        for ino, entry in enumerate(self._entries, start=1):
            _append(out, ino, entry)
        _append(out, 0, CpioEntry(_TRAILER, 0))
        return bytes(out)


def _append(out: bytearray, ino: int, entry: CpioEntry) -> None:
    name = entry.name.encode() + b"\0"
    values = (
        ino, entry.mode, 0, 0, 2 if stat.S_ISDIR(entry.mode) else 1, 0, len(entry.data),
        0, 0, entry.rdev[0], entry.rdev[1], len(name), 0,
    )
    out += _MAGIC + b"".join(b"%08X" % v for v in values) + name
    out += b"\0" * (-len(out) % 4)
    out += entry.data
    out += b"\0" * (-len(out) % 4)


def read_newc(archive: bytes) -> list[CpioEntry]:
    """Parse a newc archive (up to its trailer); raises ValueError when it is malformed."""
    entries: list[CpioEntry] = []
    pos = 0
    while True:
        if archive[pos : pos + 6] != _MAGIC:
            raise ValueError(f"cpio: bad magic at offset {pos}")
        raw = archive[pos + 6 : pos + 110]
        if len(raw) != 104:
            raise ValueError("cpio: truncated header")
        numbers = (int(raw[i : i + 8], 16) for i in range(0, 104, 8))
        fields = dict(zip(_FIELDS, numbers, strict=True))
        pos += 110
        name_bytes = archive[pos : pos + fields["namesize"]]
        if not name_bytes.endswith(b"\0"):
            raise ValueError("cpio: member name is not NUL-terminated")
        name = name_bytes[:-1].decode()
        pos += fields["namesize"]
        pos += -pos % 4
        data = archive[pos : pos + fields["filesize"]]
        if len(data) != fields["filesize"]:
            raise ValueError(f"cpio: {name}: truncated data")
        pos += fields["filesize"]
        pos += -pos % 4
        if name == _TRAILER:
            return entries
        rdev = (fields["rdevmajor"], fields["rdevminor"])
        entries.append(CpioEntry(name, fields["mode"], data, rdev))
