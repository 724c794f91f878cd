"""host-local's on-disk store, byte-compatible with the Go plugin so both can share it.

`<dataDir>/<network>/` holds one file per allocated IP (named by the IP, content
"<containerID>\\r\\n<ifname>"), `last_reserved_ip.<rangeset index>`, and `lock`, on which
both implementations take flock(LOCK_EX).
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from netattach.cni.errors import plugin_error
from netattach.cni.types import IPAddress
from netattach.fsutil import read_file_at

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
LAST_IP_PREFIX = "last_reserved_ip."
LINE_BREAK = "\r\n"


@dataclass(frozen=True)
class Allocation:
    ip: IPAddress
    container_id: str
    ifname: str  # "" for files written by old plugin versions (container id only)


class Store:
    """The allocation directory of one network; use as a context manager to hold the lock."""

    def __init__(self, network: str, data_dir: str = "", *, create: bool = True) -> None:
        """`create` False (DEL, CHECK, GC): a missing directory stays missing and reads as
        an empty store, so releasing nothing leaves nothing behind."""
        self.dir = Path(data_dir or DEFAULT_DATA_DIR) / network
        self._create = create
        self._lock_fd: int | None = None

    def __enter__(self) -> Store:
        try:
            if self._create:
                self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            elif not self.dir.is_dir():
                return self  # missing, or under a file: no allocation can be there
            fd = os.open(self.dir / "lock", os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise plugin_error(f"host-local: cannot use the store {self.dir}: "
                               f"{e.strerror or e}",
                               "ipam.dataDir must name a directory the CNI plugins can write "
                               "(default /var/lib/cni/networks)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def reserve(self, container_id: str, ifname: str, ip: IPAddress, rangeset_id: int) -> bool:
        """Claim `ip` for (container, ifname); False when someone already holds it."""
        path = self.dir / str(ip)
        try:
            fd = os.open(path, os.O_RDWR | os.O_EXCL | os.O_CREAT, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, f"{container_id.strip()}{LINE_BREAK}{ifname}".encode())
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        last = self.dir / f"{LAST_IP_PREFIX}{rangeset_id}"
        last.write_text(str(ip))
        os.chmod(last, 0o600)
        return True

    def last_reserved(self, rangeset_id: int) -> IPAddress | None:
        try:
            return ipaddress.ip_address((self.dir / f"{LAST_IP_PREFIX}{rangeset_id}")
                                        .read_text().strip())
        except (OSError, ValueError):
            return None

    def allocations(self) -> Iterator[Allocation]:
        """Every allocation file in the directory (lock and last_reserved_ip files skipped).

        Every ADD and DEL reads them all, as Go's does (by owner), so the files are opened
        relative to the directory and read with os.read: half the time of pathlib's
        read_bytes (0.5 against 1.1 ms for a hundred files)."""
        try:
            dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            for name in sorted(os.listdir(dir_fd)):
                if name == "lock" or name.startswith(LAST_IP_PREFIX):
                    continue
                try:
                    ip = ipaddress.ip_address(name)
                    content = read_file_at(dir_fd, name).decode(errors="replace").strip()
                except (ValueError, OSError):
                    continue
                cid, _, ifname = content.partition(LINE_BREAK)
                yield Allocation(ip, cid.strip(), ifname.strip())
        finally:
            os.close(dir_fd)

    def by_owner(self, container_id: str, ifname: str) -> list[IPAddress]:
        cid = container_id.strip()
        return [a.ip for a in self.allocations() if (a.container_id, a.ifname) == (cid, ifname)]

    def release(self, ip: IPAddress) -> None:
        (self.dir / str(ip)).unlink(missing_ok=True)

    def release_owner(self, container_id: str, ifname: str) -> list[IPAddress]:
        """Free what (container, ifname) holds; falls back to legacy id-only files like Go."""
        cid = container_id.strip()
        allocations = list(self.allocations())
        mine = [a.ip for a in allocations if (a.container_id, a.ifname) == (cid, ifname)]
        if not mine:
            mine = [a.ip for a in allocations if a.container_id == cid and not a.ifname]
        for ip in mine:
            self.release(ip)
        return mine

