"""The CNI request API, transport aside: `{env, config}` in, `(HTTP status, body)` out.

The core is thin mode's `netattach.cni.skel.serve(MetaPlugin(...), env, stdin)`. What the
daemon adds is around it, never inside: the daemon config written over the CNI config,
the shared watch caches handed to the meta plugin, one lock per container id (ADD and DEL
of one sandbox never overlap), a bound on requests in flight, metrics and logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from netattach.cni.args import CniArgs
from netattach.cni.errors import CNIError, Code, TryAgainLater
from netattach.cni.skel import Bug, Plugin, Reply, serve

from .config import DaemonConfig
from .logs import request_fields
from .metrics import Metrics

log = logging.getLogger("netattach.daemon")

# CNI error code -> HTTP status of the answer (the body is the CNI error object).
_HTTP_STATUS = {Code.TRY_AGAIN_LATER: 503, Code.INVALID_ENVIRONMENT: 400,
                Code.DECODING_FAILURE: 400, Code.INVALID_NETWORK_CONFIG: 400,
                Code.INCOMPATIBLE_VERSION: 400, Code.UNSUPPORTED_FIELD: 400}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Mapping[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.body).encode()

    def stdout(self) -> tuple[int, bytes]:
        """(exit code, stdout) of a plugin giving this answer: the result (ADD) or nothing,
        exit 0; the CNI error object, exit 1. What the shim prints as it is."""
        if 200 <= self.status < 300:
            result = self.body.get("result")
            return 0, b"" if result is None else (json.dumps(result, indent=4) + "\n").encode()
        return 1, (json.dumps(self.body, indent=4) + "\n").encode()


class KeyedLocks:
    """One lock per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class Busy(TryAgainLater):
    """The daemon's queue is full (code 11: the runtime retries)."""


@dataclass
class Admission:
    """At most `running` requests run at once; at most `queued` more wait; others: code 11."""

    running: int
    queued: int
    _slots: threading.BoundedSemaphore = field(init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pending: int = field(default=0, init=False)
    _idle: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.running)
        self._idle = threading.Condition(self._guard)

    @property
    def pending(self) -> int:
        return self._pending

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count this request in; raises CNIError 11 when the queue is full."""
        with self._guard:
            if self._pending >= self.running + self.queued:
                raise Busy(f"netattach daemon is busy: {self._pending} CNI requests in "
                           "flight", f"the limit is maxInFlight={self.running} running + "
                           f"maxQueued={self.queued} waiting; the runtime retries, raise "
                           "the limits in the daemon config if this persists")
            self._pending += 1
        try:
            yield
        finally:
            with self._guard:
                self._pending -= 1
                self._idle.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._guard:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True


def decode_body(raw: bytes) -> tuple[dict[str, str], bytes]:
    """`{"env": {...}, "config": "<base64>"}` -> (env, stdin); CNIError 6 when malformed."""
    def bad(why: str) -> CNIError:
        return CNIError(Code.DECODING_FAILURE, f"netattach daemon: bad /cni request: {why}",
                        'the body must be {"env": {"CNI_COMMAND": ...}, "config": "<base64 of '
                        'the CNI config>"}; use the netattach-shim of the same version')
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise bad(f"not JSON ({e})") from None
    if not isinstance(body, dict):
        raise bad("not a JSON object")
    env = body.get("env")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in env.items()):
        raise bad('"env" must be an object of strings')
    config = body.get("config", "")
    if not isinstance(config, str):
        raise bad('"config" must be a base64 string')
    try:
        stdin = base64.b64decode(config, validate=True)
    except (binascii.Error, ValueError) as e:
        raise bad(f'"config" is not base64 ({e})') from None
    return env, stdin


# (env, stdin, want_uid, log fields) -> the Reply: in this process, or in a worker process
Execute = Callable[[dict[str, str], bytes, str, Mapping[str, str]], Reply]


def in_process(config: DaemonConfig, plugin_for: Callable[[str], Plugin]) -> Execute:
    """Run requests on the calling thread: `plugin_for(want_uid)` builds the meta plugin."""
    def execute(env: dict[str, str], stdin: bytes, want_uid: str,
                fields: Mapping[str, str]) -> Reply:
        return serve(plugin_for(want_uid), env, stdin, adjust=config.override)
    return execute


@dataclass
class CniService:
    """Serves `POST /cni` bodies; `execute` runs the core (in process or in a worker)."""

    config: DaemonConfig
    metrics: Metrics
    execute: Execute
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.config.max_in_flight, self.config.max_queued)

    def handle(self, raw: bytes) -> Answer:
        """One request; never raises (a malformed body is a CNI error answer too)."""
        started = time.monotonic()
        verb = "unknown"
        try:
            env, stdin = decode_body(raw)
            verb = env.get("CNI_COMMAND", "") or "unknown"
            with self.admission.admit():
                self.metrics.in_flight.set(self.admission.pending)
                answer = self._serve(env, stdin)
        except CNIError as err:
            if isinstance(err, Busy):
                self.metrics.rejected.inc()
            answer = Answer(_status_of(err), err.to_json())
        except Exception as exc:  # noqa: BLE001 - the shim must get a CNI error, never EOF
            log.exception("request crashed")
            answer = Answer(500, Bug("netattach daemon", exc).to_json())
        finally:
            self.metrics.in_flight.set(self.admission.pending)
        result = "ok" if answer.status == 200 else str(answer.body.get("code", "error"))
        self.metrics.requests.labels(verb=verb, result=result).inc()
        self.metrics.latency.labels(verb=verb).observe(time.monotonic() - started)
        return answer

    def _serve(self, env: dict[str, str], stdin: bytes) -> Answer:
        verb = env.get("CNI_COMMAND", "")
        container = env.get("CNI_CONTAINERID", "")
        args = CniArgs.parse(env.get("CNI_ARGS"))
        pod = f"{args.pod_namespace}/{args.pod_name}" if args.pod_name else ""
        fields = {"verb": verb, "pod": pod, "container": container[:12],
                  "ifname": env.get("CNI_IFNAME", "")}
        with request_fields(**fields):
            with self.locks.hold(container or f"<{verb}>"), self.admission.slot():
                t0 = time.monotonic()
                reply = self.execute(env, stdin, args.pod_uid, fields)
                ms = (time.monotonic() - t0) * 1000
            if reply.error is not None:
                if isinstance(reply.error, Bug):
                    log.error("%s crashed after %.0f ms: %s", verb, ms, reply.error)
                else:
                    log.warning("%s failed after %.0f ms: %s", verb, ms, reply.error)
                return Answer(_status_of(reply.error), reply.body or {})
            log.info("%s done in %.0f ms", verb, ms)
            if verb == "VERSION":
                return Answer(200, {"result": reply.body})
            return Answer(200, {} if reply.body is None else {"result": reply.body})


def _status_of(err: CNIError) -> int:
    try:
        return _HTTP_STATUS.get(Code(err.code), 500)
    except ValueError:
        return 500
