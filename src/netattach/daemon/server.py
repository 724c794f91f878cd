"""HTTP on a unix socket: `POST /cni`, `GET /healthz`, `GET /readyz`, `GET /metrics`.

Only root may talk to the socket: the directory is created 0700 (an existing one must be
owned by root and writable by nobody else, and is never chmodded), the socket is 0600, and
each connection's peer credentials (SO_PEERCRED) must say uid 0, else 403. One thread per
connection (ThreadingMixIn); `CniService` bounds how many CNI requests run at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from .metrics import CONTENT_TYPE_LATEST, Metrics
from .service import Answer, CniService

log = logging.getLogger("netattach.daemon.server")

MAX_BODY = 4 << 20  # a CNI config with a big prevResult is a few KiB; 4 MiB is plenty


class SocketInUse(Exception):
    """Another process is serving the socket path."""


@dataclass(frozen=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCred:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return PeerCred(*struct.unpack("3i", raw))


@dataclass(frozen=True)
class App:
    """What the handlers need: the CNI service, readiness, metrics."""

    service: CniService
    metrics: Metrics
    ready: Callable[[], tuple[bool, str]]
    allowed_uids: frozenset[int] = frozenset({0})


def _handler_class(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "netattach-daemon"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("http: " + format, *args)

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: tuple[tuple[str, str], ...] = ()) -> None:
            path = self.path.split("?", 1)[0]
            app.metrics.http_requests.labels(path=path if path in (
                "/cni", "/healthz", "/readyz", "/metrics") else "other", code=str(status)).inc()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode())

        def _authorised(self) -> bool:
            try:
                cred = peer_credentials(self.connection)
            except OSError as e:
                self._json(403, {"code": 4, "msg": f"cannot read peer credentials: {e}"})
                return False
            if cred.uid not in app.allowed_uids:
                log.warning("refused a connection from pid %d uid %d: only root may use the "
                            "netattach socket", cred.pid, cred.uid)
                self._json(403, {"code": 4, "msg": f"forbidden: uid {cred.uid} may not use "
                                 "the netattach daemon socket",
                                 "details": "only root (uid 0) may send CNI requests; run the "
                                 "CNI runtime or the shim as root"})
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorised():
                return
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                ok, why = app.ready()
                self._json(200 if ok else 503, {"status": "ready" if ok else "not ready",
                                                "reason": why})
            elif path == "/metrics":
                self._send(200, app.metrics.render(), CONTENT_TYPE_LATEST)
            else:
                self._json(404, {"msg": f"no such endpoint {path}; try POST /cni, GET "
                                 "/healthz, /readyz, /metrics"})

        def do_POST(self) -> None:  # noqa: N802
            if not self._authorised():
                return
            path = self.path.split("?", 1)[0]
            if path not in ("/cni", "/healthz", "/readyz"):
                self._json(404, {"msg": f"no such endpoint {path}; CNI requests go to "
                                 "POST /cni"})
                return
            if path != "/cni":
                self.do_GET()
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._json(400, {"code": 6, "msg": f"bad Content-Length {length}",
                                 "details": f"send the JSON body with a length of 1..{MAX_BODY}"})
                return
            answer: Answer = app.service.handle(self.rfile.read(length))
            if self.headers.get("X-CNI-Stdout") == "1":  # the shim: what to print, and exit
                code, out = answer.stdout()
                self._send(answer.status, out, headers=(("X-CNI-Exit-Code", str(code)),))
            else:
                self._send(answer.status, answer.encode())

    return Handler


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512

    def __init__(self, path: Path, app: App) -> None:
        prepare_socket_path(path)
        old_umask = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            super().__init__(str(path), _handler_class(app))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self.path = path

    def server_close(self) -> None:
        super().server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class SocketDirError(Exception):
    """The socket directory cannot be used, or could let another user swap netattach.sock
    for a listener of their own."""


def prepare_socket_dir(directory: Path) -> None:
    """Create `directory` 0700 when missing; refuse an existing one that is not a directory,
    not owned by root (or by us), or writable by group or others. Never chmods anything:
    the directory may be shared (socketDir=/run must not lock /run)."""
    fix = ("use a directory owned by root that only root can write to (chown root "
           f"{directory}; chmod go-w {directory}), or point --socket-dir (socketDir) at a "
           "path that does not exist yet, such as /run/netattach: the daemon creates it "
           "0700 for itself")
    try:
        try:
            directory.mkdir(mode=0o700)
        except FileNotFoundError:
            directory.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            directory.mkdir(mode=0o700, exist_ok=True)
        except FileExistsError:
            pass
        st = os.stat(directory)
    except OSError as e:
        raise SocketDirError(f"cannot create socket directory {directory}: {e.strerror or e}; "
                             f"{fix}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SocketDirError(f"socket directory {directory} is not a directory; {fix}")
    if st.st_uid not in (0, os.geteuid()):
        raise SocketDirError(f"socket directory {directory} is owned by uid {st.st_uid}, not "
                             "root: that user could replace netattach.sock with a listener "
                             f"of its own; {fix}")
    if st.st_mode & 0o022:
        who = " and ".join(w for w, bit in (("group", 0o020), ("others", 0o002))
                           if st.st_mode & bit)
        raise SocketDirError(f"socket directory {directory} (mode "
                             f"{stat.S_IMODE(st.st_mode):04o}) is writable by {who}: they "
                             f"could replace netattach.sock with a listener of their own; {fix}")


def prepare_socket_path(path: Path) -> None:
    """A safe socket dir (see prepare_socket_dir); a stale socket (nobody listening) is
    removed; anything else at `path` is refused."""
    prepare_socket_dir(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketDirError(f"{path} exists and is not a socket; remove it or pass another "
                             "--socket-dir")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # stale: left by a daemon that was killed
        return
    finally:
        probe.close()
    raise SocketInUse(f"socket {path} is served by another process: is a netattach daemon "
                      "already running on this node? Stop it, or pass another --socket-dir")
