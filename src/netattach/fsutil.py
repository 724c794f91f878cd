"""Small file-system helpers shared by every layer."""

from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
import time
from pathlib import Path

# write_atomically's temporary files are ".<target name>.<8 chars>" (tempfile.mkstemp's
# random part: lower-case letters, digits and "_").
_TEMP_SUFFIX = r"\.[a-z0-9_]{8}"
# A temporary file whose writer is gone is stale once it is this old: the writer holds an
# flock from just after creating it to the rename, so only the instant before it took the
# lock (or a writer of an older version, which did not lock) needs the grace.
STALE_TEMP_AGE = 1.0


def read_file_at(dir_fd: int, name: str) -> bytes:
    """The whole of file `name` in the directory open as `dir_fd`: for reading every file of
    a directory, about half the time of `Path.read_bytes` (one read for a small file)."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        chunks = [os.read(fd, 4096)]
        while len(chunks[-1]) == 4096:
            chunks.append(os.read(fd, 4096))
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600, *, durable: bool = True
                     ) -> None:
    """Replace `path` with `data` via a temporary file in the same directory, fsync and rename.

    Readers see the old or the new content, never a truncated file, and a running
    executable being replaced never fails with "text file busy". The temporary file is
    flock()ed until the rename, so `remove_stale_temp_files` can tell a killed writer's
    leftover from a write in progress. `durable` False skips the fsync: for files that
    must outlive a killed writer (the page cache has them) but not a power loss.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
            os.fchmod(fd, mode)
            os.replace(tmp, path)
        finally:
            os.close(fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temp_files(directory: Path, *, target: str | None = None,
                            target_prefix: str = "", min_age: float = STALE_TEMP_AGE) -> int:
    """Remove `write_atomically`'s leftovers in `directory`: temporary files of `target`
    (a file name), or of every file whose name starts with `target_prefix`, that no live
    writer holds and that are at least `min_age` seconds old. Returns how many went.

    Anything else (other names, symlinks, directories, fresh or locked files) is left alone.
    """
    name = re.escape(target) if target is not None else re.escape(target_prefix) + ".*"
    pattern = re.compile(rf"\.{name}{_TEMP_SUFFIX}")
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    removed = 0
    now = time.time()
    for entry in names:
        if entry.startswith(".") and pattern.fullmatch(entry) \
                and _remove_if_stale(directory / entry, now - min_age):
            removed += 1
    return removed


def _remove_if_stale(path: Path, older_than: float) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # gone meanwhile, a symlink, or not ours to open
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_mtime > older_than:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its writer is alive
        try:
            if os.stat(path, follow_symlinks=False).st_ino != st.st_ino:
                return False  # replaced since we opened it
            os.unlink(path)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)
