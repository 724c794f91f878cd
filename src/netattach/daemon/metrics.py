"""Prometheus metrics of the daemon, on a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_flight: Gauge
    rejected: Counter
    cache_objects: Gauge
    api_errors: Counter
    http_requests: Counter

    @classmethod
    def create(cls) -> Metrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            requests=Counter("netattach_cni_requests", "CNI requests served, by verb and result "
                             "(ok or the CNI error code)", ["verb", "result"], registry=r),
            latency=Histogram("netattach_cni_request_duration_seconds", "CNI request latency "
                              "in the daemon, by verb", ["verb"], buckets=_BUCKETS, registry=r),
            in_flight=Gauge("netattach_cni_requests_in_flight", "CNI requests being served or "
                            "queued", registry=r),
            rejected=Counter("netattach_cni_requests_rejected", "CNI requests refused with code "
                             "11 because too many were in flight", registry=r),
            cache_objects=Gauge("netattach_cache_objects", "objects in the watch caches",
                                ["kind"], registry=r),
            api_errors=Counter("netattach_kube_api_errors", "Kubernetes API failures seen by "
                               "the watches and by cache-miss lookups", ["operation"],
                               registry=r),
            http_requests=Counter("netattach_http_requests", "HTTP requests on the socket, by "
                                  "path and status", ["path", "code"], registry=r),
        )

    def render(self) -> bytes:
        return _generate_latest(self.registry)
