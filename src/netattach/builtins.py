"""The plugin types netattach implements in Python, and the one way any plugin is run.

Built-in types run in process (no exec, no second interpreter, no JSON round trip);
every other type is executed from CNI_PATH as the spec says. The meta plugin runs its
delegates through `PluginRunner` (an `Executor` for `netattach.cni.invoke.Invoker`) and
interface plugins run their IPAM through `run_plugin`: both end in `run_request`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from netattach.cni.invoke import ExecExecutor
from netattach.cni.request import Command, Request, request_from_conf
from netattach.cni.skel import Plugin, dispatch
from netattach.cni.types import Result

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


# the built-ins that are IPAM plugins; the others configure interfaces and must never run
# as a config's "ipam" (bridge as IPAM would run bridge's ADD, whose IPAM is bridge again)
IPAM_PLUGINS = frozenset({"host-local", "static"})


def is_builtin(type_name: str) -> bool:
    return type_name in BUILTIN_PLUGINS


def is_interface_plugin(type_name: str) -> bool:
    """A built-in that configures interfaces (not an IPAM plugin)."""
    return type_name in BUILTIN_PLUGINS and type_name not in IPAM_PLUGINS


def load_plugin(type_name: str) -> Plugin:
    """Instantiate the built-in plugin for `type_name` (KeyError if there is none)."""
    module_name, _, class_name = BUILTIN_PLUGINS[type_name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PluginRunner:
    """Runs plugin `type` for one request: built-ins in process, others by exec."""

    external: ExecExecutor = field(default_factory=ExecExecutor)

    def run_request(self, plugin_type: str, request: Request) -> Result | Any:
        """The plugin's answer: a `Result` (built-in ADD), parsed stdout (exec), or None."""
        if is_builtin(plugin_type):
            return _in_process(plugin_type, request, request.env())
        return self.external.execute(plugin_type, request.env(), request.stdin_bytes(),
                                     request.path)

    def execute(self, plugin_type: str, env: Mapping[str, str], conf: Mapping[str, Any],
                path: Sequence[str]) -> Any:
        """`Executor` for the Invoker: the config object goes in as it is."""
        if not is_builtin(plugin_type):
            return self.external.execute(plugin_type, env, conf, path)
        request = request_from_conf(env, conf, self.external.chroot_dir)
        return _in_process(plugin_type, request, env)


def _in_process(plugin_type: str, request: Request, env: Mapping[str, str]) -> Result | None:
    """dispatch() a built-in; an ADD result is what a caller of the config's version sees."""
    result = dispatch(load_plugin(plugin_type), request, env)
    version = request.config.cni_version
    if result is None or result.cni_version == version:
        return result
    return result.convert(version)


def run_plugin(plugin_type: str, request: Request, command: Command) -> Result | None:
    """Run `plugin_type` (an IPAM, usually) for `command` with `request`'s config as its
    stdin, exec'd in the request's `exec_root`; the ADD result (in the config's
    cniVersion) or None for the other verbs."""
    runner = PluginRunner(external=ExecExecutor(chroot_dir=request.exec_root))
    out = runner.run_request(plugin_type, request.with_command(command))
    if out is None or isinstance(out, Result) or command is not Command.ADD:
        return out if isinstance(out, Result) else None
    if isinstance(out, dict) and not out.get("cniVersion"):
        out = {**out, "cniVersion": request.config.cni_version}
    return Result.from_json(out)
