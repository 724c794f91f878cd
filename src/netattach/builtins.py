"""The plugin types netattach implements in Python, loaded lazily by type name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from netattach.cni.skel import Plugin

# type name -> "module:class". Modules are imported only when their type is used, so a
# CNI call pays for nothing but the plugin it runs.
BUILTIN_PLUGINS: Mapping[str, str] = MappingProxyType({
    "bridge": "netattach.plugins.bridge:BridgePlugin",
    "host-device": "netattach.plugins.host_device:HostDevicePlugin",
    "host-local": "netattach.ipam.hostlocal:HostLocalIPAM",
    "ipvlan": "netattach.plugins.ipvlan:IpvlanPlugin",
    "macvlan": "netattach.plugins.macvlan:MacvlanPlugin",
    "netattach": "netattach.attach.meta:MetaPlugin",
    "static": "netattach.ipam.static:StaticIPAM",
    "tuning": "netattach.plugins.tuning:TuningPlugin",
    "vlan": "netattach.plugins.vlan:VlanPlugin",
})


def is_builtin(type_name: str) -> bool:
    return type_name in BUILTIN_PLUGINS


def load_plugin(type_name: str) -> Plugin:
    """Instantiate the built-in plugin for `type_name` (KeyError if there is none)."""
    module_name, _, class_name = BUILTIN_PLUGINS[type_name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()
