"""Watch-based caches of NADs (all namespaces) and of this node's pods.

`KubeCache` runs one list+watch thread per kind and keeps plain dicts under a lock.
`CachedKube` is what the meta plugin sees in the daemon: the `KubeClient` calls it makes,
answered from the caches when possible and live from the API server on a miss. Writes
(network-status, events) always go to the API server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .metrics import Metrics

log = logging.getLogger("netattach.daemon.cache")


@dataclass
class _Store:
    """One kind's mirror: (namespace, name) -> object, and whether the first list is in."""

    objects: dict[tuple[str, str], Any] = field(default_factory=dict)
    synced: threading.Event = field(default_factory=threading.Event)


class KubeCache:
    """Pods on `node_name` and all NADs, kept current by watches in daemon threads."""

    def __init__(self, client: Any, node_name: str, metrics: Metrics) -> None:
        self.client = client
        self.node_name = node_name
        self._metrics = metrics
        self._lock = threading.Lock()
        self._pods = _Store()
        self._nads = _Store()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        tapped_client(self.client, self._pods.synced, self._nads.synced)
        for kind, store, watch in (
            ("pods", self._pods, lambda: self.client.list_and_watch_pods(
                self.node_name, stop=self._stop.is_set, server_timeout=60)),
            ("nads", self._nads, lambda: self.client.list_and_watch_nads(
                stop=self._stop.is_set, server_timeout=60)),
        ):
            t = threading.Thread(target=self._run, args=(kind, store, watch),
                                 name=f"watch-{kind}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    def synced(self) -> bool:
        return self._pods.synced.is_set() and self._nads.synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._pods.synced.wait(timeout) and self._nads.synced.wait(timeout)

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {"pods": len(self._pods.objects), "nads": len(self._nads.objects)}

    def _run(self, kind: str, store: _Store, watch: Callable[[], Iterator[tuple[str, Any]]]
             ) -> None:
        """Apply watch events to `store`; restart the watch after an error, with backoff."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                for etype, obj in watch():
                    key = (obj.namespace, obj.name)
                    with self._lock:
                        if etype == "DELETED":
                            store.objects.pop(key, None)
                        else:
                            store.objects[key] = obj
                        size = len(store.objects)
                    self._metrics.cache_objects.labels(kind=kind).set(size)
                backoff = 0.5
            except Exception as e:  # noqa: BLE001 - a watch must never die for good
                self._metrics.api_errors.labels(operation=f"watch-{kind}").inc()
                log.warning("watch of %s failed: %s; retrying in %.1fs", kind, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    # -- reads --------------------------------------------------------------------------
    def pod(self, namespace: str, name: str) -> Any | None:
        with self._lock:
            return self._pods.objects.get((namespace, name))

    def nad(self, namespace: str, name: str) -> Any | None:
        with self._lock:
            return self._nads.objects.get((namespace, name))

    def view(self, want_uid: str = "") -> CachedKube:
        return CachedKube(self, want_uid)


class _WatchTap:
    """Wraps the lightkube client inside a KubeClient: marks a kind synced when its
    list+watch generator moves from the initial listing to the watch (the listing has been
    yielded in full by then). KubeClient exposes no "synced" signal; if it grows an
    `on_synced` callback this tap goes away."""

    def __init__(self, inner: Any, on_watch: Callable[[Any], None]) -> None:
        self._inner = inner
        self._on_watch = on_watch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def watch(self, res: Any, **kwargs: Any) -> Any:
        self._on_watch(res)
        return self._inner.watch(res, **kwargs)


def tapped_client(client: Any, pods: threading.Event, nads: threading.Event) -> Any:
    """Install a `_WatchTap` in `client` (a KubeClient used only for watches)."""
    def on_watch(res: Any) -> None:
        kind = getattr(getattr(res, "_api_info", None), "plural", "")
        (pods if kind == "pods" else nads).set()

    client._lk = _WatchTap(client._lk, on_watch)  # noqa: SLF001 - see _WatchTap
    return client


@dataclass(frozen=True)
class CachedKube:
    """The KubeClient surface the meta plugin uses, cache first. `close()` does nothing:
    the client is shared by every request of the daemon."""

    cache: KubeCache
    want_uid: str = ""

    def get_pod(self, namespace: str, name: str) -> Any:
        pod = self.cache.pod(namespace, name)
        if pod is not None and (not self.want_uid or pod.uid == self.want_uid):
            return pod
        return self._live("get-pod", lambda: self.cache.client.get_pod(namespace, name))

    def get_nad(self, namespace: str, name: str) -> Any:
        nad = self.cache.nad(namespace, name)
        if nad is not None:
            return nad
        return self._live("get-nad", lambda: self.cache.client.get_nad(namespace, name))

    def set_network_status(self, namespace: str, name: str, uid: str, status_json: str) -> bool:
        return bool(self._live("set-network-status", lambda: self.cache.client.
                               set_network_status(namespace, name, uid, status_json)))

    def record_event(self, pod: Any, type_: str, reason: str, message: str, **kw: Any) -> bool:
        return bool(self.cache.client.record_event(pod, type_, reason, message, **kw))

    def close(self) -> None:
        return None

    def _live(self, operation: str, fn: Callable[[], Any]) -> Any:
        from netattach.kube.errors import KubeError, NotFound

        try:
            return fn()
        except NotFound:
            raise
        except KubeError:
            self.cache._metrics.api_errors.labels(operation=operation).inc()  # noqa: SLF001
            raise
