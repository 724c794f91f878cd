"""Thick-mode test support: run `netattach daemon` in a node namespace, talk to its socket,
and pick the CNI transport ("thin" or "thick") for any e2e test.

The switch, for suites written against the thin `netattach` executable::

    transport = Transport.thin(bindir)                  # exec bindir/netattach
    transport = Transport.thick(bindir, socket_dir)     # exec bindir/netattach-shim
    argv, stdin_conf = transport.prepare(meta_conf)     # same env, same meta config
    subprocess.run(["ip", "netns", "exec", NODE, *argv], input=json.dumps(stdin_conf), ...)

In thick mode `prepare` only swaps `"type"` to `netattach-shim` and adds
`daemonSocketDir`; every other key (kubeconfig, clusterNetwork, cniDir, binDir...) still
reaches the daemon, which runs the same meta plugin core on it. A daemon for the suite:

    with DaemonProcess.start(node_netns="natst-..-node1", socket_dir=tmp / "sock",
                             kubeconfig=..., node_name="node-1", log_path=tmp / "d.log") as d:
        ...   # d.kill(signal.SIGKILL); d.restart(); d.get("/readyz")
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOCKET_NAME = "netattach.sock"


@dataclass(frozen=True)
class Transport:
    """How a test execs the CNI plugin: the thin meta plugin or the thick-mode shim."""

    mode: str  # "thin" | "thick"
    bindir: Path
    socket_dir: Path | None = None

    @classmethod
    def thin(cls, bindir: Path) -> Transport:
        return cls("thin", bindir)

    @classmethod
    def thick(cls, bindir: Path, socket_dir: Path) -> Transport:
        return cls("thick", bindir, socket_dir)

    def prepare(self, conf: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """(argv, stdin config) for one CNI call with meta config `conf`."""
        if self.mode == "thin":
            return [str(self.bindir / "netattach")], dict(conf)
        out = dict(conf)
        out["type"] = "netattach-shim"
        out["daemonSocketDir"] = str(self.socket_dir)
        return [str(self.bindir / "netattach-shim")], out


def http(socket_path: Path, method: str, path: str, body: bytes = b"",
         timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request over the daemon's unix socket; returns (status, body)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_path))
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: netattach\r\nContent-Length: "
                     f"{len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


@dataclass
class DaemonProcess:
    """`netattach daemon` as a subprocess inside `node_netns` (None: this namespace)."""

    argv: list[str]
    socket_dir: Path
    log_path: Path
    env: Mapping[str, str] | None = None  # added to this process's environment
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / SOCKET_NAME

    @classmethod
    @contextmanager
    def start(cls, *, socket_dir: Path, log_path: Path, node_netns: str | None = None,
              kubeconfig: Path | None = None, node_name: str = "node-1",
              extra_args: Sequence[str] = (), config: Mapping[str, Any] | None = None,
              wait_ready: bool = True, env: Mapping[str, str] | None = None
              ) -> Iterator[DaemonProcess]:
        """Start the daemon, wait for /readyz, and stop it (and its socket) afterwards."""
        argv = [sys.executable, "-m", "netattach", "daemon", "--socket-dir", str(socket_dir),
                "--node-name", node_name, "--log-format", "json", "--log-level", "debug"]
        if kubeconfig is not None:
            argv += ["--kubeconfig", str(kubeconfig)]
        if config is not None:
            cfg_path = log_path.with_suffix(".config.json")
            cfg_path.write_text(json.dumps(dict(config)))
            argv += ["--config", str(cfg_path)]
        argv += list(extra_args)
        if node_netns:
            argv = ["ip", "netns", "exec", node_netns, *argv]
        daemon = cls(argv, socket_dir, log_path, env)
        try:
            daemon.launch(wait_ready=wait_ready)
            yield daemon
        finally:
            daemon.stop()

    def launch(self, wait_ready: bool = True, timeout: float = 30.0) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, **(self.env or {}),
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)
        if wait_ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                status, _ = http(self.socket_path, "GET", "/readyz", timeout=2)
                if status == 200:
                    return
                last = status
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"daemon not ready after {timeout}s ({last}):\n{self.logs()}")

    def get(self, path: str) -> tuple[int, bytes]:
        return http(self.socket_path, "GET", path)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> int | None:
        """Send `sig` to the daemon and wait for it to exit; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def restart(self) -> None:
        self.kill(signal.SIGKILL)
        self._close_log()
        self.launch()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        self._close_log()
        if self.socket_path.exists():  # only after SIGKILL; a SIGTERM'd daemon removes it
            self.socket_path.unlink()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rss_kib(self) -> int:
        """Resident set size of the daemon (the python process, not `ip netns exec`)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
