"""`KubeAPI`: what netattach asks of Kubernetes, as one Protocol.

The thin client (`netattach.kube.client.KubeClient`, lightkube underneath) and the node
daemon's watch caches both implement it; the meta plugin, the daemon and doctor talk to
Kubernetes only through it, so nobody outside `netattach.kube` touches lightkube.
Importing this module is cheap (no lightkube, no httpx).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Protocol

from .models import NetworkAttachmentDefinition, Pod


class KubeAPI(Protocol):
    """Reads of pods and NADs, the network-status write, events. Errors are
    `netattach.kube.errors.KubeError` subclasses naming the object."""

    def get_pod(self, namespace: str, name: str) -> Pod: ...

    def get_nad(self, namespace: str, name: str) -> NetworkAttachmentDefinition: ...

    def list_pods(self, namespace: str = "", node_name: str = "") -> list[Pod]: ...

    def list_nads(self, namespace: str = "") -> list[NetworkAttachmentDefinition]: ...

    def set_network_status(self, namespace: str, name: str, uid: str,
                           status_json: str) -> bool: ...

    def record_event(self, pod: Pod, type_: str, reason: str, message: str) -> bool: ...

    def local_pods(self, mentioning: Collection[str] | None = None) -> list[Pod] | None:
        """This node's pods when known without an API call (a watch cache), else None;
        with `mentioning` (IPv4 addresses), only those whose network-status may name one."""
        ...

    def close(self) -> None: ...


class KubeWatch(Protocol):
    """List + watch, for caches. `on_synced` is called once the first listing has been
    yielded in full (the cache then mirrors the API server)."""

    def list_and_watch_pods(self, node_name: str, *, stop: Callable[[], bool] | None = None,
                            server_timeout: int = 300,
                            on_synced: Callable[[], None] | None = None
                            ) -> Iterator[tuple[str, Pod]]: ...

    def list_and_watch_nads(self, *, stop: Callable[[], bool] | None = None,
                            server_timeout: int = 300,
                            on_synced: Callable[[], None] | None = None
                            ) -> Iterator[tuple[str, NetworkAttachmentDefinition]]: ...
