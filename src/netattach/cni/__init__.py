"""The CNI protocol (spec 1.1.0): types, versions, config, errors, requests and dispatch.

No Linux or Kubernetes code here. Importing the package costs nothing: its names are
loaded on first use (so a plugin's VERSION answer imports only `version`), and the
submodules (`config`, `skel`, `invoke`, `result_cache`, ...) are imported on their own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .args import CniArgs
    from .config import NetConf, NetConfList
    from .errors import CNIError, Code, plugin_error
    from .request import Command, Request, request_from_env
    from .skel import BasePlugin, Plugin, dispatch
    from .types import DNS, Interface, IPConfig, Result, Route

_LAZY = {
    "CniArgs": "args", "NetConf": "config", "NetConfList": "config", "CNIError": "errors",
    "Code": "errors", "plugin_error": "errors", "Command": "request", "Request": "request",
    "request_from_env": "request", "BasePlugin": "skel", "Plugin": "skel", "dispatch": "skel",
    "DNS": "types", "Interface": "types", "IPConfig": "types", "Result": "types",
    "Route": "types",
}


def __getattr__(name: str) -> Any:
    if name in ("SUPPORTED_VERSIONS", "CURRENT_VERSION"):
        from . import version

        return version.ALL if name == "SUPPORTED_VERSIONS" else version.CURRENT
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netattach.cni' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CURRENT_VERSION", "DNS", "SUPPORTED_VERSIONS", "BasePlugin", "CNIError", "CniArgs", "Code",
    "Command", "IPConfig", "Interface", "NetConf", "NetConfList", "Plugin", "Request", "Result",
    "Route", "dispatch", "plugin_error", "request_from_env",
]
