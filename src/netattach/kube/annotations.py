"""Parse the pod's network selection annotations the way Multus v4 does.

Two annotations select networks:

* ``k8s.v1.cni.cncf.io/networks``: which extra networks the pod wants.
* ``v1.multus-cni.io/default-network``: replaces the cluster default network.

Both accept the same two syntaxes. A value containing ``[``, ``{`` or ``"`` is JSON (a
list of selection objects); any other value is the comma form
``name``, ``ns/name``, ``name@ifname``, ``ns/name@ifname``.

Contract: :func:`parse_networks` either returns a tuple of frozen
:class:`NetworkSelection` or raises :class:`AnnotationError` (a ``ValueError``) whose
message names the pod, the annotation, the 1-based element and the offending value,
and says what is allowed. No other exception escapes, whatever the input.

Deliberate differences from Multus (stricter, never more lenient):

* the interface-name rules (at most 15 bytes, no whitespace, ``/`` or ``:``, not ``.``
  or ``..``) apply to both syntaxes (Multus checks only the comma form);
* an empty element (``"a,,b"``), a JSON element that is not an object or that has no
  ``name``, and names that are not valid Kubernetes object names are errors (Multus
  passes them on and fails later at the NAD lookup);
* ``mac`` must be a 6-octet Ethernet address (Multus accepts any ``net.ParseMAC``
  form, including 20-octet InfiniBand addresses, which the plugins then reject);
* IPv6 zones (``fe80::1%eth0``) are rejected, as Go's ``net.ParseIP`` does.

Like Go's ``encoding/json``, JSON keys match case-insensitively (an exact match wins),
unknown keys are ignored and ``null`` means "not set".
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._frozen import freeze, thaw

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "NETWORKS_ANNOTATION",
    "AnnotationError",
    "Bandwidth",
    "NetworkSelection",
    "PortMapping",
    "parse_default_network",
    "parse_networks",
    "thaw",
    "validate_interface_name",
]

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_IFNAME_MAX = 15  # IFNAMSIZ - 1
_IFNAME_FORBIDDEN = set(" \t\n\v\f\r/:")
_MAC_SEP = re.compile(r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2})*$")
_MAC_DOT = re.compile(r"^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4})*$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class AnnotationError(ValueError):
    """An annotation value that cannot be used, with a message for the person who wrote it.

    Attributes: ``annotation`` (key), ``pod`` ("ns/name" or ""), ``index`` (1-based element
    or None for the whole value), ``reason`` (the part after the location).
    """

    def __init__(self, annotation: str, pod: str, index: int | None, reason: str) -> None:
        self.annotation = annotation
        self.pod = pod
        self.index = index
        self.reason = reason
        where = f"pod {pod}: " if pod else ""
        element = f" element {index}" if index is not None else ""
        super().__init__(f"{where}annotation {annotation}{element}: {reason}")


@dataclass(frozen=True)
class PortMapping:
    """One ``portMappings`` entry, passed to plugins as runtimeConfig.portMappings."""

    host_port: int
    container_port: int
    protocol: str = ""
    host_ip: str = ""

    def to_json(self) -> dict[str, Any]:
        """The CNI runtimeConfig form (Go field names, omitempty on protocol/hostIP)."""
        out: dict[str, Any] = {"hostPort": self.host_port, "containerPort": self.container_port}
        if self.protocol:
            out["protocol"] = self.protocol
        if self.host_ip:
            out["hostIP"] = self.host_ip
        return out


@dataclass(frozen=True)
class Bandwidth:
    """The ``bandwidth`` request, passed to plugins as runtimeConfig.bandwidth."""

    ingress_rate: int = 0
    ingress_burst: int = 0
    egress_rate: int = 0
    egress_burst: int = 0

    def to_json(self) -> dict[str, int]:
        """The CNI runtimeConfig form (all four keys, as Multus sends them)."""
        return {
            "ingressRate": self.ingress_rate,
            "ingressBurst": self.ingress_burst,
            "egressRate": self.egress_rate,
            "egressBurst": self.egress_burst,
        }


@dataclass(frozen=True)
class NetworkSelection:
    """One requested attachment: which NAD, and what the pod asks of it.

    ``interface`` is None when not requested (the caller names it ``net<idx>``).
    ``ips`` are the strings as written (bare IP or CIDR), validated.
    ``cni_args`` is a read-only mapping of JSON values, or None when absent.
    """

    name: str
    namespace: str
    interface: str | None = None
    ips: tuple[str, ...] = ()
    mac: str | None = None
    default_route: tuple[str, ...] | None = None  # None: not asked; (): keep the plugin's own
    cni_args: Mapping[str, Any] | None = field(default=None, hash=False)
    port_mappings: tuple[PortMapping, ...] = ()
    bandwidth: Bandwidth | None = None
    infiniband_guid: str | None = None
    device_id: str | None = None

    @property
    def key(self) -> str:
        """``namespace/name``: the delegate name Multus uses in status and events."""
        return f"{self.namespace}/{self.name}"


# ---------------------------------------------------------------------------------------
# public entry points


def parse_networks(
    value: str, pod_namespace: str, pod_name: str = ""
) -> tuple[NetworkSelection, ...]:
    """Parse a ``k8s.v1.cni.cncf.io/networks`` value; namespaces default to ``pod_namespace``.

    An empty or all-whitespace value (or JSON ``null``/``[]``) selects no networks.
    Raises :class:`AnnotationError` for anything invalid.
    """
    pod = f"{pod_namespace}/{pod_name}" if pod_name else ""
    return _Parser(NETWORKS_ANNOTATION, pod).parse(value, pod_namespace)


def parse_default_network(
    value: str, default_namespace: str, pod_namespace: str = "", pod_name: str = ""
) -> NetworkSelection | None:
    """Parse ``v1.multus-cni.io/default-network``: None when empty, else exactly one entry.

    ``default_namespace`` is Multus's ``multusNamespace`` (kube-system by default), used
    when the entry names no namespace. Raises :class:`AnnotationError` otherwise.
    """
    pod = f"{pod_namespace}/{pod_name}" if pod_name else ""
    if not value.strip():
        return None
    parser = _Parser(DEFAULT_NETWORK_ANNOTATION, pod)
    found = parser.parse(value, default_namespace)
    if len(found) != 1:
        raise AnnotationError(
            DEFAULT_NETWORK_ANNOTATION,
            pod,
            None,
            f"names {len(found)} networks in {_quote(value)}; it must name exactly one "
            "network (the NAD that replaces the cluster default network)",
        )
    return found[0]


def validate_interface_name(name: str) -> str | None:
    """Return why ``name`` cannot be a Linux interface name in a pod, or None if it can."""
    if not name:
        return "is empty"
    if len(name.encode()) > _IFNAME_MAX:
        return f"is {len(name.encode())} bytes long; interface names are at most {_IFNAME_MAX}"
    if name in (".", ".."):
        return "is not allowed ('.' and '..' are reserved)"
    bad = sorted({c for c in name if c in _IFNAME_FORBIDDEN or not c.isprintable()})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"contains {shown}; interface names cannot contain whitespace, '/' or ':'"
    return None


# ---------------------------------------------------------------------------------------
# implementation


def _quote(value: object) -> str:
    """Quote a value for a message, shortened so a huge annotation does not flood logs."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_json_form(value: str) -> bool:
    return any(c in value for c in '[{"')


# JSON keys of a selection element (Multus types.NetworkSelectionElement), in Go's order.
_KEYS = (
    "name",
    "namespace",
    "ips",
    "mac",
    "infiniband-guid",
    "interface",
    "interfaceRequest",
    "portMappings",
    "bandwidth",
    "cni-args",
    "default-route",
    "deviceID",
)
_KEYS_FOLDED = {k.casefold(): k for k in _KEYS}


class _Parser:
    """One parse of one annotation value; carries the context for error messages."""

    def __init__(self, annotation: str, pod: str) -> None:
        self.annotation = annotation
        self.pod = pod

    def error(self, index: int | None, reason: str) -> AnnotationError:
        return AnnotationError(self.annotation, self.pod, index, reason)

    def parse(self, value: str, default_namespace: str) -> tuple[NetworkSelection, ...]:
        if not isinstance(value, str):
            raise self.error(None, f"value must be a string, not {type(value).__name__}")
        if not value.strip():
            return ()
        if _is_json_form(value):
            return self._parse_json(value, default_namespace)
        return tuple(
            self._parse_short(i, item, default_namespace)
            for i, item in enumerate(value.split(","), start=1)
        )

    # -- comma form -------------------------------------------------------------------

    def _parse_short(self, index: int, item: str, default_namespace: str) -> NetworkSelection:
        text = item.strip()
        if not text:
            raise self.error(
                index, "is empty; write a comma-separated list like 'net-a,other-ns/net-b@eth1'"
            )
        parts = text.split("/")
        if len(parts) > 2:
            raise self.error(
                index, f"{_quote(text)} has more than one '/'; use 'namespace/name[@interface]'"
            )
        namespace = parts[0].strip() if len(parts) == 2 else ""
        at_parts = parts[-1].split("@")
        if len(at_parts) > 2:
            raise self.error(
                index, f"{_quote(text)} has more than one '@'; use 'namespace/name@interface'"
            )
        name = at_parts[0].strip()
        interface = at_parts[1].strip() if len(at_parts) == 2 else None
        if len(parts) == 2:
            self._check_label(index, namespace, "namespace", text)
        self._check_label(index, name, "network name", text)
        if interface is not None:
            self._check_ifname(index, interface)
        return NetworkSelection(
            name=name, namespace=namespace or default_namespace, interface=interface
        )

    def _check_label(self, index: int, value: str, what: str, item: str) -> None:
        if not _DNS1123_LABEL.match(value):
            raise self.error(
                index,
                f"{what} {_quote(value)} in {_quote(item)} is not valid: use lower-case letters, "
                "digits and '-', starting and ending with a letter or digit",
            )

    def _check_ifname(self, index: int, name: str) -> None:
        why = validate_interface_name(name)
        if why is not None:
            raise self.error(index, f"interface name {_quote(name)} {why}")

    # -- JSON form --------------------------------------------------------------------

    def _parse_json(self, value: str, default_namespace: str) -> tuple[NetworkSelection, ...]:
        try:
            doc = json.loads(value)
        except (ValueError, RecursionError) as exc:
            where = ""
            if isinstance(exc, json.JSONDecodeError):
                where = f" at line {exc.lineno} column {exc.colno}"
                reason = exc.msg
            else:
                reason = "nesting too deep"
            raise self.error(
                None,
                f"is not valid JSON ({reason}{where}); write a JSON list such as "
                '[{"name": "net-a", "interface": "eth1"}] or the short form "net-a,net-b"',
            ) from None
        if doc is None:
            return ()
        if not isinstance(doc, list):
            raise self.error(
                None,
                f"JSON must be a list of objects, not {_json_type(doc)}; wrap it in [ ]",
            )
        return tuple(
            self._parse_element(i, elem, default_namespace) for i, elem in enumerate(doc, start=1)
        )

    def _parse_element(self, index: int, elem: Any, default_namespace: str) -> NetworkSelection:
        if not isinstance(elem, dict):
            raise self.error(
                index, f'must be an object like {{"name": "net-a"}}, not {_json_type(elem)}'
            )
        fields = self._fold_keys(elem)
        get = fields.get

        name = self._opt_str(index, "name", get("name"))
        if not name:
            raise self.error(index, 'has no "name"; give the NetworkAttachmentDefinition name')
        if not _DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            raise self.error(
                index,
                f'{_quote(name)} in "name" is not a valid object name: use lower-case letters, '
                "digits, '-' and '.', starting and ending with a letter or digit",
            )
        namespace = self._opt_str(index, "namespace", get("namespace"))
        if namespace and (not _DNS1123_LABEL.match(namespace) or len(namespace) > 63):
            raise self.error(
                index,
                f'{_quote(namespace)} in "namespace" is not a valid namespace: use lower-case '
                "letters, digits and '-', starting and ending with a letter or digit",
            )

        interface = self._opt_str(index, "interface", get("interface"))
        legacy = self._opt_str(index, "interfaceRequest", get("interfaceRequest"))
        interface = interface or legacy
        if interface:
            self._check_ifname(index, interface)

        ips = self._str_list(index, "ips", get("ips"))
        for ip in ips:
            if not _valid_ip_or_cidr(ip):
                raise self.error(index, f'{_quote(ip)} in "ips" is not an IP address or CIDR')

        mac = self._opt_str(index, "mac", get("mac"))
        if mac and _parse_mac_len(mac) != 6:
            raise self.error(
                index,
                f'{_quote(mac)} in "mac" is not a MAC address; write six hex octets like '
                '"02:00:00:00:00:01"',
            )

        guid = self._opt_str(index, "infiniband-guid", get("infiniband-guid"))
        if guid and _parse_mac_len(guid) is None:
            raise self.error(
                index,
                f'{_quote(guid)} in "infiniband-guid" is not a GUID; write hex octets like '
                '"00:11:22:33:44:55:66:77"',
            )

        raw_route = get("default-route")
        gateways = self._str_list(index, "default-route", raw_route)
        for gw in gateways:
            if not _valid_ip(gw):
                raise self.error(
                    index,
                    f'{_quote(gw)} in "default-route" is not an IP address (write the gateway '
                    "address without a prefix length)",
                )

        cni_args = get("cni-args")
        if cni_args is not None and not isinstance(cni_args, dict):
            raise self.error(index, f'"cni-args" must be an object, not {_json_type(cni_args)}')

        return NetworkSelection(
            name=name,
            namespace=namespace or default_namespace,
            interface=interface or None,
            ips=ips,
            mac=mac or None,
            default_route=gateways if raw_route is not None else None,
            cni_args=freeze(cni_args) if cni_args is not None else None,
            port_mappings=self._port_mappings(index, get("portMappings")),
            bandwidth=self._bandwidth(index, get("bandwidth")),
            infiniband_guid=guid or None,
            device_id=self._opt_str(index, "deviceID", get("deviceID")) or None,
        )

    def _fold_keys(self, elem: dict[str, Any]) -> dict[str, Any]:
        """Map keys to canonical names like Go: exact match first, then case-insensitive."""
        out: dict[str, Any] = {}
        exact = {k for k in elem if k in _KEYS}
        for key, val in elem.items():
            if key in _KEYS:
                out[key] = val
            else:
                canon = _KEYS_FOLDED.get(key.casefold())
                if canon is not None and canon not in exact:
                    out[canon] = val
        return out

    def _opt_str(self, index: int, key: str, val: Any) -> str:
        if val is None:
            return ""
        if not isinstance(val, str):
            raise self.error(index, f'"{key}" must be a string, not {_json_type(val)}')
        return val

    def _str_list(self, index: int, key: str, val: Any) -> tuple[str, ...]:
        if val is None:
            return ()
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise self.error(index, f'"{key}" must be a list of strings, not {_json_type(val)}')
        return tuple(val)

    def _int(self, index: int, where: str, val: Any) -> int:
        if val is None:
            return 0
        if isinstance(val, bool) or not isinstance(val, int) or not _INT64_MIN <= val <= _INT64_MAX:
            raise self.error(index, f"{where} must be an integer, not {_quote(val)}")
        return val

    def _port_mappings(self, index: int, val: Any) -> tuple[PortMapping, ...]:
        if val is None:
            return ()
        if not isinstance(val, list):
            raise self.error(index, f'"portMappings" must be a list, not {_json_type(val)}')
        out = []
        for entry in val:
            if entry is None:
                continue  # Go leaves a nil pointer; Multus skips it when building runtimeConfig
            if not isinstance(entry, dict):
                raise self.error(
                    index, f'"portMappings" entries must be objects, not {_json_type(entry)}'
                )
            e = {k.casefold(): v for k, v in entry.items()}
            protocol = e.get("protocol")
            host_ip = e.get("hostip")
            for label, text in (("protocol", protocol), ("hostIP", host_ip)):
                if text is not None and not isinstance(text, str):
                    raise self.error(
                        index, f'"portMappings" {label} must be a string, not {_json_type(text)}'
                    )
            out.append(
                PortMapping(
                    host_port=self._int(index, '"portMappings" hostPort', e.get("hostport")),
                    container_port=self._int(
                        index, '"portMappings" containerPort', e.get("containerport")
                    ),
                    protocol=protocol or "",
                    host_ip=host_ip or "",
                )
            )
        return tuple(out)

    def _bandwidth(self, index: int, val: Any) -> Bandwidth | None:
        if val is None:
            return None
        if not isinstance(val, dict):
            raise self.error(index, f'"bandwidth" must be an object, not {_json_type(val)}')
        b = {k.casefold(): v for k, v in val.items()}
        return Bandwidth(
            ingress_rate=self._int(index, '"bandwidth" ingressRate', b.get("ingressrate")),
            ingress_burst=self._int(index, '"bandwidth" ingressBurst', b.get("ingressburst")),
            egress_rate=self._int(index, '"bandwidth" egressRate', b.get("egressrate")),
            egress_burst=self._int(index, '"bandwidth" egressBurst', b.get("egressburst")),
        )


def _json_type(val: Any) -> str:
    if val is None:
        return "null"
    if isinstance(val, bool):
        return "a boolean"
    if isinstance(val, int | float):
        return f"the number {val!r}"
    if isinstance(val, str):
        return f"the string {_quote(val)}"
    if isinstance(val, list):
        return "a list"
    return "an object"


def _valid_ip(text: str) -> bool:
    """Go ``net.ParseIP`` semantics: v4 dotted quad or v6 text, no zone, no surrounding space."""
    if not text or "%" in text or text.strip() != text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _valid_ip_or_cidr(text: str) -> bool:
    """Multus's rule: with a '/' it must parse as a CIDR (``net.ParseCIDR``), else as an IP."""
    if "/" not in text:
        return _valid_ip(text)
    addr, _, prefix = text.partition("/")
    if not _valid_ip(addr) or not prefix.isascii() or not prefix.isdigit():
        return False
    bits = 32 if ipaddress.ip_address(addr).version == 4 else 128
    return int(prefix) <= bits


def _parse_mac_len(text: str) -> int | None:
    """Octet count of a Go ``net.ParseMAC``-valid address (6, 8 or 20), else None."""
    if _MAC_SEP.match(text):
        n = (len(text) + 1) // 3
    elif _MAC_DOT.match(text):
        n = (len(text) + 1) // 5 * 2
    else:
        return None
    return n if n in (6, 8, 20) else None
