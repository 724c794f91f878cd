"""Where doctor's NADs and pods come from: the API server, YAML files/dirs, or both."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

NAD_KIND = "NetworkAttachmentDefinition"
YAML_SUFFIXES = (".yaml", ".yml", ".json")


class SourceError(Exception):
    """A source could not be read; the message says which and how to fix it."""


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class NadSource:
    """A NAD's CNI config (spec.config) and where it was read (`origin`)."""

    namespace: str
    name: str
    config: str
    origin: str = "API"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class PodSource:
    """A pod's annotations and node, and where it was read."""

    namespace: str
    name: str
    node_name: str = ""
    annotations: Mapping[str, str] = field(default_factory=_empty, hash=False)
    origin: str = "API"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Sources:
    nads: tuple[NadSource, ...] = ()
    pods: tuple[PodSource, ...] = ()

    def __add__(self, other: Sources) -> Sources:
        return Sources(self.nads + other.nads, self.pods + other.pods)


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    if path.exists():
        return [path]
    raise SourceError(f"{path}: no such file or directory (give -f a YAML file or directory)")


def from_objects(objs: list[tuple[Mapping[str, Any], str]]) -> Sources:
    """NADs and pods out of API-shaped objects (List kinds unpacked); others ignored."""
    nads: list[NadSource] = []
    pods: list[PodSource] = []
    todo = list(objs)
    while todo:
        obj, origin = todo.pop(0)
        if not isinstance(obj, Mapping):
            continue
        kind = obj.get("kind")
        if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
            todo[:0] = [(o, origin) for o in obj.get("items") or ()]
            continue
        meta = obj.get("metadata") or {}
        if not isinstance(meta, Mapping) or not meta.get("name"):
            continue
        ns = str(meta.get("namespace") or "default")
        spec = obj.get("spec") or {}
        if kind == NAD_KIND:
            config = spec.get("config", "") if isinstance(spec, Mapping) else ""
            nads.append(NadSource(ns, str(meta["name"]),
                                  config if isinstance(config, str) else "", origin))
        elif kind == "Pod":
            ann = meta.get("annotations") or {}
            pods.append(PodSource(
                ns, str(meta["name"]),
                str(spec.get("nodeName") or "") if isinstance(spec, Mapping) else "",
                MappingProxyType({str(k): str(v) for k, v in dict(ann).items()}), origin))
    return Sources(tuple(nads), tuple(pods))


def from_yaml(paths: list[str]) -> Sources:
    """Every NetworkAttachmentDefinition and Pod in the files (multi-document) or dirs."""
    import yaml

    objs: list[tuple[Mapping[str, Any], str]] = []
    for p in paths:
        for f in _yaml_files(Path(p)):
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except (OSError, UnicodeDecodeError) as e:
                raise SourceError(f"{f}: cannot read: {e}") from None
            except yaml.YAMLError as e:
                raise SourceError(f"{f}: not valid YAML: {e}") from None
            for i, doc in enumerate(docs, 1):
                if isinstance(doc, Mapping):
                    objs.append((doc, f"{f}" + (f" (document {i})" if len(docs) > 1 else "")))
    return from_objects(objs)


def from_api(kubeconfig: str, namespace: str = "", node_name: str = "") -> Sources:
    """NADs (and pods, on `node_name` if given) from the API server, one or all namespaces."""
    from netattach.kube.client import KubeClient
    from netattach.kube.errors import KubeError

    try:
        kube = KubeClient.from_kubeconfig(kubeconfig)
    except (KubeError, OSError, ValueError) as e:
        raise SourceError(f"cannot use kubeconfig {kubeconfig}: {e}") from None
    origin = f"API {kube.server}"
    try:
        nads = kube.list_nads(namespace)
        pods = kube.list_pods(namespace, node_name)
    except KubeError as e:
        raise SourceError(f"cannot list NADs and pods from {kube.server}: {e}; check the "
                          "kubeconfig and that this user may list "
                          "network-attachment-definitions and pods") from None
    finally:
        kube.close()
    return Sources(tuple(NadSource(n.namespace or "default", n.name, n.config, origin)
                         for n in nads),
                   tuple(PodSource(p.namespace or "default", p.name, p.node_name, p.annotations,
                                   origin) for p in pods))


def default_kubeconfig() -> str:
    """$KUBECONFIG's first entry, else "" (doctor then works from -f only)."""
    value = os.environ.get("KUBECONFIG", "")
    return value.split(os.pathsep)[0] if value else ""
