"""The meta plugin's own configuration: Multus's config keys, defaults and validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from netattach.cni import schema
from netattach.cni.config import NetConf, NetConfList
from netattach.cni.errors import CNIError, Code

from .delegate_cache import DEFAULT_CNI_DIR

DEFAULT_CONF_DIR = "/etc/cni/multus/net.d"
DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_NAMESPACE = "kube-system"

_ERRORS = schema.Described("netattach config")


def _names(value: Any) -> tuple[str, ...]:
    """A list of strings, or (as Multus accepts for globalNamespaces) a comma string."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _names_setting(key: str, default: tuple[str, ...]) -> Any:
    return schema.setting(key, (list, str), default, convert=_names,
                          check=lambda v: None if isinstance(v, str) else
                          schema.str_list(key)(v))


def _conf_objects(value: Any) -> tuple[str, str] | None:
    if all(isinstance(d, dict) for d in value):
        return None
    return "every delegate must be a CNI config object", f"got {schema.shown(value)}"


@dataclass(frozen=True)
class MetaConfig:
    """Everything the meta plugin reads from its CNI config (Multus v4 keys)."""

    name: str
    cni_version: str
    cluster_network: str = schema.setting("clusterNetwork", str, "", check=schema.no_nul)
    default_networks: tuple[str, ...] = _names_setting("defaultNetworks", ())
    # the legacy "delegates" list: the first is the cluster network, parsed once here
    delegates: tuple[NetConfList, ...] = ()
    kubeconfig: str = schema.setting("kubeconfig", str, "", check=schema.no_nul)
    conf_dir: str = schema.setting("confDir", str, DEFAULT_CONF_DIR, check=schema.no_nul)
    cni_dir: str = schema.setting("cniDir", str, DEFAULT_CNI_DIR, check=schema.no_nul)
    bin_dir: str = schema.setting("binDir", str, DEFAULT_BIN_DIR, check=schema.no_nul)
    namespace_isolation: bool = schema.setting("namespaceIsolation", bool, False)
    global_namespaces: tuple[str, ...] = _names_setting("globalNamespaces", ("default",))
    system_namespaces: tuple[str, ...] = _names_setting("systemNamespaces", ("kube-system",))
    multus_namespace: str = schema.setting("multusNamespace", str, DEFAULT_NAMESPACE,
                                           check=schema.no_nul)
    readiness_indicator_file: str = schema.setting("readinessindicatorfile", str, "",
                                                   check=schema.no_nul)
    retry_delete_on_error: bool = schema.setting("retryDeleteOnError", bool, False)
    log_file: str = schema.setting("logFile", str, "", check=schema.no_nul)
    log_level: str = schema.setting("logLevel", str, "")  # unknown levels mean "error"
    log_to_stderr: bool = schema.setting("logToStderr", bool, True)
    # external delegates run chrooted here: the host's / as mounted into the daemon (Multus)
    chroot_dir: str = schema.setting("chrootDir", str, "", check=schema.no_nul)
    runtime_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_netconf(cls, conf: NetConf) -> MetaConfig:
        from .networks import as_conflist

        raw = conf.raw
        delegates = schema.read(raw, _DELEGATES, _ERRORS)
        cfg = schema.load(cls, raw, _ERRORS, name=conf.name, cni_version=conf.cni_version,
                          runtime_config=conf.runtime_config,
                          delegates=tuple(as_conflist(d) for d in delegates))
        if not cfg.cluster_network and not cfg.delegates:
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           "at least one delegate/clusterNetwork must be specified",
                           'set "clusterNetwork" to the default network (a NAD name, a conf '
                           'name in confDir, or a file path) or give "delegates"')
        return cfg


_DELEGATES = schema.Key("delegates", list, (), check=_conf_objects)
