"""What the host's own network configuration declares: netplan, systemd-networkd, NetworkManager.

Read-only, from files under `root` (default "/"), so tests can point it at a temp dir.
Every declared device remembers the file, line and key that declared it, so a finding can
say "vlan.100 comes from /etc/netplan/99-my-config.yaml line 13 (network.vlans.vlan.100)".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NETPLAN_DIRS = ("lib/netplan", "etc/netplan", "run/netplan")  # later dirs win per file name
NETWORKD_DIRS = ("etc/systemd/network", "run/systemd/network", "usr/lib/systemd/network",
                 "lib/systemd/network")  # earlier dirs win per file name
NM_DIRS = ("etc/NetworkManager/system-connections", "run/NetworkManager/system-connections")

# netplan section -> the kind of device it declares
NETPLAN_KINDS = {"ethernets": "ethernet", "vlans": "vlan", "bridges": "bridge",
                 "bonds": "bond", "vrfs": "vrf", "tunnels": "tunnel", "dummy-devices": "dummy",
                 "virtual-ethernets": "veth", "wifis": "wifi"}
NM_KINDS = {"vlan": "vlan", "bridge": "bridge", "bond": "bond", "ethernet": "ethernet",
            "802-3-ethernet": "ethernet", "dummy": "dummy", "team": "team"}


@dataclass(frozen=True)
class DeclaredDevice:
    """A device some host network manager is configured to create or manage."""

    name: str
    kind: str                 # vlan, bridge, bond, ethernet, dummy...
    manager: str              # "netplan", "systemd-networkd", "NetworkManager"
    file: str                 # absolute path as on the node (/etc/netplan/99-x.yaml)
    line: int = 0             # 1-based, 0 when unknown
    key: str = ""             # network.vlans.vlan.100 / [NetDev] Name / [connection] id=...
    vlan_id: int | None = None
    parent: str | None = None
    addresses: tuple[str, ...] = ()

    def describe(self) -> str:
        """'netplan: /etc/netplan/99-my-config.yaml line 13 (network.vlans.vlan.100)'."""
        where = f"{self.file} line {self.line}" if self.line else self.file
        return f"{self.manager}: {where} ({self.key})" if self.key else f"{self.manager}: {where}"


@dataclass(frozen=True)
class HostConfig:
    """Every device declared under `root`, plus files that could not be read."""

    root: str = "/"
    devices: tuple[DeclaredDevice, ...] = ()
    problems: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=())  # every config file looked at

    def find(self, name: str) -> list[DeclaredDevice]:
        return [d for d in self.devices if d.name == name]

    def find_vlan(self, parent: str, vlan_id: int) -> list[DeclaredDevice]:
        return [d for d in self.devices
                if d.kind == "vlan" and d.parent == parent and d.vlan_id == vlan_id]

    def declared_addresses(self, name: str) -> tuple[str, ...]:
        return tuple(a for d in self.find(name) for a in d.addresses)


def read_host_config(root: str | os.PathLike[str] = "/") -> HostConfig:
    """Parse netplan, networkd and NetworkManager files under `root` (never writes)."""
    base = Path(root)
    devices: list[DeclaredDevice] = []
    problems: list[str] = []
    files: list[str] = []
    for reader in (_read_netplan, _read_networkd, _read_nm):
        devs, probs, seen = reader(base)
        devices += devs
        problems += probs
        files += seen
    return HostConfig(str(base), tuple(devices), tuple(problems), tuple(files))


def _shown(base: Path, path: Path) -> str:
    """The path as it is on the node: /etc/netplan/x.yaml even when root is a temp dir."""
    try:
        return "/" + str(path.relative_to(base)).lstrip("/")
    except ValueError:
        return str(path)


def _by_name(base: Path, dirs: tuple[str, ...], suffixes: tuple[str, ...], *,
             first_wins: bool) -> list[Path]:
    """Config files of `dirs` masked by file name, sorted by name (systemd/netplan rules)."""
    chosen: dict[str, Path] = {}
    for d in dirs:
        try:
            names = sorted(os.listdir(base / d))
        except OSError:
            continue
        for name in names:
            if not name.endswith(suffixes):
                continue
            if first_wins and name in chosen:
                continue
            chosen[name] = base / d / name
    return [chosen[n] for n in sorted(chosen)]


# -- netplan -----------------------------------------------------------------------------
def _read_netplan(base: Path) -> tuple[list[DeclaredDevice], list[str], list[str]]:
    import yaml

    found: dict[str, DeclaredDevice] = {}  # later files override earlier ones (netplan merge)
    problems: list[str] = []
    seen: list[str] = []
    for path in _by_name(base, NETPLAN_DIRS, (".yaml", ".yml"), first_wins=False):
        shown = _shown(base, path)
        seen.append(shown)
        try:
            node = yaml.compose(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            problems.append(f"{shown}: cannot parse: {e}")
            continue
        network = _yaml_get(node, "network")
        if network is None:
            continue
        for section, kind in NETPLAN_KINDS.items():
            devs = _yaml_get(network, section)
            if not isinstance(devs, yaml.MappingNode):
                continue
            for key_node, body in devs.value:
                name = str(key_node.value)
                set_name = _yaml_scalar(body, "set-name")
                vid = _yaml_scalar(body, "id")
                addrs = _yaml_get(body, "addresses")
                addresses: tuple[str, ...] = ()
                if isinstance(addrs, yaml.SequenceNode):
                    addresses = tuple(str(a.value) for a in addrs.value
                                      if isinstance(a, yaml.ScalarNode))
                dev = DeclaredDevice(
                    name=set_name or name, kind=kind, manager="netplan", file=shown,
                    line=key_node.start_mark.line + 1, key=f"network.{section}.{name}",
                    vlan_id=_int(vid) if kind == "vlan" else None,
                    parent=_yaml_scalar(body, "link") if kind == "vlan" else None,
                    addresses=addresses)
                found[dev.name] = dev
    return list(found.values()), problems, seen


def _yaml_get(node: object, key: str) -> object | None:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _yaml_scalar(node: object, key: str) -> str | None:
    import yaml

    v = _yaml_get(node, key)
    return str(v.value) if isinstance(v, yaml.ScalarNode) else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# -- INI-like files (systemd units, NM keyfiles) ----------------------------------------
@dataclass(frozen=True)
class _Entry:
    section: str
    key: str
    value: str
    line: int


def _ini(path: Path) -> list[_Entry]:
    """Sections and keys in order, duplicates kept (VLAN= may repeat), with line numbers."""
    out: list[_Entry] = []
    section = ""
    for no, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.append(_Entry(section, key.strip(), value.strip(), no))
    return out


def _first(entries: list[_Entry], section: str, key: str) -> _Entry | None:
    return next((e for e in entries if e.section == section and e.key == key), None)


def _all(entries: list[_Entry], section: str, key: str) -> Iterator[_Entry]:
    return (e for e in entries if e.section == section and e.key == key)


# -- systemd-networkd --------------------------------------------------------------------
def _read_networkd(base: Path) -> tuple[list[DeclaredDevice], list[str], list[str]]:
    problems: list[str] = []
    seen: list[str] = []
    parents: dict[str, str] = {}  # vlan netdev name -> parent (from a .network's VLAN=)
    addresses: dict[str, list[str]] = {}
    for path in _by_name(base, NETWORKD_DIRS, (".network",), first_wins=True):
        seen.append(_shown(base, path))
        try:
            entries = _ini(path)
        except OSError as e:
            problems.append(f"{_shown(base, path)}: cannot read: {e.strerror}")
            continue
        names = [n for e in _all(entries, "Match", "Name") for n in e.value.split()]
        addrs = [e.value for e in _all(entries, "Network", "Address")]
        addrs += [e.value for e in _all(entries, "Address", "Address")]
        for name in names:
            addresses.setdefault(name, []).extend(addrs)
            for e in _all(entries, "Network", "VLAN"):
                for vlan in e.value.split():
                    parents.setdefault(vlan, name)
    devices: list[DeclaredDevice] = []
    for path in _by_name(base, NETWORKD_DIRS, (".netdev",), first_wins=True):
        shown = _shown(base, path)
        seen.append(shown)
        try:
            entries = _ini(path)
        except OSError as e:
            problems.append(f"{shown}: cannot read: {e.strerror}")
            continue
        name = _first(entries, "NetDev", "Name")
        kind = _first(entries, "NetDev", "Kind")
        if name is None or kind is None:
            problems.append(f"{shown}: no [NetDev] Name= or Kind=")
            continue
        vid = _first(entries, "VLAN", "Id")
        devices.append(DeclaredDevice(
            name=name.value, kind=kind.value, manager="systemd-networkd", file=shown,
            line=name.line, key="[NetDev] Name", vlan_id=_int(vid.value) if vid else None,
            parent=parents.get(name.value) if kind.value == "vlan" else None,
            addresses=tuple(addresses.get(name.value, ()))))
    return devices, problems, seen


# -- NetworkManager keyfiles ----------------------------------------------------------------
def _read_nm(base: Path) -> tuple[list[DeclaredDevice], list[str], list[str]]:
    problems: list[str] = []
    seen: list[str] = []
    parsed: list[tuple[str, list[_Entry]]] = []
    for path in _by_name(base, NM_DIRS, (".nmconnection",), first_wins=True):
        shown = _shown(base, path)
        seen.append(shown)
        try:
            parsed.append((shown, _ini(path)))
        except OSError as e:
            problems.append(f"{shown}: cannot read: {e.strerror}")
    by_uuid = {}
    for _shown_path, entries in parsed:
        uuid = _first(entries, "connection", "uuid")
        ifname = _first(entries, "connection", "interface-name")
        if uuid and ifname:
            by_uuid[uuid.value] = ifname.value
    devices: list[DeclaredDevice] = []
    for shown, entries in parsed:
        ctype = _first(entries, "connection", "type")
        kind = NM_KINDS.get(ctype.value, ctype.value) if ctype else ""
        ifname = _first(entries, "connection", "interface-name")
        conn_id = _first(entries, "connection", "id")
        parent = _first(entries, "vlan", "parent")
        vid = _first(entries, "vlan", "id")
        parent_name = by_uuid.get(parent.value, parent.value) if parent else None
        name = ifname.value if ifname else None
        if name is None and kind == "vlan" and parent_name and vid:
            name = f"{parent_name}.{vid.value}"  # NM's default name for an unnamed VLAN
        if not name:
            continue
        anchor = ifname or conn_id or ctype
        addrs = tuple(e.value.split(",")[0] for e in entries
                      if e.section in ("ipv4", "ipv6") and e.key.startswith("address"))
        devices.append(DeclaredDevice(
            name=name, kind=kind, manager="NetworkManager", file=shown,
            line=anchor.line if anchor else 0,
            key=f"[connection] id={conn_id.value}" if conn_id else "[connection]",
            vlan_id=_int(vid.value) if vid and kind == "vlan" else None,
            parent=parent_name if kind == "vlan" else None, addresses=addrs))
    return devices, problems, seen
