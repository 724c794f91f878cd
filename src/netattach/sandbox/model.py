"""What a sandbox is made of, read from standard Kubernetes YAML plus a topology document."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOPOLOGY_KIND = "SandboxTopology"
NAME_OK = "abcdefghijklmnopqrstuvwxyz0123456789-"


class SandboxError(Exception):
    """A problem with the sandbox's input or its node: says what, where, and the fix."""


@dataclass(frozen=True)
class Nic:
    """A node NIC cabled to a switch port: `trunk` VLAN ids tagged, or one `access` VLAN."""

    name: str
    trunk: tuple[int, ...] = ()
    access: int | None = None


@dataclass(frozen=True)
class HostDevice:
    """A device the node already has (e.g. a VLAN netplan left behind)."""

    name: str
    kind: str
    link: str
    vlan_id: int
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peer:
    """A host on the switch with one address, on an access port of `vlan` (None: untagged)."""

    name: str
    vlan: int | None
    address: str


@dataclass(frozen=True)
class Topology:
    name: str
    node_name: str
    nics: tuple[Nic, ...]
    peers: tuple[Peer, ...]
    devices: tuple[HostDevice, ...]
    default_subnet: str
    host_config_root: str  # directory with etc/netplan... for doctor, "" if none

    @property
    def vlans(self) -> set[int]:
        ids = {p.vlan for p in self.peers if p.vlan} | {d.vlan_id for d in self.devices}
        for nic in self.nics:
            ids |= set(nic.trunk) | ({nic.access} if nic.access else set())
        return ids


@dataclass(frozen=True)
class Nad:
    namespace: str
    name: str
    config: str

    def conf(self) -> Mapping[str, Any]:
        try:
            data = json.loads(self.config) if self.config.strip() else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def plugins(self) -> list[Mapping[str, Any]]:
        conf = self.conf()
        plugins = conf.get("plugins")
        return [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) \
            else [conf]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    manifest: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    topology: Topology
    nads: tuple[Nad, ...]
    pods: tuple[Pod, ...]
    source: tuple[Path, ...]

    def nad(self, namespace: str, name: str) -> Nad | None:
        return next((n for n in self.nads if (n.namespace, n.name) == (namespace, name)), None)


def _files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise SandboxError(f"{p}: no such file or directory; pass YAML files or a "
                               "directory holding them with -f")
    if not out:
        raise SandboxError(f"no YAML files in {', '.join(paths)}; expected NADs, Pods and a "
                           f"{TOPOLOGY_KIND}")
    return out


def _meta(doc: Mapping[str, Any], where: str) -> tuple[str, str]:
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise SandboxError(f"{where}: {doc.get('kind')} has no metadata.name")
    return str(meta.get("namespace") or "default"), meta["name"]


def _vid(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4094:
        raise SandboxError(f"{where}: VLAN id {value!r} is not between 1 and 4094")
    return value


def _topology(doc: Mapping[str, Any], where: str) -> Topology:
    _, name = _meta(doc, where)
    spec = doc.get("spec") or {}
    node = spec.get("node") or {}
    nics = []
    for i, raw in enumerate(node.get("nics") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise SandboxError(f"{where}: spec.node.nics[{i}] needs a name")
        trunk = tuple(_vid(v, f"{where}: nic {raw['name']}") for v in raw.get("trunk") or [])
        access = _vid(raw["access"], f"{where}: nic {raw['name']}") if raw.get("access") else None
        nics.append(Nic(raw["name"], trunk, access))
    if not nics:
        raise SandboxError(f"{where}: spec.node.nics is empty; describe the node's NICs")
    devices = []
    for i, raw in enumerate(node.get("devices") or []):
        if not isinstance(raw, dict) or raw.get("kind", "vlan") != "vlan":
            raise SandboxError(f"{where}: spec.node.devices[{i}]: only kind vlan is supported")
        devices.append(HostDevice(str(raw["name"]), "vlan", str(raw["link"]),
                                  _vid(raw.get("id"), f"{where}: device {raw.get('name')}"),
                                  tuple(raw.get("addresses") or ())))
    peers = []
    for i, raw in enumerate(spec.get("peers") or []):
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("address"):
            raise SandboxError(f"{where}: spec.peers[{i}] needs a name and an address")
        try:
            ipaddress.ip_interface(raw["address"])
        except ValueError:
            raise SandboxError(f"{where}: peer {raw['name']}: {raw['address']!r} is not an "
                               "address in CIDR notation") from None
        vlan = _vid(raw["vlan"], f"{where}: peer {raw['name']}") if raw.get("vlan") else None
        peers.append(Peer(str(raw["name"]), vlan, str(raw["address"])))
    for n in [*(x.name for x in nics), *(p.name for p in peers)]:
        if len(n) > 15 or any(c.isspace() or c in "/:" for c in n):
            raise SandboxError(f"{where}: {n!r} is not a valid interface name")
    root = str(node.get("hostConfigRoot") or "")
    if root:
        root = str((Path(where).parent / root).resolve())
    return Topology(name, str(node.get("name") or "node"), tuple(nics), tuple(peers),
                    tuple(devices), str(node.get("defaultNetwork", {}).get("subnet")
                                        or "203.0.113.0/24"), root)


def load_scenario(paths: Iterable[str]) -> Scenario:
    """Parse every document of every file; fail with file and document on anything odd."""
    import yaml

    files = _files(list(paths))
    topology = None
    nads: list[Nad] = []
    pods: list[Pod] = []
    for path in files:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as e:
            raise SandboxError(f"{path}: not valid YAML: {e}") from None
        for i, doc in enumerate(docs):
            where = f"{path} (document {i + 1})"
            if not isinstance(doc, dict):
                raise SandboxError(f"{where}: expected a Kubernetes object")
            kind = doc.get("kind")
            if kind == TOPOLOGY_KIND:
                if topology is not None:
                    raise SandboxError(f"{where}: a second {TOPOLOGY_KIND}; give exactly one")
                topology = _topology(doc, str(path))
            elif kind == "NetworkAttachmentDefinition":
                ns, name = _meta(doc, where)
                config = (doc.get("spec") or {}).get("config") or ""
                nads.append(Nad(ns, name, config if isinstance(config, str) else
                                json.dumps(config)))
            elif kind == "Pod":
                ns, name = _meta(doc, where)
                ann = (doc.get("metadata") or {}).get("annotations") or {}
                pods.append(Pod(ns, name, {str(k): str(v) for k, v in ann.items()}, doc))
            else:
                raise SandboxError(f"{where}: kind {kind!r} is not used by the sandbox; "
                                   f"expected NetworkAttachmentDefinition, Pod or {TOPOLOGY_KIND}")
    if topology is None:
        raise SandboxError(f"no {TOPOLOGY_KIND} document in {', '.join(map(str, files))}; "
                           "describe the node's NICs, the switch and the peers")
    return Scenario(topology, tuple(nads), tuple(pods), tuple(files))
