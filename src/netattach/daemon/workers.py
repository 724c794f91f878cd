"""Worker processes: the daemon's CNI work on every core.

The daemon process keeps what there must be one of per node: the socket, the admission
bound, the per-container locks, the watch caches, the event poster. A request that has
passed the bound and holds its container's lock runs in one of N worker processes (one
interpreter, so one GIL, each; requests run on threads inside a worker as they would in the
daemon). A worker asks the daemon for what its caches know (pods, NADs) and for the API
writes (network-status, events) over its channel, so the caches stay one and correct.

The channel is a socketpair carrying length-prefixed pickles, between processes of the
same netattach installation (the daemon starts its workers; nothing else can connect).

    daemon                                   worker
    ("config", {...})                 ->
    ("run", rid, env, stdin, uid, fields) ->
                                      <-     ("kube", cid, rid, "get_pod", (ns, name))
    ("kube-reply", cid, ok, value)    ->
                                      <-     ("done", rid, reply)

A worker that dies fails its requests with "try again later" (the runtime retries; the
delegate cache makes the retry's DEL or ADD safe) and is started again.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netattach.cni.errors import CNIError, TryAgainLater
from netattach.cni.skel import Bug, Reply

if TYPE_CHECKING:
    from netattach.kube.api import KubeAPI

log = logging.getLogger("netattach.daemon.workers")

_FRAME = struct.Struct("!I")
# what a worker may ask of the daemon's KubeAPI
KUBE_CALLS = frozenset({"get_pod", "get_nad", "list_pods", "list_nads", "local_pods",
                        "set_network_status", "record_event"})


class Channel:
    """Length-prefixed pickle frames over a stream socket; `send` is thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._send_lock:
            self.sock.sendall(_FRAME.pack(len(data)) + data)

    def recv(self) -> tuple[Any, ...]:
        """The next message; EOFError when the other side is gone."""
        (length,) = _FRAME.unpack(self._read(_FRAME.size))
        return pickle.loads(self._read(length))  # noqa: S301 - our own worker, a socketpair

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the channel was closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Shut down first: a thread blocked in `recv` keeps a closed socket open."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


# -- errors and replies on the wire -----------------------------------------------------------
def error_to_wire(err: BaseException) -> tuple[str, tuple[Any, ...]]:
    """A KubeError or CNIError as (kind, fields), rebuilt by `error_from_wire`."""
    from netattach.kube.errors import KubeError

    if isinstance(err, KubeError):
        return "kube:" + type(err).__name__, (err.message, err.obj, err.status, err.hint)
    if isinstance(err, CNIError):
        return "cni:" + type(err).__name__, (err.code, err.msg, err.details)
    return "bug", (f"{type(err).__name__}: {err}",)


def error_from_wire(kind: str, fields: tuple[Any, ...]) -> BaseException:
    from netattach.kube import errors as kube_errors

    if kind.startswith("kube:"):
        cls = getattr(kube_errors, kind[5:], kube_errors.KubeError)
        message, obj, status, hint = fields
        return cls(message, obj=obj, status=status, hint=hint)  # type: ignore[no-any-return]
    if kind.startswith("cni:"):
        code, msg, details = fields
        return CNIError(code, msg, details)
    return RuntimeError(fields[0])


def reply_to_wire(reply: Reply) -> tuple[Any, ...]:
    err = reply.error
    kind = "" if err is None else "bug" if isinstance(err, Bug) else \
        "retry" if isinstance(err, TryAgainLater) else "cni"
    return (reply.exit_code, reply.body, kind,
            None if err is None else (err.code, err.msg, err.details))


class _WorkerBug(Bug):
    """A worker's Bug, rebuilt in the daemon (the message and fix as the worker said)."""

    def __init__(self, code: int, msg: str, details: str) -> None:
        CNIError.__init__(self, code, msg, details)


def reply_from_wire(wire: tuple[Any, ...]) -> Reply:
    exit_code, body, kind, err = wire
    if err is None:
        return Reply(exit_code, body)
    code, msg, details = err
    error: CNIError = _WorkerBug(code, msg, details) if kind == "bug" else \
        TryAgainLater(msg, details) if kind == "retry" else CNIError(code, msg, details)
    return Reply(exit_code, body, error)


# -- the daemon's side --------------------------------------------------------------------------
@dataclass
class Worker:
    """One worker process and the requests it is running."""

    index: int
    config: Mapping[str, Any]
    kube_for: Callable[[str], KubeAPI | None]
    calls: ThreadPoolExecutor
    proc: subprocess.Popen[bytes] | None = None
    channel: Channel | None = None
    pending: dict[int, tuple[Future[Reply], str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = False

    def start(self) -> None:
        """Start the worker process, retiring a previous one first (its channel closed, the
        process killed if it still runs and reaped)."""
        self._retire()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "netattach.daemon.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        channel = self.channel = Channel(ours)
        channel.send(("config", dict(self.config)))
        self.alive = True
        threading.Thread(target=self._read, args=(channel,), name=f"worker-{self.index}",
                         daemon=True).start()

    def _retire(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

    def run(self, rid: int, env: Mapping[str, str], stdin: bytes, want_uid: str,
            fields: Mapping[str, str]) -> Future[Reply]:
        future: Future[Reply] = Future()
        with self.lock:
            if not self.alive or self.channel is None:
                future.set_result(_worker_gone(self.index))
                return future
            self.pending[rid] = (future, want_uid)
        try:
            self.channel.send(("run", rid, dict(env), stdin, want_uid, dict(fields)))
        except OSError:
            self._fail_all()
        return future

    @property
    def load(self) -> int:
        return len(self.pending)

    def _read(self, channel: Channel) -> None:
        try:
            while True:
                message = channel.recv()
                if message[0] == "done":
                    with self.lock:
                        entry = self.pending.pop(message[1], None)
                    if entry is not None:
                        entry[0].set_result(reply_from_wire(message[2]))
                elif message[0] == "kube":
                    self.calls.submit(self._kube_call, *message[1:])
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            if self.alive and self.channel is channel:
                log.error("worker %d (pid %s) is gone: %s", self.index,
                          self.proc.pid if self.proc else "?", e)
        finally:
            if self.channel is channel:  # not a retired process's channel
                self._fail_all()

    def _kube_call(self, cid: int, rid: int, method: str, args: tuple[Any, ...]) -> None:
        with self.lock:
            entry = self.pending.get(rid)
        api = self.kube_for(entry[1] if entry else "")
        try:
            if method not in KUBE_CALLS:
                raise CNIError(999, f"worker asked for {method!r}, which the daemon does not "
                               "serve", "this is a bug, please report it")
            if api is None:
                raise CNIError(7, f"netattach daemon: no Kubernetes API credentials to answer "
                               f"{method}", "set kubeconfig in the daemon config, or run the "
                               "daemon in a pod with a service account")
            value = getattr(api, method)(*args)
            message: tuple[Any, ...] = ("kube-reply", cid, True, value)
        except Exception as e:  # noqa: BLE001 - the worker raises it in the request
            message = ("kube-reply", cid, False, error_to_wire(e))
        try:
            if self.channel is not None:
                self.channel.send(message)
        except OSError:
            self._fail_all()

    def _fail_all(self) -> None:
        with self.lock:
            self.alive = False
            pending, self.pending = self.pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_result(_worker_gone(self.index))

    def stop(self) -> None:
        self.alive = False
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _worker_gone(index: int) -> Reply:
    err = TryAgainLater(f"netattach daemon: worker {index} exited while serving this request",
                        "the runtime retries; the daemon started the worker again (see its "
                        "log for why it exited)")
    return Reply(1, err.to_json(), err)


class WorkerPool:
    """`count` workers; each request goes to the one with the fewest requests running."""

    def __init__(self, count: int, config: Mapping[str, Any],
                 kube_for: Callable[[str], KubeAPI | None]) -> None:
        self._calls = ThreadPoolExecutor(max_workers=8, thread_name_prefix="worker-kube")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.workers = [Worker(i, config, kube_for, self._calls) for i in range(count)]
        for w in self.workers:
            w.start()

    def run(self, env: Mapping[str, str], stdin: bytes, want_uid: str,
            fields: Mapping[str, str]) -> Reply:
        with self._lock:
            worker = min(self.workers, key=lambda w: (not w.alive, w.load))
            if not worker.alive:  # every one is gone: start this one again
                log.warning("starting worker %d again", worker.index)
                worker.start()
            rid = next(self._ids)
        return worker.run(rid, env, stdin, want_uid, fields).result()

    def restart_dead(self) -> None:
        with self._lock:
            for worker in self.workers:
                if not worker.alive:
                    log.warning("starting worker %d again", worker.index)
                    worker.start()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self._calls.shutdown(wait=False, cancel_futures=True)


def default_count() -> int:
    """One worker per CPU the daemon may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return max(1, os.cpu_count() or 1)
