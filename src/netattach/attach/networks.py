"""Finding a network's CNI config: NADs, files in confDir, the cluster network's path.

Every function returns the parsed `NetConfList` (a single conf wrapped into a list), so
a bad config fails here, before any plugin runs. A NAD or network name is only ever
compared with the "name" inside files of confDir; it is never joined into a path, so no
name can make netattach read outside confDir.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netattach.cni.config import NetConfList, conf_files, loads_object
from netattach.cni.errors import CNIError, Code

GENERATED_PREFIX = "00-netattach"  # the files netattach writes itself, never a delegate


def as_conflist(raw: Mapping[str, Any], default_name: str = "") -> NetConfList:
    """A conf or conflist object as a conflist, with `default_name` when it has no name."""
    obj = dict(raw)
    if not obj.get("name") and default_name:
        obj["name"] = default_name
    if "plugins" not in obj:
        obj = {"cniVersion": obj.get("cniVersion", ""), "name": obj.get("name", ""),
               "plugins": [obj]}
    return NetConfList.from_object(obj)


def find_conf_by_name(directory: str, name: str) -> NetConfList | None:
    """The config in `directory` whose "name" is `name`; None if absent."""
    for path in conf_files(directory):
        try:
            raw = loads_object(path.read_bytes(), f"CNI config {path}")
        except (OSError, CNIError):
            continue
        if raw.get("name") == name:
            return as_conflist(raw)
    return None


def conf_from_path(path: str) -> NetConfList:
    """A conf file, or the alphabetically first config of a directory."""
    target = Path(path)
    if target.is_dir():
        files = [f for f in conf_files(path) if not f.name.startswith(GENERATED_PREFIX)]
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
    return as_conflist(raw, target.stem)


def nad_conflist(nad_namespace: str, nad_name: str, spec_config: str,
                 conf_dir: str) -> NetConfList:
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
        raw = loads_object(spec_config, "spec.config")
    except CNIError as e:
        raise CNIError(Code.INVALID_NETWORK_CONFIG, f"{ref}: spec.config is not a JSON "
                       f"object: {e.msg}", f"fix it with: kubectl edit net-attach-def -n "
                       f"{nad_namespace} {nad_name}") from None
    try:
        return as_conflist(raw, nad_name)
    except CNIError as e:
        raise CNIError(e.code, f"{ref}: {e.msg}", e.details) from None


def with_cni_args(conflist: NetConfList, cni_args: Mapping[str, Any] | None) -> NetConfList:
    """Merge the annotation's cni-args into args.cni of every plugin (annotation keys win)."""
    if not cni_args:
        return conflist
    obj = conflist.to_object()
    for plugin in obj["plugins"]:
        args = plugin.setdefault("args", {})
        cni = args.setdefault("cni", {}) if isinstance(args, dict) else None
        if not isinstance(cni, dict):
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"network {conflist.name!r}: cannot add the annotation's cni-args: "
                           f"plugin {plugin.get('type')!r} has \"args\" that is not an object "
                           "with a \"cni\" object",
                           'fix "args" in the network config, or drop "cni-args" from the '
                           "pod's annotation")
        cni.update(cni_args)
    return NetConfList.from_object(obj)
