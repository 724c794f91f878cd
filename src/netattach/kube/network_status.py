"""Format and parse ``k8s.v1.cni.cncf.io/network-status`` byte-for-byte as Multus writes it.

Multus (network-attachment-definition-client ``pkg/utils/net-attach-def.go``
``SetNetworkStatus``) marshals each entry with ``json.MarshalIndent(status, "", "    ")``
and joins them as ``"[" + ",".join(entries) + "]"``. Field order and ``omitempty``
follow the Go struct ``NetworkStatus``: name, interface, ips, mac, mtu, default, dns,
device-info, gateway. ``dns`` is a struct value, so Go always writes it (``{}`` when
empty); every other field is omitted when empty. Go also escapes ``<``, ``>``, ``&``,
U+2028 and U+2029 inside strings; :func:`format_network_status` does the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._frozen import freeze, thaw
from .annotations import AnnotationError

NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"


def address_spellings(addresses: Iterable[str]) -> tuple[str, ...]:
    """How JSON text can name each IPv4 address: as a string, or one up to a "/" (an
    address with its prefix). A text without any of them cannot name the address."""
    return tuple(n for a in addresses for n in (f'"{a}"', f'"{a}/'))


def mentions_any(text: str, spellings: Iterable[str]) -> bool:
    return any(s in text for s in spellings)

# Go struct field order of DeviceInfo and its nested structs (unknown keys are dropped
# on marshal, as Go does when it round-trips through the struct).
_DEVICE_INFO_KEYS: dict[str, tuple[str, ...] | None] = {
    "type": None,
    "version": None,
    "pci": ("pci-address", "vhost-net", "rdma-device", "pf-pci-address", "representor-device"),
    "vdpa": (
        "parent-device",
        "driver",
        "path",
        "pci-address",
        "pf-pci-address",
        "representor-device",
    ),
    "vhost-user": ("mode", "path"),
    "memif": ("role", "path", "mode"),
}


@dataclass(frozen=True)
class DNS:
    """DNS settings from the CNI result, as in the nad-client ``DNS`` struct."""

    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@dataclass(frozen=True)
class NetworkStatus:
    """One entry of the network-status annotation (one pod interface of one network).

    ``name`` is ``ns/nad`` for secondary networks, the CNI config name for the cluster
    network. ``ips`` are bare addresses (no prefix). ``device_info`` is the device-info
    JSON object (read-only mapping) or None.
    """

    name: str
    interface: str = ""
    ips: tuple[str, ...] = ()
    mac: str = ""
    mtu: int = 0
    default: bool = False
    dns: DNS = field(default_factory=DNS)
    gateway: tuple[str, ...] = ()
    device_info: Mapping[str, Any] | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, Any]:
        """The Go-ordered, omitempty'd JSON object for this entry."""
        out: dict[str, Any] = {"name": self.name}
        if self.interface:
            out["interface"] = self.interface
        if self.ips:
            out["ips"] = list(self.ips)
        if self.mac:
            out["mac"] = self.mac
        if self.mtu:
            out["mtu"] = self.mtu
        if self.default:
            out["default"] = True
        out["dns"] = self.dns.to_json()
        if self.device_info is not None:
            out["device-info"] = _device_info_json(self.device_info)
        if self.gateway:
            out["gateway"] = list(self.gateway)
        return out


def format_network_status(statuses: Iterable[NetworkStatus]) -> str:
    """The annotation value Multus would write for ``statuses`` (``[]`` when empty)."""
    parts = [_go_escape(json.dumps(s.to_json(), indent=4, ensure_ascii=False)) for s in statuses]
    return "[" + ",".join(parts) + "]"


def parse_network_status(value: str, pod: str = "") -> tuple[NetworkStatus, ...]:
    """Parse a network-status annotation value; raises :class:`AnnotationError` if malformed.

    Unknown keys are ignored (Go semantics); ``pod`` ("ns/name") only names the pod in
    error messages.
    """

    def error(index: int | None, reason: str) -> AnnotationError:
        return AnnotationError(NETWORK_STATUS_ANNOTATION, pod, index, reason)

    try:
        doc = json.loads(value)
    except (ValueError, RecursionError, TypeError):
        raise error(
            None, "is not valid JSON; it is written by netattach/Multus, do not edit it"
        ) from None
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise error(None, "must be a JSON list of objects")
    out = []
    for i, item in enumerate(doc, start=1):
        if not isinstance(item, dict):
            raise error(i, "must be an object")
        try:
            out.append(_status_from_json(item))
        except (TypeError, ValueError) as exc:
            raise error(i, str(exc)) from None
    return tuple(out)


def _status_from_json(d: Mapping[str, Any]) -> NetworkStatus:
    def s(key: str) -> str:
        v = d.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise TypeError(f'"{key}" must be a string')
        return v

    def sl(src: Mapping[str, Any], key: str) -> tuple[str, ...]:
        v = src.get(key)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise TypeError(f'"{key}" must be a list of strings')
        return tuple(v)

    mtu = d.get("mtu") or 0
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        raise TypeError('"mtu" must be an integer')
    default = d.get("default") or False
    if not isinstance(default, bool):
        raise TypeError('"default" must be a boolean')
    dns_raw = d.get("dns") or {}
    if not isinstance(dns_raw, dict):
        raise TypeError('"dns" must be an object')
    dns_domain = dns_raw.get("domain") or ""
    if not isinstance(dns_domain, str):
        raise TypeError('"dns.domain" must be a string')
    dev = d.get("device-info")
    if dev is not None and not isinstance(dev, dict):
        raise TypeError('"device-info" must be an object')
    return NetworkStatus(
        name=s("name"),
        interface=s("interface"),
        ips=sl(d, "ips"),
        mac=s("mac"),
        mtu=mtu,
        default=default,
        dns=DNS(
            nameservers=sl(dns_raw, "nameservers"),
            domain=dns_domain,
            search=sl(dns_raw, "search"),
            options=sl(dns_raw, "options"),
        ),
        gateway=sl(d, "gateway"),
        device_info=freeze(dev) if dev is not None else None,
    )


def _device_info_json(info: Mapping[str, Any]) -> dict[str, Any]:
    """Re-order and omitempty a device-info object as Go's ``DeviceInfo`` marshals it."""
    raw = thaw(info)
    out: dict[str, Any] = {}
    for key, sub_keys in _DEVICE_INFO_KEYS.items():
        val = raw.get(key)
        if sub_keys is None:
            if val:
                out[key] = val
        elif isinstance(val, dict):
            out[key] = {k: val[k] for k in sub_keys if val.get(k)}
    return out


def _go_escape(text: str) -> str:
    """Apply Go encoding/json's HTML-safe escaping (only ever inside JSON strings)."""
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
