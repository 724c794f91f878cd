"""The meta plugin's own configuration: Multus's config keys, defaults and validation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netattach.cni.config import NetConf
from netattach.cni.errors import CNIError, Code

DEFAULT_CONF_DIR = "/etc/cni/multus/net.d"
DEFAULT_CNI_DIR = "/var/lib/cni/multus"
DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_NAMESPACE = "kube-system"


def _bad(key: str, value: Any, expected: str) -> CNIError:
    return CNIError(Code.INVALID_NETWORK_CONFIG, f"netattach config: {key} is invalid",
                    f"{key} must be {expected}, got {json.dumps(value)}")


def _get(raw: Mapping[str, Any], key: str, kind: type, default: Any, expected: str) -> Any:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad(key, value, expected)
    return value


def _str_list(raw: Mapping[str, Any], key: str, default: list[str]) -> tuple[str, ...]:
    value = raw.get(key, default)
    if isinstance(value, str):  # Multus accepts globalNamespaces as a comma string
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(key, value, "a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class MetaConfig:
    """Everything the meta plugin reads from its CNI config (Multus v4 keys)."""

    name: str
    cni_version: str
    cluster_network: str
    default_networks: tuple[str, ...]
    delegates: tuple[Mapping[str, Any], ...]
    kubeconfig: str
    conf_dir: str
    cni_dir: str
    bin_dir: str
    namespace_isolation: bool
    global_namespaces: tuple[str, ...]
    system_namespaces: tuple[str, ...]
    multus_namespace: str
    readiness_indicator_file: str
    retry_delete_on_error: bool
    log_file: str
    log_level: str
    log_to_stderr: bool
    runtime_config: Mapping[str, Any]
    chroot_dir: str = ""

    @classmethod
    def from_netconf(cls, conf: NetConf) -> MetaConfig:
        raw = conf.raw
        delegates = _get(raw, "delegates", list, [], "a list of CNI configs")
        if not all(isinstance(d, dict) for d in delegates):
            raise _bad("delegates", delegates, "a list of CNI config objects")
        cluster = _get(raw, "clusterNetwork", str, "", "a NAD name or a file/directory path")
        if not cluster and not delegates:
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           "at least one delegate/clusterNetwork must be specified",
                           'set "clusterNetwork" to the default network (a NAD name, a conf '
                           'name in confDir, or a file path) or give "delegates"')
        return cls(
            name=conf.name,
            cni_version=conf.cni_version,
            cluster_network=cluster,
            default_networks=_str_list(raw, "defaultNetworks", []),
            delegates=tuple(delegates),
            kubeconfig=_get(raw, "kubeconfig", str, "", "a path"),
            conf_dir=_get(raw, "confDir", str, DEFAULT_CONF_DIR, "a directory"),
            cni_dir=_get(raw, "cniDir", str, DEFAULT_CNI_DIR, "a directory"),
            bin_dir=_get(raw, "binDir", str, DEFAULT_BIN_DIR, "a directory"),
            namespace_isolation=_get(raw, "namespaceIsolation", bool, False, "true or false"),
            global_namespaces=_str_list(raw, "globalNamespaces", ["default"]),
            system_namespaces=_str_list(raw, "systemNamespaces", ["kube-system"]),
            multus_namespace=_get(raw, "multusNamespace", str, DEFAULT_NAMESPACE, "a namespace"),
            readiness_indicator_file=_get(raw, "readinessindicatorfile", str, "", "a path"),
            retry_delete_on_error=_get(raw, "retryDeleteOnError", bool, False, "true or false"),
            log_file=_get(raw, "logFile", str, "", "a path"),
            log_level=_get(raw, "logLevel", str, "", "debug, verbose, error or panic"),
            log_to_stderr=_get(raw, "logToStderr", bool, True, "true or false"),
            runtime_config=conf.runtime_config,
            chroot_dir=_get(raw, "chrootDir", str, "", "the host's / as mounted here, e.g. "
                            "/hostroot"),
        )
