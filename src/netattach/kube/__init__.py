"""Kubernetes side of netattach: pods, NADs, selection/status annotations, API client.

Importing this package (and ``annotations``, ``network_status``, ``models``, ``errors``,
``names``) is cheap and never imports lightkube/httpx; ``KubeClient`` is loaded on first use from
``netattach.kube.client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .annotations import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    AnnotationError,
    Bandwidth,
    NetworkSelection,
    PortMapping,
    parse_default_network,
    parse_networks,
    validate_interface_name,
)
from .errors import Conflict, KubeError, MalformedObject, NotFound, Unauthorized, Unreachable
from .models import NetworkAttachmentDefinition, Pod
from .names import InvalidName, validate_pod_args
from .network_status import (
    DNS,
    NETWORK_STATUS_ANNOTATION,
    NetworkStatus,
    format_network_status,
    parse_network_status,
)

if TYPE_CHECKING:
    from .client import KubeClient

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "DNS",
    "InvalidName",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "AnnotationError",
    "Bandwidth",
    "Conflict",
    "KubeClient",
    "KubeError",
    "MalformedObject",
    "NetworkAttachmentDefinition",
    "NetworkSelection",
    "NetworkStatus",
    "NotFound",
    "Pod",
    "PortMapping",
    "Unauthorized",
    "Unreachable",
    "format_network_status",
    "parse_default_network",
    "parse_network_status",
    "parse_networks",
    "validate_pod_args",
    "validate_interface_name",
]


def __getattr__(name: str) -> Any:
    if name == "KubeClient":
        from .client import KubeClient

        return KubeClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
