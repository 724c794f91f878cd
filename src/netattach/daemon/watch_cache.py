"""Watch-based caches of NADs (all namespaces) and of this node's pods.

`KubeCache` runs one list+watch thread per kind and keeps plain dicts under a lock.
`CachedKube` is what the meta plugin sees in the daemon: a `KubeAPI` answered from the
caches when possible and live from the API server on a miss. Writes (network-status,
events) always go to the API server.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from .metrics import Metrics

if TYPE_CHECKING:
    from netattach.kube.client import KubeClient
    from netattach.kube.models import NetworkAttachmentDefinition, Pod

T = TypeVar("T")

log = logging.getLogger("netattach.daemon.watch_cache")


@dataclass
class _Store(Generic[T]):
    """One kind's mirror: (namespace, name) -> object, and whether the first list is in."""

    objects: dict[tuple[str, str], T] = field(default_factory=dict)
    synced: threading.Event = field(default_factory=threading.Event)


class KubeCache:
    """Pods on `node_name` and all NADs, kept current by watches in daemon threads."""

    def __init__(self, client: KubeClient, node_name: str, metrics: Metrics,
                 spool: Path | None = None) -> None:
        self.client = client
        self.node_name = node_name
        self.metrics = metrics
        # events not yet posted, one file each, so a daemon killed right after an ADD
        # returned posts them when it starts again
        self.spool = spool
        self._lock = threading.Lock()
        self._pods: _Store[Pod] = _Store()
        self._nads: _Store[NetworkAttachmentDefinition] = _Store()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # events are posted in the background, as client-go's event recorder does: the
        # runtime does not wait for them
        self._events: queue.SimpleQueue[tuple[Path | None, Pod, str, str, str] | None] = \
            queue.SimpleQueue()
        self._poster: threading.Thread | None = None
        self._pod_listeners: list[Callable[[Pod | None, Pod | None], None]] = []

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for kind, store, watch in (
            ("pods", self._pods, lambda: self.client.list_and_watch_pods(
                self.node_name, stop=self._stop.is_set, server_timeout=60,
                on_synced=self._pods.synced.set)),
            ("nads", self._nads, lambda: self.client.list_and_watch_nads(
                stop=self._stop.is_set, server_timeout=60, on_synced=self._nads.synced.set)),
        ):
            t = threading.Thread(target=self._run, args=(kind, store, watch),
                                 name=f"watch-{kind}", daemon=True)
            t.start()
            self._threads.append(t)
        for path, event in spooled_events(self.spool):  # left by a daemon that was killed
            self._events.put((path, *event))
        self._poster = threading.Thread(target=self._post_events, name="events", daemon=True)
        self._poster.start()

    def on_pod_change(self, listener: Callable[[Pod | None, Pod | None], None]) -> None:
        """Call `listener(old, new)` (on the watch thread) for every pod the watch changes."""
        self._pod_listeners.append(listener)

    def stop(self, drain: float = 5.0) -> None:
        """Stop the watches; post the events still queued (for up to `drain` seconds)."""
        self._stop.set()
        if self._poster is not None:
            self._events.put(None)
            self._poster.join(drain)

    def post_event(self, pod: Pod, type_: str, reason: str, message: str) -> None:
        """Queue an event about `pod`, spooled to disk first (best effort, as every event:
        a spool that cannot be written only loses the restart guarantee)."""
        self._events.put((spool_event(self.spool, pod, type_, reason, message), pod, type_,
                          reason, message))

    def _post_events(self) -> None:
        while (item := self._events.get()) is not None:
            path, *event = item
            if not self.client.record_event(*event):
                self.metrics.api_errors.labels(operation="record-event").inc()
            if path is not None:  # posted or refused: not posted again after a restart
                path.unlink(missing_ok=True)

    def synced(self) -> bool:
        return self._pods.synced.is_set() and self._nads.synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._pods.synced.wait(timeout) and self._nads.synced.wait(timeout)

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {"pods": len(self._pods.objects), "nads": len(self._nads.objects)}

    def _run(self, kind: str, store: _Store[T], watch: Callable[[], Iterator[tuple[str, T]]]
             ) -> None:
        """Apply watch events to `store`; restart the watch after an error, with backoff."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                for etype, obj in watch():
                    key = (obj.namespace, obj.name)
                    with self._lock:
                        old = store.objects.get(key)
                        if etype == "DELETED":
                            store.objects.pop(key, None)
                        else:
                            store.objects[key] = obj
                        size = len(store.objects)
                    self.metrics.cache_objects.labels(kind=kind).set(size)
                    if store is self._pods:
                        for listener in self._pod_listeners:
                            listener(old, None if etype == "DELETED" else obj)
                backoff = 0.5
            except Exception as e:  # noqa: BLE001 - a watch must never die for good
                self.metrics.api_errors.labels(operation=f"watch-{kind}").inc()
                log.warning("watch of %s failed: %s; retrying in %.1fs", kind, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    # -- reads --------------------------------------------------------------------------
    def pod(self, namespace: str, name: str) -> Pod | None:
        with self._lock:
            return self._pods.objects.get((namespace, name))

    def nad(self, namespace: str, name: str) -> NetworkAttachmentDefinition | None:
        with self._lock:
            return self._nads.objects.get((namespace, name))

    def pods(self) -> list[Pod]:
        with self._lock:
            return list(self._pods.objects.values())

    def nads(self) -> list[NetworkAttachmentDefinition]:
        with self._lock:
            return list(self._nads.objects.values())

    def view(self, want_uid: str = "") -> CachedKube:
        return CachedKube(self, want_uid)


@dataclass(frozen=True)
class CachedKube:
    """A `KubeAPI`, cache first (pods of this node, all NADs). `close()` does nothing: the
    client is shared by every request of the daemon. `want_uid`: a cached pod with another
    UID (deleted and re-created) is fetched live instead."""

    cache: KubeCache
    want_uid: str = ""

    def get_pod(self, namespace: str, name: str) -> Pod:
        pod = self.cache.pod(namespace, name)
        if pod is not None and (not self.want_uid or pod.uid == self.want_uid):
            return pod
        return self._live("get-pod", lambda: self.cache.client.get_pod(namespace, name))

    def get_nad(self, namespace: str, name: str) -> NetworkAttachmentDefinition:
        nad = self.cache.nad(namespace, name)
        if nad is not None:
            return nad
        return self._live("get-nad", lambda: self.cache.client.get_nad(namespace, name))

    def list_pods(self, namespace: str = "", node_name: str = "") -> list[Pod]:
        if node_name == self.cache.node_name and self.cache.synced():
            return [p for p in self.cache.pods() if not namespace or p.namespace == namespace]
        return self._live("list-pods", lambda: self.cache.client.list_pods(namespace,
                                                                            node_name))

    def list_nads(self, namespace: str = "") -> list[NetworkAttachmentDefinition]:
        if self.cache.synced():
            return [n for n in self.cache.nads() if not namespace or n.namespace == namespace]
        return self._live("list-nads", lambda: self.cache.client.list_nads(namespace))

    def local_pods(self, mentioning: Collection[str] | None = None) -> list[Pod] | None:
        if not self.cache.synced():
            return None
        pods = self.cache.pods()
        if mentioning is None:
            return pods
        from netattach.kube.network_status import (
            NETWORK_STATUS_ANNOTATION,
            address_spellings,
            mentions_any,
        )

        spellings = address_spellings(mentioning)
        return [p for p in pods
                if mentions_any(p.annotations.get(NETWORK_STATUS_ANNOTATION, ""), spellings)]

    def set_network_status(self, namespace: str, name: str, uid: str, status_json: str) -> bool:
        return self._live("set-network-status", lambda: self.cache.client.
                          set_network_status(namespace, name, uid, status_json))

    def record_event(self, pod: Pod, type_: str, reason: str, message: str) -> bool:
        """Queued: posted in the background (True: accepted, not yet recorded)."""
        self.cache.post_event(pod, type_, reason, message)
        return True

    def close(self) -> None:
        return None

    def _live(self, operation: str, fn: Callable[[], T]) -> T:
        from netattach.kube.errors import KubeError, NotFound

        try:
            return fn()
        except NotFound:
            raise
        except KubeError:
            self.cache.metrics.api_errors.labels(operation=operation).inc()
            raise


def spool_event(spool: Path | None, pod: Pod, type_: str, reason: str, message: str
                ) -> Path | None:
    """Write one event to `spool` (a file per event, written atomically); its path, or None
    when there is no spool or it cannot be written."""
    if spool is None:
        return None
    from netattach.fsutil import write_atomically

    path = spool / f"{time.time_ns():020d}-{os.urandom(4).hex()}.json"  # sorts oldest first
    record = {"pod": {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid,
                      "resourceVersion": pod.resource_version},
              "type": type_, "reason": reason, "message": message}
    try:
        spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        # for a killed daemon, not a power loss (whose pods are gone): no fsync (0.2 ms
        # each on this VM's disk, three per ADD, and far more on a busy node's disk)
        write_atomically(path, json.dumps(record).encode(), durable=False)
    except OSError as e:
        log.warning("cannot spool an event in %s (%s); it is posted, but not again if the "
                    "daemon is killed first", spool, e.strerror or e)
        return None
    return path


def spooled_events(spool: Path | None) -> list[tuple[Path, tuple[Pod, str, str, str]]]:
    """The events a previous daemon spooled and did not post, oldest first; unreadable
    files are removed."""
    if spool is None or not spool.is_dir():
        return []
    from netattach.kube.models import Pod

    out = []
    for path in sorted(spool.glob("*.json")):
        try:
            record = json.loads(path.read_bytes())
            ref = record["pod"]
            pod = Pod(namespace=str(ref["namespace"]), name=str(ref["name"]),
                      uid=str(ref.get("uid") or ""),
                      resource_version=str(ref.get("resourceVersion") or ""))
            event = (pod, str(record["type"]), str(record["reason"]), str(record["message"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("dropping unreadable spooled event %s: %s", path, e)
            path.unlink(missing_ok=True)
            continue
        out.append((path, event))
    if out:
        log.info("posting %d event(s) spooled before a restart", len(out))
    return out

