"""CachedKube.local_pods: this node's pods from the watch cache, filtered by the addresses
their network-status may name (what the pre-ADD duplicate check asks for)."""

from __future__ import annotations

import json
import time

from netattach.daemon.metrics import Metrics
from netattach.daemon.watch_cache import CachedKube, KubeCache
from netattach.kube.models import Pod
from netattach.kube.network_status import NETWORK_STATUS_ANNOTATION


def pod(name: str, *ips: str) -> Pod:
    status = json.dumps([{"name": "default/mv", "interface": "net1", "ips": list(ips)}])
    return Pod(namespace="default", name=name, uid=f"uid-{name}", node_name="node-1",
               annotations={NETWORK_STATUS_ANNOTATION: status} if ips else {})


class WatchingClient:
    def __init__(self, pods: list[Pod]) -> None:
        self.pods = pods

    def list_and_watch_pods(self, node, *, stop, server_timeout, on_synced):
        for p in self.pods:
            yield "ADDED", p
        on_synced()
        while not stop():
            time.sleep(0.01)

    def list_and_watch_nads(self, *, stop, server_timeout, on_synced):
        on_synced()
        while not stop():
            time.sleep(0.01)
        yield from ()


def test_local_pods_filtered_by_the_addresses_they_may_name():
    pods = [pod("a", "192.0.2.5"), pod("b", "192.0.2.50"), pod("c", "192.0.2.5/24"),
            pod("d")]
    cache = KubeCache(WatchingClient(pods), "node-1", Metrics.create())
    cache.start()
    try:
        assert cache.wait_synced(5)
        kube = CachedKube(cache)
        names = lambda *a: sorted(p.name for p in kube.local_pods(set(a)))  # noqa: E731
        assert names("192.0.2.5") == ["a", "c"]  # "192.0.2.50" is no mention of it
        assert names("192.0.2.50", "198.51.100.1") == ["b"]
        assert names() == []
        assert sorted(p.name for p in kube.local_pods()) == ["a", "b", "c", "d"]
    finally:
        cache.stop()
