"""Finding a network's CNI config: NADs, files in confDir, the cluster network's path.

A NAD or network name is only ever compared with the "name" inside files of confDir; it
is never joined into a path, so no name can make netattach read outside confDir.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netattach.cni.config import NetConfList, loads_object
from netattach.cni.errors import CNIError, Code

CONF_SUFFIXES = (".conf", ".conflist", ".json")


def as_conflist_bytes(raw: Mapping[str, Any], default_name: str = "") -> bytes:
    """A conf or conflist object as conflist bytes, with `default_name` when it has no name."""
    obj = dict(raw)
    if not obj.get("name") and default_name:
        obj["name"] = default_name
    if "plugins" not in obj:
        obj = {"cniVersion": obj.get("cniVersion", ""), "name": obj.get("name", ""),
               "plugins": [obj]}
    data = json.dumps(obj).encode()
    NetConfList.from_bytes(data)  # validate now: a bad config fails before any plugin runs
    return data


def conf_files(directory: str) -> list[Path]:
    """CNI config files directly in `directory`, in the order libcni reads them."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [Path(directory) / e for e in entries
            if e.endswith(CONF_SUFFIXES) and (Path(directory) / e).is_file()]


def find_primary(conf_dir: Path) -> Path | None:
    """The runtime's primary config: the alphabetically first one that is not netattach's."""
    return next((p for p in conf_files(str(conf_dir))
                 if not p.name.startswith((".", "00-netattach"))), None)


def primary_conflist(primary: Path, shown: str, plugin: Mapping[str, Any], name: str) -> bytes:
    """The one-plugin conflist that puts `plugin` (the meta plugin or the shim) in front of
    the runtime's primary config: its cniVersion and its plugins' capabilities.

    ValueError, naming `shown` and the fix, when the primary cannot be used.
    """
    from netattach.cni.version import ALL

    try:
        raw = json.loads(primary.read_bytes())
    except (OSError, ValueError) as e:
        raise ValueError(f"primary CNI config {shown}: cannot parse: {e}; fix it (the "
                         "cluster network's installer writes it)") from None
    if not isinstance(raw, dict):
        raise ValueError(f"primary CNI config {shown}: not a JSON object")
    version = raw.get("cniVersion")
    if version not in ALL:
        raise ValueError(f"primary CNI config {shown}: cniVersion {version!r} is not one "
                         f"netattach speaks ({', '.join(ALL)}); netattach answers the runtime "
                         "in the primary's version")
    plugins = raw.get("plugins") if "plugins" in raw else [raw]
    capabilities: dict[str, Any] = {}
    for entry in plugins if isinstance(plugins, list) else []:
        caps = entry.get("capabilities") if isinstance(entry, dict) else None
        if isinstance(caps, dict):
            capabilities.update({k: v for k, v in caps.items() if v})
    head = {"type": plugin["type"], **({"capabilities": capabilities} if capabilities else {})}
    conflist = {"cniVersion": version, "name": name, "plugins": [{**head, **plugin}]}
    return (json.dumps(conflist, indent=2) + "\n").encode()


def find_conf_by_name(directory: str, name: str) -> bytes | None:
    """The config in `directory` whose "name" is `name`, as conflist bytes; None if absent."""
    for path in conf_files(directory):
        try:
            raw = loads_object(path.read_bytes(), f"CNI config {path}")
        except (OSError, CNIError):
            continue
        if raw.get("name") == name:
            return as_conflist_bytes(raw)
    return None


def conf_from_path(path: str) -> bytes:
    """A conf file, or the alphabetically first config of a directory, as conflist bytes."""
    target = Path(path)
    if target.is_dir():
        files = [f for f in conf_files(path) if not f.name.startswith("00-netattach")]
        if not files:
            raise CNIError(Code.INVALID_NETWORK_CONFIG, f"no CNI config found in {path}",
                           "install the cluster's default network (its config goes there) or "
                           "point clusterNetwork at its config file")
        target = files[0]
    try:
        raw = loads_object(target.read_bytes(), f"CNI config {target}")
    except OSError as e:
        raise CNIError(Code.INVALID_NETWORK_CONFIG, f"cannot read CNI config {target}: "
                       f"{e.strerror}", "check clusterNetwork / defaultNetworks") from None
    return as_conflist_bytes(raw, target.stem)


def nad_conflist(nad_namespace: str, nad_name: str, spec_config: str, conf_dir: str) -> bytes:
    """The conflist a NetworkAttachmentDefinition stands for (its name injected if missing)."""
    ref = f"NetworkAttachmentDefinition {nad_namespace}/{nad_name}"
    if not spec_config.strip():
        found = find_conf_by_name(conf_dir, nad_name)
        if found is None:
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"{ref} has no spec.config and no file in {conf_dir} has "
                           f'"name": "{nad_name}"',
                           "put the CNI config in the NAD's spec.config, or a file with that "
                           f"name in {conf_dir} on this node")
        return found
    try:
        raw = json.loads(spec_config)
    except ValueError as e:
        raise CNIError(Code.INVALID_NETWORK_CONFIG, f"{ref}: spec.config is not valid JSON: {e}",
                       f"fix it with: kubectl edit net-attach-def -n {nad_namespace} "
                       f"{nad_name}") from None
    if not isinstance(raw, dict):
        raise CNIError(Code.INVALID_NETWORK_CONFIG, f"{ref}: spec.config is not a JSON object",
                       "spec.config holds a CNI config: {\"cniVersion\": ..., \"type\": ...}")
    try:
        return as_conflist_bytes(raw, nad_name)
    except CNIError as e:
        raise CNIError(e.code, f"{ref}: {e.msg}", e.details) from None


def with_cni_args(conflist: bytes, cni_args: Mapping[str, Any] | None) -> bytes:
    """Merge the annotation's cni-args into args.cni of every plugin (annotation keys win)."""
    if not cni_args:
        return conflist
    obj = json.loads(conflist)
    for plugin in obj["plugins"]:
        args = plugin.setdefault("args", {})
        cni = args.setdefault("cni", {})
        cni.update(cni_args)
    return json.dumps(obj).encode()


def network_name(conflist: bytes) -> str:
    return str(json.loads(conflist).get("name", ""))
