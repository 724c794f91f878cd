"""Network namespaces: open by path without ever creating one, and run code inside one.

`setns(2)` is per thread, so work inside a namespace always runs on a dedicated thread
(`NetnsThread`, `run_in_netns`); the caller's thread never changes namespace.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from netattach.linux.errors import NetnsError, NetnsNotFound, NotANetns

CLONE_NEWNET = 0x40000000
NSFS_MAGIC = 0x6E736673
PROC_SUPER_MAGIC = 0x9FA0
THREAD_NETNS_PATH = "/proc/thread-self/ns/net"
HOST_NETNS_PATH = "/proc/1/ns/net"

T = TypeVar("T")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _fstatfs_type(fd: int) -> int:
    """Return statfs.f_type for `fd` (first word of struct statfs on Linux)."""
    buf = ctypes.create_string_buffer(256)
    if _libc().fstatfs(fd, buf) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


@dataclass(frozen=True)
class NetnsId:
    """Identity of a namespace: the (st_dev, st_ino) of its nsfs inode."""

    dev: int
    ino: int


class NetnsHandle:
    """An open fd on a network namespace; close it (or use `with`) when done."""

    def __init__(self, path: str, fd: int, ident: NetnsId) -> None:
        self.path = path
        self.fd = fd
        self.id = ident

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def __enter__(self) -> NetnsHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NetnsHandle(path={self.path!r}, fd={self.fd}, ino={self.id.ino})"


NetnsRef = str | os.PathLike[str] | NetnsHandle


def open_error(spath: str, exc: OSError) -> NetnsError:
    """The error for a namespace path that cannot be opened or stat()ed: NetnsNotFound when
    it is missing, NotANetns when no namespace can be there (a name too long, a file as a
    directory, a symlink loop), NetnsError otherwise."""
    if isinstance(exc, FileNotFoundError):
        return NetnsNotFound(f"network namespace {_shown(spath)} does not exist", op="open",
                             obj=spath, errno=errno.ENOENT)
    if exc.errno in (errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP):
        return NotANetns(f"{_shown(spath)} cannot be a network namespace: {exc.strerror}",
                         op="open", obj=spath, errno=exc.errno)
    return NetnsError(f"cannot open network namespace {_shown(spath)}: {exc.strerror}",
                      op="open", obj=spath, errno=exc.errno or 0)


def open_netns(path: str | os.PathLike[str]) -> NetnsHandle:
    """Open the namespace at `path` read-only (never creates anything).

    Raises NetnsNotFound if the path is missing, NotANetns if it is not a namespace
    (e.g. a leftover unmounted /run/netns file), NetnsError otherwise.
    """
    spath = os.fspath(path)
    try:
        fd = os.open(spath, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise open_error(spath, exc) from None
    try:
        fstype = _fstatfs_type(fd)
        if fstype not in (NSFS_MAGIC, PROC_SUPER_MAGIC):
            raise NotANetns(
                f"{spath!r} is not a network namespace (filesystem type {fstype:#x}); "
                "it was probably unmounted after the namespace was removed",
                op="open", obj=spath, errno=errno.EINVAL,
            )
        st = os.fstat(fd)
        _require_net_type(fd, spath, fstype)
    except BaseException:
        os.close(fd)
        raise
    return NetnsHandle(spath, fd, NetnsId(st.st_dev, st.st_ino))


NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs fd: its CLONE_NEW* type (Linux 4.11+)
_NS_TYPES = {0x00020000: "mount", 0x00040000: "cgroup", 0x04000000: "uts", 0x08000000: "ipc",
             0x10000000: "user", 0x20000000: "pid", 0x00000080: "time"}


def _shown(path: str) -> str:
    return repr(path) if len(path) <= 80 else f"{path[:60]!r}... ({len(path)} characters)"


def _require_net_type(fd: int, spath: str, fstype: int) -> None:
    """NotANetns unless `fd` is a network namespace (not a directory, not a mount ns...)."""
    import fcntl
    import stat

    if stat.S_ISDIR(os.fstat(fd).st_mode):
        raise NotANetns(f"{spath!r} is a directory, not a network namespace", op="open",
                        obj=spath, errno=errno.EISDIR)
    try:
        nstype = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        if fstype == NSFS_MAGIC:
            return  # a kernel without NS_GET_NSTYPE: setns will judge
        raise NotANetns(f"{spath!r} is not a namespace", op="open", obj=spath,
                        errno=errno.EINVAL) from None
    if nstype != CLONE_NEWNET:
        kind = _NS_TYPES.get(nstype, f"{nstype:#x}")
        raise NotANetns(f"{spath!r} is a {kind} namespace, not a network namespace",
                        op="open", obj=spath, errno=errno.EINVAL)


def netns_id(path: str | os.PathLike[str]) -> NetnsId:
    """Identity of the namespace at `path` (stat follows the nsfs symlink/bind mount)."""
    st = os.stat(path)
    return NetnsId(st.st_dev, st.st_ino)


def current_netns_id() -> NetnsId:
    """Identity of the calling thread's network namespace."""
    return netns_id(THREAD_NETNS_PATH)


def setns_current_thread(fd: int, *, name: str = "") -> None:
    """Move the calling thread into the namespace `fd`. Only for threads this module owns."""
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(
            f"setns into network namespace {name or fd!r} failed: {os.strerror(err)}",
            op="setns", obj=name, errno=err,
        )


def _as_handle(ns: NetnsRef) -> tuple[NetnsHandle, bool]:
    """Return (handle, owned): opens paths, borrows handles."""
    if isinstance(ns, NetnsHandle):
        return ns, False
    return open_netns(ns), True


_STOP = object()


class NetnsThread:
    """A worker thread living inside one namespace; `call()` runs functions there.

    `ns=None` means the namespace of the thread that creates the worker. Calls are
    serialised; exceptions raised by the function are re-raised in the caller.
    """

    def __init__(self, ns: NetnsRef | None = None, *, name: str = "netns-worker") -> None:
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._started: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        handle, owned = (None, False) if ns is None else _as_handle(ns)
        self.path: str | None = None if handle is None else handle.path
        try:
            fd = -1 if handle is None else handle.fd
            self._thread = threading.Thread(
                target=self._run, args=(fd, self.path or ""), name=name, daemon=True
            )
            self._thread.start()
            failure = self._started.get()
        finally:
            if owned and handle is not None:
                handle.close()  # the thread is inside already (or failed): fd no longer needed
        if failure is not None:
            self._thread.join()
            raise failure

    def _run(self, fd: int, name: str) -> None:
        try:
            if fd >= 0:
                setns_current_thread(fd, name=name)
        except BaseException as exc:  # report to the constructor, then exit
            self._started.put(exc)
            return
        self._started.put(None)
        while True:
            item = self._requests.get()
            if item is _STOP:
                return
            fn, args, kwargs, reply = item
            try:
                reply.put((True, fn(*args, **kwargs)))
            except BaseException as exc:
                reply.put((False, exc))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` inside the namespace and return its result."""
        if not self._thread.is_alive():
            raise RuntimeError("NetnsThread is closed")
        reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._requests.put((fn, args, kwargs, reply))
        ok, value = reply.get()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def close(self) -> None:
        """Stop the worker thread (waits for the call in progress)."""
        if self._thread.is_alive():
            self._requests.put(_STOP)
            self._thread.join()

    def __enter__(self) -> NetnsThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def call_in_each(paths: Iterable[str], fn: Callable[[str], T]) -> list[tuple[str, T | None]]:
    """Run `fn(path)` inside each namespace in turn on one short-lived thread (one setns per
    namespace, no thread each): to open sockets there cheaply (a socket keeps the namespace
    it was created in). None for a namespace that is gone or cannot be entered, or where
    `fn` raised OSError; any other exception is re-raised in the caller."""
    out: list[tuple[str, T | None]] = []
    failure: list[BaseException] = []

    def hop() -> None:
        try:
            for path in paths:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    out.append((path, None))
                    continue
                try:
                    setns_current_thread(fd, name=path)
                    out.append((path, fn(path)))
                except (OSError, NetnsError):
                    out.append((path, None))
                finally:
                    os.close(fd)
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    worker = threading.Thread(target=hop, name="netns-hop", daemon=True)
    worker.start()
    worker.join()  # the thread ends here: the namespace it is left in is never used again
    if failure:
        raise failure[0]
    return out


def run_in_netns(ns: NetnsRef, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` on a fresh thread inside `ns`; return or re-raise.

    Raises NetnsNotFound if `ns` is a path that does not exist (nothing is created).
    """
    with NetnsThread(ns) as worker:
        return worker.call(fn, *args, **kwargs)
