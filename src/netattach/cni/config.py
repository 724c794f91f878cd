"""Network configuration: a plugin's stdin (`NetConf`) and a runtime's conflist (`NetConfList`)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import schema
from . import version as versions
from .errors import CNIError, Code
from .types import DNS, Result

CONF_SUFFIXES = (".conf", ".conflist", ".json")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
MAX_IFNAME = 15
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


def validate_network_name(name: str) -> None:
    """Code 7 for an empty or malformed network name (libcni's ValidateNetworkName)."""
    if not name:
        raise CNIError(Code.INVALID_NETWORK_CONFIG, "missing network name",
                       'every network config needs a "name" such as "vlan100-conf"')
    if not NAME_RE.match(name):
        raise CNIError(Code.INVALID_NETWORK_CONFIG, "invalid characters found in network name",
                       f"network name {name!r} must start with a letter or digit and contain "
                       "only letters, digits, '_', '.' and '-'")


def validate_container_id(container_id: str) -> None:
    """Code 3 when missing, 4 when malformed (libcni's ValidateContainerID)."""
    if not container_id:
        raise CNIError(Code.UNKNOWN_CONTAINER, "missing containerID",
                       "set CNI_CONTAINERID to the sandbox's id")
    if not NAME_RE.match(container_id):
        raise CNIError(Code.INVALID_ENVIRONMENT, "invalid characters in containerID", container_id)


def validate_ifname(ifname: str) -> None:
    """Code 4 for an interface name the kernel would refuse (libcni's ValidateInterfaceName)."""
    if not ifname:
        raise CNIError(Code.INVALID_ENVIRONMENT, "interface name is empty",
                       "set CNI_IFNAME, for example to eth0 or net1")
    if len(ifname.encode()) > MAX_IFNAME:
        raise CNIError(Code.INVALID_ENVIRONMENT, "interface name is too long",
                       f"interface name should be less than {MAX_IFNAME + 1} characters "
                       f"({ifname!r} has {len(ifname.encode())})")
    if ifname in (".", ".."):
        raise CNIError(Code.INVALID_ENVIRONMENT, "interface name is . or ..",
                       "pick a name such as net1")
    if any(c in "/:" or c.isspace() for c in ifname):
        raise CNIError(Code.INVALID_ENVIRONMENT,
                       "interface name contains / or : or whitespace characters",
                       f"{ifname!r} is not a valid interface name")
    if any(ord(c) < 0x20 or c == "\x7f" for c in ifname):
        raise CNIError(Code.INVALID_ENVIRONMENT, "interface name contains control characters",
                       f"{ifname!r} is not a valid interface name")


def conf_files(directory: str | os.PathLike[str]) -> list[Path]:
    """CNI config files directly in `directory`, in the order libcni reads them."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [Path(directory) / e for e in entries
            if e.endswith(CONF_SUFFIXES) and (Path(directory) / e).is_file()]


def loads_object(data: bytes | str, what: str = "network config") -> dict[str, Any]:
    """Decode a JSON object or raise code 6 with the position of the problem."""
    try:
        obj = json.loads(data)
        if _may_hold_surrogates(data):
            obj = _without_lone_surrogates(obj)
    except (ValueError, UnicodeDecodeError) as e:
        raise CNIError(Code.DECODING_FAILURE, f"error unmarshall {what}: {e}",
                       f"the {what} must be a JSON object") from None
    except RecursionError:
        raise CNIError(Code.DECODING_FAILURE, f"error unmarshall {what}: nested too deeply",
                       f"the {what} must be a JSON object of reasonable depth") from None
    if not isinstance(obj, dict):
        raise CNIError(Code.DECODING_FAILURE,
                       f"error unmarshall {what}: expected a JSON object, got "
                       f"{type(obj).__name__}", f"the {what} must be a JSON object")
    return obj


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads has already joined the pairs


def _may_hold_surrogates(data: bytes | str) -> bool:
    """A JSON text can only decode to a lone surrogate through a \\uD800-\\uDFFF escape."""
    if isinstance(data, bytes):
        return b"\\ud" in data or b"\\uD" in data
    return "\\ud" in data or "\\uD" in data or _LONE_SURROGATE.search(data) is not None


def _without_lone_surrogates(value: Any) -> Any:
    """Lone surrogates (a JSON escape such as "\\ud800" with no pair) as U+FFFD, as Go's
    decoder has them: they name no file and encode to no UTF-8."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v)
                for k, v in value.items()}
    return value


def _caps_are_bools(caps: Any) -> tuple[str, str] | None:
    if all(isinstance(v, bool) for v in caps.values()):
        return None
    return "capabilities must map names to true or false", f"got {json.dumps(caps)}"


def _ipam_type_is_str(ipam: Any) -> tuple[str, str] | None:
    if isinstance(ipam.get("type", ""), str):
        return None
    return "ipam.type must be a string", f"got {json.dumps(ipam.get('type'))}"


def _frozen_object(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


_NETCONF_ERRORS = schema.Described("network config", Code.DECODING_FAILURE)
_CONFLIST_ERRORS = schema.Described("configuration list", Code.INVALID_NETWORK_CONFIG)
_CNI_VERSION = schema.Key("cniVersion", str, "")
_CNI_VERSIONS = schema.Key("cniVersions", list, (), check=schema.str_list("cniVersions"),
                          convert=tuple)
_VALID_ATTACHMENTS = schema.Key("cni.dev/valid-attachments", list, None)


def _bool_or_string(raw: Mapping[str, Any], key: str, where: str) -> bool:
    """libcni accepts true/false or the strings "true"/"false" (any case)."""
    value = raw.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise CNIError(Code.INVALID_NETWORK_CONFIG, f"{where}: invalid value for {key!r}",
                   f'{key} takes true or false, got {json.dumps(value)}')


@dataclass(frozen=True)
class GCAttachment:
    container_id: str
    ifname: str


@dataclass(frozen=True)
class NetConf:
    """The fields every plugin shares; `raw` keeps the whole object for the plugin's own model."""

    cni_version: str = schema.setting("cniVersion", str, "0.1.0", empty_is_default=True)
    name: str = schema.setting("name", str, "")
    type: str = schema.setting("type", str, "")
    capabilities: Mapping[str, bool] = schema.setting(
        "capabilities", dict, _EMPTY, check=_caps_are_bools, convert=_frozen_object)
    ipam: Mapping[str, Any] | None = schema.setting(
        "ipam", dict, None, check=_ipam_type_is_str, convert=_frozen_object)
    dns: DNS = field(default_factory=DNS)
    runtime_config: Mapping[str, Any] = schema.setting("runtimeConfig", dict, _EMPTY,
                                                       convert=_frozen_object)
    args: Mapping[str, Any] = schema.setting("args", dict, _EMPTY, convert=_frozen_object)
    prev_result: Result | None = None
    valid_attachments: tuple[GCAttachment, ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def ipam_type(self) -> str:
        return str(self.ipam.get("type", "")) if self.ipam else ""

    @property
    def cni_args(self) -> Mapping[str, Any]:
        """The `args.cni` object of the conventions (ips, mac, labels...)."""
        cni = self.args.get("cni") if isinstance(self.args, Mapping) else None
        return cni if isinstance(cni, Mapping) else _EMPTY

    @classmethod
    def from_bytes(cls, data: bytes | str) -> NetConf:
        return cls.from_json(loads_object(data))

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> NetConf:
        version = schema.read(raw, schema.key_of(cls, "cni_version"), _NETCONF_ERRORS)
        prev = raw.get("prevResult")
        prev_result = None
        if prev is not None:
            if not isinstance(prev, dict):
                raise CNIError(Code.DECODING_FAILURE, "could not parse prevResult",
                               "prevResult must be a JSON object")
            prev_result = Result.from_json(prev, version)
        attachments = schema.read(raw, _VALID_ATTACHMENTS, _NETCONF_ERRORS)
        return schema.load(
            cls, raw, _NETCONF_ERRORS, cni_version=version, dns=DNS.from_json(raw.get("dns")),
            prev_result=prev_result,
            valid_attachments=None if attachments is None else tuple(
                _attachment(a) for a in attachments),
            raw=MappingProxyType(dict(raw)))


def _attachment(item: Any) -> GCAttachment:
    if (not isinstance(item, dict) or not isinstance(item.get("containerID"), str)
            or not isinstance(item.get("ifname"), str)):
        raise CNIError(Code.DECODING_FAILURE, "invalid entry in cni.dev/valid-attachments",
                       'each entry is {"containerID": "...", "ifname": "..."}, got '
                       f"{json.dumps(item)}")
    return GCAttachment(item["containerID"], item["ifname"])


@dataclass(frozen=True)
class NetConfList:
    """A network configuration list as a runtime loads it (libcni's NetworkConfFromBytes)."""

    name: str
    cni_version: str
    plugins: tuple[Mapping[str, Any], ...]
    cni_versions: tuple[str, ...] = ()
    disable_check: bool = False
    disable_gc: bool = False
    load_only_inlined_plugins: bool = False
    raw: Mapping[str, Any] = field(default_factory=_empty)
    source: bytes = b""

    @classmethod
    def from_bytes(cls, data: bytes | str) -> NetConfList:
        source = data.encode() if isinstance(data, str) else bytes(data)
        return cls.from_object(loads_object(source, "configuration list"), source)

    @classmethod
    def from_object(cls, raw: Mapping[str, Any], source: bytes | None = None) -> NetConfList:
        """Parse a decoded conflist object; `source` is its bytes (default: re-encoded)."""
        if source is None:
            source = json.dumps(raw).encode()
        where = "configuration list"
        if "name" not in raw:
            raise CNIError(Code.INVALID_NETWORK_CONFIG, f"error parsing {where}: no name",
                           'add "name" to the configuration list')
        name = raw["name"]
        if not isinstance(name, str):
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"error parsing {where}: invalid name type",
                           f"name must be a string, got {json.dumps(name)}")
        validate_network_name(name)
        version = schema.read(raw, _CNI_VERSION, _CONFLIST_ERRORS)
        version_list = schema.read(raw, _CNI_VERSIONS, _CONFLIST_ERRORS)
        for v in [version, *version_list]:
            if v:
                versions.parse(v)
        plugins = raw.get("plugins")
        load_only_inlined = _bool_or_string(raw, "loadOnlyInlinedPlugins", where)
        if plugins is None:
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"error parsing {where} {name!r}: no 'plugins' key",
                           'a conflist needs "plugins": [ {"type": ...}, ... ]')
        if not isinstance(plugins, list):
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"error parsing {where} {name!r}: invalid 'plugins' type",
                           f"plugins must be a list, got {json.dumps(plugins)[:80]}")
        if not plugins:
            raise CNIError(Code.INVALID_NETWORK_CONFIG, f"{where} {name!r}: no plugins in list",
                           'add at least one plugin: "plugins": [{"type": "bridge", ...}]')
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, dict):
                raise CNIError(Code.INVALID_NETWORK_CONFIG,
                               f"failed to parse plugin config {i} of {name!r}",
                               "each plugin entry must be a JSON object")
            ptype = plugin.get("type")
            if not ptype or not isinstance(ptype, str):
                raise CNIError(Code.INVALID_NETWORK_CONFIG,
                               f"failed to parse plugin config {i} of {name!r}: "
                               "error parsing configuration: missing 'type'",
                               'every plugin entry names its plugin, e.g. "type": "vlan"')
        return cls(
            name=name,
            cni_version=versions.negotiate(version or None, version_list or None),
            plugins=tuple(MappingProxyType(dict(p)) for p in plugins),
            cni_versions=tuple(version_list),
            disable_check=_bool_or_string(raw, "disableCheck", where),
            disable_gc=_bool_or_string(raw, "disableGC", where),
            load_only_inlined_plugins=load_only_inlined,
            raw=MappingProxyType(dict(raw)),
            source=source,
        )

    @classmethod
    def from_conf_bytes(cls, data: bytes | str) -> NetConfList:
        """Wrap a single-plugin .conf into a list, as libcni's ConfListFromConf does."""
        raw = loads_object(data)
        name = raw.get("name", "")
        if not isinstance(name, str):
            raise CNIError(Code.INVALID_NETWORK_CONFIG, "invalid network name type",
                           f"name must be a string, got {json.dumps(name)}")
        validate_network_name(name)
        if not raw.get("type"):
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"error parsing configuration {name!r}: missing 'type'",
                           'a network config names its plugin, e.g. "type": "vlan"')
        wrapped = {"cniVersion": raw.get("cniVersion", ""), "name": name, "plugins": [raw]}
        return cls.from_object(wrapped)

    @classmethod
    def from_any_bytes(cls, data: bytes | str) -> NetConfList:
        """A conflist if the object has "plugins", else a single conf wrapped in a list."""
        raw = loads_object(data)
        return cls.from_bytes(data) if "plugins" in raw else cls.from_conf_bytes(data)

    def to_object(self) -> dict[str, Any]:
        """The conflist as a plain JSON object (a copy)."""
        return json.loads(self.source)
