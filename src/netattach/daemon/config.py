"""The daemon's own settings: a JSON file (`--config`) and flags, flags winning.

Keys the daemon itself uses are listed in `DAEMON_KEYS`; every other key of the daemon
config file is a meta-plugin key (kubeconfig, cniDir, confDir, binDir, chrootDir,
logLevel, ...) and overrides the same key in the CNI config the shim sends, as Multus's
`overrideCNIConfigWithServerConfig` does.

Without a kubeconfig, a daemon in a pod uses its service account (`using_service_account`):
the `kubeconfig` override then names it as `in-cluster:<dir>`, which only the daemon's own
API client factory reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from netattach.node.layout import DEFAULT_SOCKET_DIR, GENERATED_CONF, SHIM_TYPE, SOCKET_NAME

__all__ = ["DEFAULT_SOCKET_DIR", "GENERATED_CONF", "SHIM_TYPE", "SOCKET_NAME", "DaemonConfig",
           "DaemonConfigError"]
DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = "in-cluster:"  # kubeconfig override: the daemon's service account in <dir>

# daemon config key -> DaemonConfig field. Anything else overrides the CNI config.
DAEMON_KEYS: Mapping[str, str] = MappingProxyType({
    "socketDir": "socket_dir",
    "daemonSocketDir": "socket_dir",
    "nodeName": "node_name",
    "metricsAddress": "metrics_address",
    "cniConfigDir": "cni_config_dir",
    "cniBinDir": "cni_bin_dir",
    "maxInFlight": "max_in_flight",
    "maxQueued": "max_queued",
    "logFormat": "log_format",
    "shutdownGrace": "shutdown_grace",
    "networkName": "network_name",
    "shimConfig": "shim_config",
    "serviceAccountDir": "service_account_dir",
    "workers": "workers",
})


class DaemonConfigError(Exception):
    """The daemon config file or a flag is unusable; the message says which and the fix."""


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DaemonConfig:
    """Everything `netattach daemon` needs. `overrides` are merged into each CNI config."""

    socket_dir: str = DEFAULT_SOCKET_DIR
    node_name: str = ""
    metrics_address: str = ""
    cni_config_dir: str = ""
    cni_bin_dir: str = ""
    max_in_flight: int = 32
    max_queued: int = 256
    log_format: str = "text"
    log_level: str = "info"
    shutdown_grace: float = 10.0
    network_name: str = "netattach-cni-network"
    readiness_indicator_file: str = ""
    service_account_dir: str = DEFAULT_SERVICE_ACCOUNT_DIR
    workers: int = -1  # worker processes; -1: one per CPU, 0: in the daemon process
    shim_config: Mapping[str, Any] = field(default_factory=_empty)
    overrides: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def socket_path(self) -> Path:
        return Path(self.socket_dir) / SOCKET_NAME

    @property
    def cni_dir(self) -> str:
        """The meta plugin's cniDir the daemon configures (its delegate caches)."""
        value = self.overrides.get("cniDir")
        return value if isinstance(value, str) and value else "/var/lib/cni/multus"

    @property
    def kubeconfig(self) -> str:
        value = self.overrides.get("kubeconfig", "")
        return value if isinstance(value, str) else ""

    @property
    def in_cluster_dir(self) -> str:
        """The service-account directory when the daemon uses in-cluster credentials."""
        value = self.kubeconfig
        return value[len(IN_CLUSTER):] if value.startswith(IN_CLUSTER) else ""

    def using_service_account(self) -> DaemonConfig:
        """This config with the pod's service account (`service_account_dir`) as the API
        credentials of the daemon and of every request's meta plugin."""
        overrides = {**self.overrides, "kubeconfig": IN_CLUSTER + self.service_account_dir}
        cfg = replace(self, overrides=MappingProxyType(overrides))
        cfg.validate()  # now with credentials: the node name is needed
        return cfg

    def override(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        """The CNI config the shim sent with the daemon's meta-plugin keys written over it.

        With config generation on, the readiness indicator file is the config manager's
        business (it removes the generated file while the file is missing), so it is not
        passed to the meta plugin, which would block ADD on it (as Multus does).
        """
        out = dict(conf)
        out.update(self.overrides)
        if self.cni_config_dir:
            out.pop("readinessindicatorfile", None)
        return out

    @classmethod
    def load(cls, path: str | None, flags: Mapping[str, Any]) -> DaemonConfig:
        """Read `path` (JSON object) if given, then apply non-None `flags` (field names)."""
        raw: dict[str, Any] = {}
        if path:
            try:
                raw = json.loads(Path(path).read_text())
            except OSError as e:
                raise DaemonConfigError(f"daemon config {path}: cannot read: {e.strerror}; "
                                        "check the --config path") from None
            except ValueError as e:
                raise DaemonConfigError(f"daemon config {path}: not valid JSON: {e}; fix "
                                        "the file (it is one JSON object)") from None
            if not isinstance(raw, dict):
                raise DaemonConfigError(f"daemon config {path}: must be a JSON object, got "
                                        f"{type(raw).__name__}")
        values: dict[str, Any] = {}
        overrides: dict[str, Any] = {}
        for key, value in raw.items():
            if key in DAEMON_KEYS:
                values[DAEMON_KEYS[key]] = value
            elif key == "readinessindicatorfile":
                values["readiness_indicator_file"] = value
                overrides[key] = value
            else:
                overrides[key] = value
        if isinstance(raw.get("logLevel"), str):
            values["log_level"] = raw["logLevel"]
        meta_flags = {"kubeconfig": "kubeconfig", "cni_dir": "cniDir", "conf_dir": "confDir",
                      "bin_dir": "binDir"}
        for name, value in flags.items():
            if value is None:
                continue
            if name in meta_flags:
                overrides[meta_flags[name]] = value
            elif name == "readiness_indicator_file":
                values[name] = value
                overrides["readinessindicatorfile"] = value
            else:
                values[name] = value
        if not values.get("node_name"):
            values["node_name"] = os.environ.get("NODE_NAME", "")
        # the daemon's log level wins: the meta plugin would otherwise reset it per request
        overrides["logLevel"] = _meta_level(str(values.get("log_level", "info")))
        try:
            cfg = replace(cls(), **values)
        except TypeError as e:
            raise DaemonConfigError(f"daemon config: {e}") from None
        cfg = replace(cfg, overrides=MappingProxyType(overrides),
                      shim_config=MappingProxyType(dict(cfg.shim_config)))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name, kind in (("max_in_flight", int), ("max_queued", int)):
            value = getattr(self, name)
            if not isinstance(value, kind) or isinstance(value, bool) or value < 1:
                raise DaemonConfigError(f"daemon config: {name} must be a positive integer, "
                                        f"got {value!r}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) \
                or self.workers < -1:
            raise DaemonConfigError(f"daemon config: workers must be -1 (one per CPU), 0 (no "
                                    f"worker processes) or a count, got {self.workers!r}")
        if self.log_format not in ("text", "json"):
            raise DaemonConfigError(f"daemon config: logFormat must be text or json, got "
                                    f"{self.log_format!r}")
        if self.metrics_address and ":" not in self.metrics_address:
            raise DaemonConfigError(f"daemon config: metricsAddress must be HOST:PORT, got "
                                    f"{self.metrics_address!r} (e.g. 127.0.0.1:9091)")
        if self.kubeconfig and not self.node_name:
            raise DaemonConfigError("daemon config: the node name is unknown; pass --node-name "
                                    "or set NODE_NAME (the pod cache watches this node's pods)")

    def to_wire(self) -> dict[str, Any]:
        """Plain values, for a worker process (see workers.py)."""
        return {f.name: dict(v) if isinstance(v, Mapping) else v
                for f in fields(self) for v in [getattr(self, f.name)]}


def _meta_level(level: str) -> str:
    """Our level names -> the meta plugin's Multus names."""
    return {"debug": "debug", "info": "verbose", "verbose": "verbose", "warning": "error",
            "error": "error", "panic": "panic"}.get(level.lower(), "verbose")
