"""A small in-process Kubernetes API server for tests.

It follows the REST semantics netattach relies on, for pods (and pods/status),
NetworkAttachmentDefinitions and events:

* objects live in memory; ``uid``, ``creationTimestamp`` and a global, monotonically
  increasing ``resourceVersion`` are assigned by the server; every write bumps it;
* ``PUT`` with a stale ``metadata.resourceVersion`` answers 409 Conflict, a missing
  object 404 NotFound, ``POST`` of an existing name 409 AlreadyExists, each with a
  ``Status`` body and the real message formats;
* ``PUT .../pods/{name}/status`` changes status and metadata labels/annotations but
  keeps spec (the pod status strategy);
* lists and ``?watch=true`` streams (chunked, newline-delimited JSON events) honour
  ``fieldSelector`` (``spec.nodeName``, ``metadata.name``, ``metadata.namespace``),
  ``resourceVersion`` and ``timeoutSeconds``; a compacted ``resourceVersion`` gives a
  410 Expired ERROR event;
* bearer-token auth against a configurable set of tokens (401 otherwise);
* HTTPS instead of HTTP with ``tls=(certfile, keyfile)`` (tests/kubeapi/incluster.py makes
  a CA and a server certificate for 127.0.0.1).

Test controls: :meth:`FakeKubeAPI.set_unreachable`, :meth:`fail_next`,
:meth:`conflict_next`, :meth:`forbid`, :meth:`set_latency`, :meth:`add_hook`,
:meth:`compact`, and the request log :attr:`requests`.

Production code must not know this module exists.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NAD_GROUP = "k8s.cni.cncf.io"
NAD_PLURAL = "network-attachment-definitions"


@dataclass(frozen=True)
class ResourceType:
    plural: str
    group: str  # "" for core
    version: str
    kind: str
    list_items_have_type: bool  # CRD lists carry apiVersion/kind on items, core lists do not

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How the API server names the resource in messages: ``pods``, ``x.k8s.cni.cncf.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = ResourceType("pods", "", "v1", "Pod", False)
NADS = ResourceType(NAD_PLURAL, NAD_GROUP, "v1", "NetworkAttachmentDefinition", True)
EVENTS = ResourceType("events", "", "v1", "Event", False)
EVENTS_V1 = ResourceType("events", "events.k8s.io", "v1", "Event", False)
_TYPES = (PODS, NADS, EVENTS, EVENTS_V1)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it (for assertions and RBAC checks)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    token: str | None

    @property
    def resource(self) -> str:
        """The RBAC resource: "pods", "pods/status", "network-attachment-definitions", "events"."""
        try:
            rtype, _, _, sub = _route(self.path)
        except ApiFailure:
            return ""
        return rtype.plural + (f"/{sub}" if sub else "")

    @property
    def group(self) -> str:
        """The RBAC API group ("" for core)."""
        try:
            return _route(self.path)[0].group
        except ApiFailure:
            return ""

    @property
    def verb(self) -> str:
        """The Kubernetes RBAC verb this request needs (get/list/watch/create/update/delete)."""
        if self.method == "GET":
            if self.query.get("watch") in ("true", "1"):
                return "watch"
            return "get" if _looks_like_object_path(self.path) else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            self.method, self.method.lower()
        )


@dataclass
class _Fault:
    method: str
    path_contains: str
    status: int
    remaining: int
    reason: str
    message: str


@dataclass
class _Change:
    rv: int
    rtype: ResourceType
    type: str  # ADDED / MODIFIED / DELETED
    old: dict[str, Any] | None
    new: dict[str, Any]


class ApiFailure(Exception):
    """Raised inside the server to answer with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _looks_like_object_path(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    # /api/v1/namespaces/ns/pods/name[/status] or /apis/g/v/namespaces/ns/plural/name
    core = parts[:1] == ["api"]
    base = 2 if core else 3
    if parts[base : base + 1] == ["namespaces"]:
        return len(parts) >= base + 4
    return len(parts) >= base + 2


class FakeKubeAPI:
    """In-memory API server state plus the HTTP listener serving it."""

    def __init__(self, tokens: Iterable[str] | None = ("test-token",), host: str = "127.0.0.1",
                 tls: tuple[str, str] | None = None):
        self._tls = tls
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._history: list[_Change] = []
        self._compacted_rv = 0
        self._rv = 100
        self._tokens: set[str] | None = set(tokens) if tokens is not None else None
        self._faults: list[_Fault] = []
        self._forbidden: set[tuple[str, str]] = set()
        self._hooks: list[Callable[[str, str], None]] = []
        self._latency = 0.0
        self.requests: list[LoggedRequest] = []
        # requests being answered (watches excluded): the log is complete when it is 0
        self._busy = 0
        self._settled = threading.Condition(threading.Lock())
        self._host = host
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._unreachable = False

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> FakeKubeAPI:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._close_listener()
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _listen(self) -> None:
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        server = ThreadingHTTPServer((self._host, self._port), Handler)
        server.daemon_threads = True
        if self._tls is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self._tls)
            # the handshake runs in the handler's thread (setup), not in the accept loop
            server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # -- test controls --------------------------------------------------------------

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every answered request is in the log (a client may read its response
        before the handler thread has logged it)."""
        with self._settled:
            self._settled.wait_for(lambda: self._busy == 0, timeout)

    def set_unreachable(self, unreachable: bool) -> None:
        """True: close the listener and cut open connections (clients see refused/reset).

        False: listen again on the same port.
        """
        if unreachable == self._unreachable:
            return
        self._unreachable = unreachable
        if unreachable:
            self._stopping.set()
            with self._changed:
                self._changed.notify_all()
            self._close_listener()
        else:
            self._stopping.clear()
            self._listen()

    def set_tokens(self, tokens: Iterable[str] | None) -> None:
        """Accept exactly these bearer tokens from now on (None disables auth)."""
        with self._lock:
            self._tokens = set(tokens) if tokens is not None else None

    def set_latency(self, seconds: float) -> None:
        """Sleep this long before answering each request (to provoke client timeouts)."""
        self._latency = seconds

    def fail_next(
        self,
        method: str,
        path_contains: str,
        status: int,
        count: int = 1,
        reason: str = "",
        message: str = "",
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and a Status body."""
        default_reason = {
            409: "Conflict",
            404: "NotFound",
            500: "InternalError",
            503: "ServiceUnavailable",
            429: "TooManyRequests",
            403: "Forbidden",
        }.get(status, "Unknown")
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    path_contains,
                    status,
                    count,
                    reason or default_reason,
                    message or f"injected {status} for test",
                )
            )

    def conflict_next(self, count: int = 1, path_contains: str = "/pods/") -> None:
        """Make the next ``count`` PUTs under ``path_contains`` fail with a real-looking 409."""
        with self._lock:
            self._faults.append(_Fault("PUT", path_contains, 409, count, "Conflict", ""))

    def forbid(self, verb: str, resource: str) -> None:
        """RBAC-deny ``verb`` (get, list, watch, create...) on ``resource`` ("pods/status")."""
        with self._lock:
            self._forbidden.add((verb, resource))

    def add_hook(self, hook: Callable[[str, str], None]) -> None:
        """Call ``hook(method, path)`` before each authenticated request is served."""
        self._hooks.append(hook)

    def compact(self) -> None:
        """Forget history: watches from an older resourceVersion get 410 Expired."""
        with self._lock:
            self._compacted_rv = self._rv
            self._history.clear()

    @property
    def resource_version(self) -> int:
        return self._rv

    # -- direct state access (what kubectl would do) ---------------------------------

    def create(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object as a POST would; returns the stored copy."""
        ns = obj.get("metadata", {}).get("namespace", "default")
        with self._changed:
            return copy.deepcopy(self._create(rtype, ns, copy.deepcopy(obj)))

    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get(self._key(rtype, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def update(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Unconditional update of metadata+spec+status (like a controller would)."""
        meta = obj["metadata"]
        with self._changed:
            key = self._key(rtype, meta.get("namespace", "default"), meta["name"])
            old = self._objects.get(key)
            if old is None:
                raise KeyError(key)
            new = copy.deepcopy(obj)
            new["metadata"]["uid"] = old["metadata"]["uid"]
            new["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            return copy.deepcopy(self._store(rtype, key, old, new))

    def delete(self, rtype: ResourceType, namespace: str, name: str) -> bool:
        with self._changed:
            return self._delete(rtype, namespace, name) is not None

    def list(self, rtype: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for (t, g, ns, _), o in sorted(self._objects.items())
                if t == rtype.plural and g == rtype.group and namespace in (None, ns)
            ]

    # -- core operations (called with the lock held) ----------------------------------

    @staticmethod
    def _key(rtype: ResourceType, ns: str, name: str) -> tuple[str, str, str, str]:
        return (rtype.plural, rtype.group, ns, name)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, rtype: ResourceType, etype: str, old: dict | None, new: dict) -> None:
        self._history.append(_Change(self._rv, rtype, etype, old, copy.deepcopy(new)))
        self._changed.notify_all()

    def _store(self, rtype: ResourceType, key: tuple, old: dict | None, new: dict) -> dict:
        new["apiVersion"] = rtype.api_version
        new["kind"] = rtype.kind
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[key] = new
        self._record(rtype, "MODIFIED" if old is not None else "ADDED", old, new)
        return new

    def _create(self, rtype: ResourceType, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiFailure(
                422,
                "Invalid",
                f'{rtype.kind} "" is invalid: metadata.name: Required value: name or '
                "generateName is required",
            )
        if meta.get("namespace", ns) != ns:
            raise ApiFailure(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        key = self._key(rtype, ns, name)
        if key in self._objects:
            raise ApiFailure(
                409,
                "AlreadyExists",
                f'{rtype.qualified} "{name}" already exists',
                {"name": name, "group": rtype.group, "kind": rtype.plural}
                if rtype.group
                else {"name": name, "kind": rtype.plural},
            )
        meta["namespace"] = ns
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta.pop("resourceVersion", None)
        return self._store(rtype, key, None, obj)

    def _delete(self, rtype: ResourceType, ns: str, name: str) -> dict | None:
        key = self._key(rtype, ns, name)
        old = self._objects.pop(key, None)
        if old is None:
            return None
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._record(rtype, "DELETED", old, gone)
        return gone

    def _not_found(self, rtype: ResourceType, name: str) -> ApiFailure:
        details: dict[str, Any] = {"name": name, "kind": rtype.plural}
        if rtype.group:
            details = {"name": name, "group": rtype.group, "kind": rtype.plural}
        return ApiFailure(404, "NotFound", f'{rtype.qualified} "{name}" not found', details)

    def _conflict(self, rtype: ResourceType, name: str) -> ApiFailure:
        details: dict[str, Any] = {"name": name, "kind": rtype.plural}
        if rtype.group:
            details = {"name": name, "group": rtype.group, "kind": rtype.plural}
        return ApiFailure(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rtype.qualified} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            details,
        )

    def _replace(
        self, rtype: ResourceType, ns: str, name: str, body: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiFailure(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        if meta.get("namespace") not in (None, ns):
            raise ApiFailure(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        key = self._key(rtype, ns, name)
        old = self._objects.get(key)
        if old is None:
            raise self._not_found(rtype, name)
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        if not sent_rv and rtype is NADS:  # CRDs require resourceVersion on update
            raise ApiFailure(
                422,
                "Invalid",
                f'{rtype.kind}.{rtype.group} "{name}" is invalid: metadata.resourceVersion: '
                "Invalid value: 0x0: must be specified for an update",
            )
        new = copy.deepcopy(old)
        if subresource == "status":
            new["status"] = copy.deepcopy(body.get("status") or {})
            for k in ("labels", "annotations"):
                if meta.get(k):
                    new["metadata"][k] = copy.deepcopy(meta[k])
                else:
                    new["metadata"].pop(k, None)
        else:
            keep = {
                k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace", "name")
            }
            new = copy.deepcopy(body)
            new["metadata"] = {**copy.deepcopy(meta), **keep}
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return self._store(rtype, key, old, new)

    def _merge_patch(
        self, rtype: ResourceType, ns: str, name: str, patch: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386), with the API server's preconditions: a
        metadata.uid or metadata.resourceVersion in the patch must match the object's."""
        key = self._key(rtype, ns, name)
        old = self._objects.get(key)
        if old is None:
            raise self._not_found(rtype, name)
        meta = patch.get("metadata") if isinstance(patch.get("metadata"), dict) else {}
        uid = meta.get("uid")
        if uid is not None and uid != old["metadata"]["uid"]:
            raise ApiFailure(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rtype.qualified} "{name}": Precondition '
                f"failed: UID in precondition: {uid}, UID in object meta: "
                f"{old['metadata']['uid']}",
                {"name": name, "kind": rtype.plural},
            )
        sent_rv = meta.get("resourceVersion")
        if sent_rv is not None and sent_rv != old["metadata"]["resourceVersion"]:
            raise self._conflict(rtype, name)
        merged = _apply_merge_patch(copy.deepcopy(old), patch)
        new = copy.deepcopy(old)
        if subresource == "status":  # pods/status: status and metadata labels/annotations
            new["status"] = merged.get("status") or {}
            for k in ("labels", "annotations"):
                if merged["metadata"].get(k):
                    new["metadata"][k] = merged["metadata"][k]
                else:
                    new["metadata"].pop(k, None)
        else:
            keep = {
                k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace", "name")
            }
            new = merged
            new["metadata"] = {**merged["metadata"], **keep}
        return self._store(rtype, key, old, new)

    # -- request handling ------------------------------------------------------------

    def _authenticate(self, token: str | None) -> None:
        if self._tokens is not None and token not in self._tokens:
            raise ApiFailure(401, "Unauthorized", "Unauthorized")

    def _authorize(
        self, verb: str, rtype: ResourceType, sub: str, ns: str | None, name: str
    ) -> None:
        resource = rtype.plural + (f"/{sub}" if sub else "")
        if (verb, resource) in self._forbidden:
            group = rtype.group
            scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            what = (
                f'{rtype.qualified} "{name}" is forbidden'
                if name
                else f"{rtype.qualified} is forbidden"
            )
            raise ApiFailure(
                403,
                "Forbidden",
                f'{what}: User "system:serviceaccount:kube-system:netattach" cannot {verb} '
                f'resource "{resource}" in API group "{group}"{scope}',
                {"name": name, "kind": rtype.plural} if name else {"kind": rtype.plural},
            )

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path_contains in path and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None


def _route(path: str) -> tuple[ResourceType, str | None, str, str]:
    """Split a URL path into (type, namespace or None, name or "", subresource or "")."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
        if parts[2] != "v1":
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
    else:
        raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
    ns: str | None = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
    for rtype in _TYPES:
        if rtype.plural == rest[0] and rtype.group == group:
            name = rest[1] if len(rest) > 1 else ""
            sub = rest[2] if len(rest) > 2 else ""
            if sub and not (rtype is PODS and sub == "status"):
                raise ApiFailure(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return rtype, ns, name, sub
    raise ApiFailure(404, "NotFound", "the server could not find the requested resource")


def _parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    terms = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            terms.append((k.strip(), False, v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            terms.append((k.strip(), True, v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            terms.append((k.strip(), True, v.strip()))
        else:
            raise ApiFailure(400, "BadRequest", f'invalid selector: "{text}"')
    for key, _, _ in terms:
        if key not in ("spec.nodeName", "metadata.name", "metadata.namespace"):
            raise ApiFailure(
                400,
                "BadRequest",
                f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                ' (and "spec.nodeName" for pods) are supported by the test server',
            )
    return terms


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def _matches(
    obj: dict[str, Any] | None, ns: str | None, selector: list[tuple[str, bool, str]]
) -> bool:
    if obj is None:
        return False
    if ns is not None and obj["metadata"].get("namespace") != ns:
        return False
    return all((_field(obj, k) == v) == eq for k, eq, v in selector)


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubeAPI
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without this, Nagle + delayed ACK add
    # ~40 ms to every response on loopback (a real API server has no such stall)
    disable_nagle_algorithm = True
    _handshake_failed = False  # TLS: the client gave up on our certificate

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def setup(self) -> None:
        if self.api._tls is not None:
            try:
                self.request.do_handshake()
            except OSError:  # e.g. the client does not trust our CA: it says so itself
                self._handshake_failed = True
        super().setup()
        with self.api._lock:
            self.api._conns.add(self.connection)

    def handle(self) -> None:
        if not self._handshake_failed:
            super().handle()

    def finish(self) -> None:
        with self.api._lock:
            self.api._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    # -- plumbing ----------------------------------------------------------------------

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiFailure(400, "BadRequest", "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiFailure(400, "BadRequest", "the request body must be a JSON object")
        return body

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        api = self.api
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        status = 200
        counted = query.get("watch") not in ("true", "1")
        if counted:
            with api._settled:
                api._busy += 1
        try:
            try:
                body = self._read_body()
            except ApiFailure:
                body = None
                raise
            finally:
                if api._latency:
                    time.sleep(api._latency)
            api._authenticate(token)
            for hook in list(api._hooks):
                hook(method, path)
            fault = api._take_fault(method, path)
            if fault is not None:
                rtype, _, name, _ = _route(path)
                if fault.status == 409 and fault.reason == "Conflict":
                    raise api._conflict(rtype, name)
                raise ApiFailure(fault.status, fault.reason, fault.message)
            status = self._dispatch(method, path, query, body)
        except ApiFailure as failure:
            status = failure.code
            with contextlib.suppress(OSError):
                self._send_json(failure.code, failure.status())
        except (BrokenPipeError, ConnectionResetError):
            status = 0
        finally:
            with api._lock:
                api.requests.append(LoggedRequest(method, path, query, status, token))
            if counted:
                with api._settled:
                    api._busy -= 1
                    api._settled.notify_all()

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: dict | None) -> int:
        api = self.api
        rtype, ns, name, sub = _route(path)
        watching = query.get("watch") in ("true", "1")
        if method == "GET" and not name:
            verb = "watch" if watching else "list"
        else:
            verb = {"GET": "get", "PUT": "update", "POST": "create", "DELETE": "delete"}.get(
                method, "patch"
            )
        api._authorize(verb, rtype, sub, ns, name)
        if method == "GET" and not name:
            selector = _parse_field_selector(query.get("fieldSelector", ""))
            if query.get("labelSelector"):
                raise ApiFailure(
                    400, "BadRequest", "labelSelector is not supported by the test server"
                )
            if watching:
                self._watch(rtype, ns, selector, query)
                return 200
            return self._list(rtype, ns, selector)
        if ns is None:
            raise ApiFailure(404, "NotFound", "the server could not find the requested resource")
        with api._changed:
            if method == "GET":
                obj = api._objects.get(api._key(rtype, ns, name))
                if obj is None:
                    raise api._not_found(rtype, name)
                result, code = copy.deepcopy(obj), 200
            elif method == "POST" and not name:
                if body is None:
                    raise ApiFailure(400, "BadRequest", "the request body is empty")
                if body.get("kind") not in (None, rtype.kind):
                    raise ApiFailure(400, "BadRequest", f"expected kind {rtype.kind}")
                result, code = copy.deepcopy(api._create(rtype, ns, body)), 201
            elif method == "PUT" and name:
                if body is None:
                    raise ApiFailure(400, "BadRequest", "the request body is empty")
                result, code = copy.deepcopy(api._replace(rtype, ns, name, body, sub)), 200
            elif method == "PATCH" and name:
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                if ctype != "application/merge-patch+json":
                    raise ApiFailure(
                        415,
                        "UnsupportedMediaType",
                        f"the test server supports merge patches only, not {ctype!r}",
                    )
                if not isinstance(body, dict):
                    raise ApiFailure(400, "BadRequest", "a merge patch is a JSON object")
                result, code = copy.deepcopy(api._merge_patch(rtype, ns, name, body, sub)), 200
            elif method == "DELETE" and name and not sub:
                gone = api._delete(rtype, ns, name)
                if gone is None:
                    raise api._not_found(rtype, name)
                result, code = gone, 200
            else:
                raise ApiFailure(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
        self._send_json(code, result)
        return code

    def _list(self, rtype: ResourceType, ns: str | None, selector: list) -> int:
        api = self.api
        with api._lock:
            items = []
            for (plural, group, _, _), obj in sorted(api._objects.items()):
                if plural == rtype.plural and group == rtype.group and _matches(obj, ns, selector):
                    item = copy.deepcopy(obj)
                    if not rtype.list_items_have_type:
                        item.pop("kind", None)
                        item.pop("apiVersion", None)
                    items.append(item)
            rv = str(api._rv)
        self._send_json(
            200,
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )
        return 200

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, rtype: ResourceType, ns: str | None, selector: list, query: dict) -> None:
        api = self.api
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        rv_param = query.get("resourceVersion", "")
        pending: list[dict[str, Any]] = []
        with api._lock:
            if rv_param in ("", "0"):
                # Start with the current state as synthetic ADDED events.
                for (plural, group, _, _), obj in sorted(api._objects.items()):
                    if (
                        plural == rtype.plural
                        and group == rtype.group
                        and _matches(obj, ns, selector)
                    ):
                        pending.append({"type": "ADDED", "object": copy.deepcopy(obj)})
                since = api._rv
            else:
                since = int(rv_param)
                if since < api._compacted_rv:
                    pending.append(
                        {
                            "type": "ERROR",
                            "object": ApiFailure(
                                410,
                                "Expired",
                                f"too old resource version: {since} ({api._compacted_rv})",
                            ).status(),
                        }
                    )
                    since = -1
        try:
            for event in pending:
                self._chunk(event)
            while since >= 0 and not api._stopping.is_set():
                with api._changed:
                    changes = [c for c in api._history if c.rv > since and c.rtype is rtype]
                    if not changes:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        api._changed.wait(min(remaining, 0.2))
                        continue
                for change in changes:
                    since = change.rv
                    was, now = (
                        _matches(change.old, ns, selector),
                        _matches(change.new, ns, selector),
                    )
                    if change.type == "DELETED":
                        etype = "DELETED" if was else None
                    elif was and now:
                        etype = "MODIFIED"
                    elif now:
                        etype = "ADDED"
                    elif was:
                        etype = "DELETED"
                    else:
                        etype = None
                    if etype is not None:
                        self._chunk({"type": etype, "object": change.new})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _apply_merge_patch(out.get(key), value)
    return out
