"""The CNI protocol (spec 1.1.0): types, versions, config, errors, requests and dispatch.

No Linux or Kubernetes code here. `netattach.cni.invoke` (running executables, libcni's
chaining) and `netattach.cni.result_cache` (libcni's result cache) are imported on their own.
"""

from .args import CniArgs
from .config import NetConf, NetConfList
from .errors import CNIError, Code, plugin_error
from .request import Command, Request, request_from_env
from .skel import BasePlugin, Plugin, dispatch
from .types import DNS, Interface, IPConfig, Result, Route
from .version import ALL as SUPPORTED_VERSIONS
from .version import CURRENT as CURRENT_VERSION

__all__ = [
    "CURRENT_VERSION", "DNS", "SUPPORTED_VERSIONS", "BasePlugin", "CNIError", "CniArgs", "Code",
    "Command", "IPConfig", "Interface", "NetConf", "NetConfList", "Plugin", "Request", "Result",
    "Route", "dispatch", "plugin_error", "request_from_env",
]
