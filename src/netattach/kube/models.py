"""Frozen views of the two API objects netattach reads: pods and NetworkAttachmentDefinitions.

Built from the API server's JSON (plain dicts); nothing here talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .annotations import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from .errors import MalformedObject
from .network_status import NETWORK_STATUS_ANNOTATION

RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _metadata(obj: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedObject(f"{what}: expected a JSON object, got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name") \
            or not isinstance(meta.get("name"), str):
        raise MalformedObject(f"{what}: object has no metadata.name")
    for key in ("namespace", "uid", "resourceVersion"):
        if not isinstance(meta.get(key) or "", str):
            raise MalformedObject(f"{what} {meta['name']}: metadata.{key} is not a string",
                                  obj=str(meta["name"]))
    return meta


def _annotations(meta: Mapping[str, Any], what: str) -> Mapping[str, str]:
    raw = meta.get("annotations") or {}
    if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        ref = f"{what} {meta.get('namespace') or ''}/{meta['name']}".replace(" /", " ")
        raise MalformedObject(f"{ref}: metadata.annotations must map strings to strings",
                              obj=ref, hint="fix the object's annotations (kubectl annotate)")
    return MappingProxyType(dict(raw))


@dataclass(frozen=True)
class Pod:
    """The parts of a pod netattach uses. ``annotations`` is read-only."""

    namespace: str
    name: str
    uid: str = ""
    node_name: str = ""
    annotations: Mapping[str, str] = field(default_factory=_empty, hash=False)
    resource_version: str = ""
    terminating: bool = False  # metadata.deletionTimestamp is set: the pod is going away
    host_network: bool = False  # spec.hostNetwork: no sandbox namespace, no CNI

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> Pod:
        """Build from a core/v1 Pod JSON object; raises ValueError if it has no name."""
        meta = _metadata(obj, "Pod")
        spec = obj.get("spec") or {}
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta["name"]),
            uid=str(meta.get("uid") or ""),
            node_name=str(spec.get("nodeName") or "") if isinstance(spec, Mapping) else "",
            annotations=_annotations(meta, "pod"),
            resource_version=str(meta.get("resourceVersion") or ""),
            terminating=bool(meta.get("deletionTimestamp")),
            host_network=isinstance(spec, Mapping) and spec.get("hostNetwork") is True,
        )

    def __reduce__(self) -> tuple[Any, ...]:  # a read-only mapping does not pickle
        return (_pod, (self.namespace, self.name, self.uid, self.node_name,
                       dict(self.annotations), self.resource_version, self.terminating,
                       self.host_network))

    @property
    def ref(self) -> str:
        """``pod ns/name``: how messages name this pod."""
        return f"pod {self.namespace}/{self.name}"

    @property
    def is_static(self) -> bool:
        """True for static/mirror pods (config.source not "api"); their API UID differs."""
        source = self.annotations.get(CONFIG_SOURCE_ANNOTATION)
        return source is not None and source != "api"

    @property
    def networks_annotation(self) -> str:
        """The ``k8s.v1.cni.cncf.io/networks`` value, "" when absent."""
        return self.annotations.get(NETWORKS_ANNOTATION, "")

    @property
    def default_network_annotation(self) -> str:
        """The ``v1.multus-cni.io/default-network`` value, "" when absent."""
        return self.annotations.get(DEFAULT_NETWORK_ANNOTATION, "")

    @property
    def network_status_annotation(self) -> str:
        """The ``k8s.v1.cni.cncf.io/network-status`` value, "" when absent."""
        return self.annotations.get(NETWORK_STATUS_ANNOTATION, "")


@dataclass(frozen=True)
class NetworkAttachmentDefinition:
    """A NAD: its CNI config JSON string ("" when spec/config is empty) and annotations."""

    namespace: str
    name: str
    config: str = ""
    annotations: Mapping[str, str] = field(default_factory=_empty, hash=False)
    resource_version: str = ""
    uid: str = ""

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> NetworkAttachmentDefinition:
        """Build from a k8s.cni.cncf.io/v1 object; raises ValueError if it has no name."""
        meta = _metadata(obj, "NetworkAttachmentDefinition")
        spec = obj.get("spec") or {}
        config = spec.get("config") if isinstance(spec, Mapping) else None
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta["name"]),
            config=config if isinstance(config, str) else "",
            annotations=_annotations(meta, "NetworkAttachmentDefinition"),
            resource_version=str(meta.get("resourceVersion") or ""),
            uid=str(meta.get("uid") or ""),
        )

    def __reduce__(self) -> tuple[Any, ...]:  # a read-only mapping does not pickle
        return (_nad, (self.namespace, self.name, self.config, dict(self.annotations),
                       self.resource_version, self.uid))

    @property
    def ref(self) -> str:
        """``NetworkAttachmentDefinition ns/name``: how messages name this NAD."""
        return f"NetworkAttachmentDefinition {self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """``ns/name``: the delegate name Multus uses in network-status and events."""
        return f"{self.namespace}/{self.name}"

    @property
    def resource_name(self) -> str:
        """The ``k8s.v1.cni.cncf.io/resourceName`` device pool, "" when absent."""
        return self.annotations.get(RESOURCE_NAME_ANNOTATION, "")


def _pod(namespace: str, name: str, uid: str, node_name: str, annotations: dict[str, str],
         resource_version: str, terminating: bool, host_network: bool) -> Pod:
    return Pod(namespace, name, uid, node_name, MappingProxyType(annotations), resource_version,
               terminating, host_network)


def _nad(namespace: str, name: str, config: str, annotations: dict[str, str],
         resource_version: str, uid: str) -> NetworkAttachmentDefinition:
    return NetworkAttachmentDefinition(namespace, name, config, MappingProxyType(annotations),
                                       resource_version, uid)
