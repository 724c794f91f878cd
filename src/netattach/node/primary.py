"""The runtime's primary CNI config, and the one-plugin conflist netattach puts in front.

Both modes use one rule: thin mode's `netattach install` and thick mode's config
generation in the daemon (a file netattach wrote itself is never the primary).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netattach.cni.config import conf_files


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
