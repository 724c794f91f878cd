"""A small in-memory Kubernetes API for the sandbox: pods, pods/status, NADs and events.

Just what the meta plugin reads and writes, with the API's semantics (Status objects,
resourceVersion, 404 and 409), so the unmodified CNI path runs without a cluster.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_POD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)(/status)?$")
_NAD = re.compile(r"^/apis/k8s\.cni\.cncf\.io/v1/namespaces/([^/]+)/"
                  r"network-attachment-definitions/([^/]+)$")
_EVENTS = re.compile(r"^/api/v1/namespaces/([^/]+)/events$")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


class LocalApi:
    """Objects by (kind, namespace, name); thread-safe; served by `serve()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._rv = 0
        self.events: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def put(self, kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("uid", str(uuid.uuid4()))
        with self._lock:
            meta["resourceVersion"] = self._next_rv()
            self._objects[(kind, meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def _update_status(self, namespace: str, name: str, body: Mapping[str, Any]
                       ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            current = self._objects.get(("Pod", namespace, name))
            if current is None:
                return 404, _status(404, "NotFound", f'pods "{name}" not found')
            meta = body.get("metadata") or {}
            if meta.get("resourceVersion") not in (None, "", current["metadata"]
                                                    ["resourceVersion"]):
                return 409, _status(409, "Conflict", f'Operation cannot be fulfilled on pods '
                                    f'"{name}": the object has been modified; please apply '
                                    "your changes to the latest version and try again")
            current["metadata"]["annotations"] = dict(meta.get("annotations") or {})
            current["status"] = body.get("status") or {}
            current["metadata"]["resourceVersion"] = self._next_rv()
            return 200, copy.deepcopy(current)

    def _patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]
                      ) -> tuple[int, dict[str, Any]]:
        """A JSON merge patch (RFC 7386) of pods/status; metadata.uid in it is a precondition,
        as the API server checks it (how the meta plugin writes network-status)."""
        with self._lock:
            current = self._objects.get(("Pod", namespace, name))
            if current is None:
                return 404, _status(404, "NotFound", f'pods "{name}" not found')
            uid = (patch.get("metadata") or {}).get("uid")
            if uid not in (None, current["metadata"]["uid"]):
                return 409, _status(409, "Conflict", f'Operation cannot be fulfilled on pods '
                                    f'"{name}": Precondition failed: UID in precondition: '
                                    f'{uid}, UID in object meta: {current["metadata"]["uid"]}')
            merged = _merge_patch(current, patch)
            merged["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[("Pod", namespace, name)] = merged
            return 200, copy.deepcopy(merged)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        path = path.split("?", 1)[0]
        if m := _POD.match(path):
            ns, name, status = m.groups()
            if method == "GET":
                obj = self.get("Pod", ns, name)
                return (200, obj) if obj else (404, _status(404, "NotFound",
                                                            f'pods "{name}" not found'))
            if method == "PUT" and status:
                return self._update_status(ns, name, body or {})
            if method == "PATCH" and status and isinstance(body, dict):
                return self._patch_status(ns, name, body)
        elif (m := _NAD.match(path)) and method == "GET":
            ns, name = m.groups()
            obj = self.get("NetworkAttachmentDefinition", ns, name)
            return (200, obj) if obj else (404, _status(
                404, "NotFound", f'network-attachment-definitions.k8s.cni.cncf.io "{name}" '
                "not found"))
        elif (m := _EVENTS.match(path)) and method == "POST":
            with self._lock:
                self.events.append(dict(body or {}))
            return 201, dict(body or {})
        return 404, _status(404, "NotFound", f"the server could not find the requested "
                            f"resource ({method} {path})")

    def serve(self) -> str:
        """Start serving on 127.0.0.1 (of the calling thread's netns); return the URL."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else Nagle + delayed ACK: ~40 ms a response

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    code, out = 400, _status(400, "BadRequest", "body is not JSON")
                else:
                    code, out = api.handle(method, self.path, body)
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._answer("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._answer("PATCH")

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="sandbox-api",
                         daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
