"""The daemon's hot-plug controller: pods whose networks annotation changed are reconciled
(netattach.attach.hotplug does the work), one at a time, under the sandbox's lock, so a
change never runs beside an ADD or DEL of the same sandbox. On start, every pod of the node
that netattach attached is reconciled once (changes made while the daemon was away)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netattach.kube.models import Pod

    from .watch_cache import KubeCache

log = logging.getLogger("netattach.daemon.hotplug")



class HotPlug:
    """Queue of pods to reconcile and the thread that does it."""

    def __init__(self, cache: KubeCache, cni_dir: str,
                 lock_for: Callable[[str], AbstractContextManager[None]]) -> None:
        self._cache = cache
        self._cni_dir = Path(cni_dir)
        self._lock_for = lock_for
        self._todo: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hotplug", daemon=True)

    def start(self) -> None:
        self._cache.on_pod_change(self.pod_changed)
        self._thread.start()

    def stop(self) -> None:
        self._todo.put(None)
        self._thread.join(10)

    def pod_changed(self, old: Pod | None, new: Pod | None) -> None:
        """Watch callback: queue the pod when its networks annotation changed."""
        if old is None or new is None:
            return  # a new pod gets its networks from CNI ADD; a deleted one from DEL
        if old.networks_annotation != new.networks_annotation:
            self._todo.put((new.namespace, new.name))

    def reconcile_all(self) -> None:
        """Queue every pod of the node (after the caches synced at start)."""
        for pod in self._cache.pods():
            self._todo.put((pod.namespace, pod.name))

    def _run(self) -> None:
        while (key := self._todo.get()) is not None:
            try:
                self._reconcile(*key)
            except Exception:  # noqa: BLE001 - one pod's trouble must not stop the others
                log.exception("hot-plug of pod %s/%s failed", *key)

    def _reconcile(self, namespace: str, name: str) -> None:
        from netattach.attach.delegate_cache import DelegateCache
        from netattach.attach.hotplug import reconcile, sandbox_of

        pod = self._cache.pod(namespace, name)
        if pod is None or pod.terminating:
            return
        api = self._cache.view(pod.uid)
        if pod.host_network:
            reconcile(pod, None, api)  # refused with an event when it asks for networks
            return
        cache = DelegateCache(self._cni_dir)
        att = sandbox_of(cache, pod)
        if att is None:
            return  # not (yet) attached on this node: ADD will use the annotation
        with self._lock_for(att.container_id):
            att = cache.load(att.container_id)  # as it is now that we hold the lock
            if att is not None:
                updated = reconcile(pod, att, api)
                if updated is not None:
                    log.info("pod %s/%s: networks now %s", namespace, name,
                             ", ".join(f"{d.ifname}={d.name}" for d in updated.delegates))
