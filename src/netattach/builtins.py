"""The plugin types netattach implements in Python, loaded lazily by type name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from netattach.cni.skel import Plugin

# type name -> "module:class". Modules are imported only when their type is used, so a
# CNI call pays for nothing but the plugin it runs.
BUILTIN_PLUGINS: Mapping[str, str] = MappingProxyType({
    "static": "netattach.ipam.static:StaticIPAM",
})


def is_builtin(type_name: str) -> bool:
    return type_name in BUILTIN_PLUGINS


def load_plugin(type_name: str) -> Plugin:
    """Instantiate the built-in plugin for `type_name` (KeyError if there is none)."""
    module_name, _, class_name = BUILTIN_PLUGINS[type_name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()
