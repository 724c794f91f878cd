"""Shared fakes for the meta plugin's planning: NADs from a dict, requests and configs in memory."""

import json
from collections.abc import Mapping
from typing import Any

from netattach.attach.config import MetaConfig
from netattach.cni.request import Request, request_from_conf
from netattach.kube.errors import NotFound

POD_ARGS = "K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=uid-1"


def nad_config(name: str, type_: str = "macvlan", **extra: Any) -> str:
    """A NAD's spec.config: one plugin, as most NADs are written."""
    return json.dumps({"cniVersion": "1.0.0", "name": name, "type": type_, **extra})


class FakeNads:
    """(namespace, name) -> spec.config, as `NadGetter`; remembers what was asked."""

    def __init__(self, nads: Mapping[tuple[str, str], str]) -> None:
        self.nads = dict(nads)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, namespace: str, name: str) -> str:
        self.asked.append((namespace, name))
        try:
            return self.nads[(namespace, name)]
        except KeyError:
            raise NotFound(f'network-attachment-definitions.k8s.cni.cncf.io "{name}" not found',
                           obj=f"{namespace}/{name}", status=404) from None


def meta_request(conf: Mapping[str, Any] | None = None, cni_args: str = POD_ARGS,
                 ifname: str = "eth0", command: str = "ADD") -> Request:
    """A request for the meta plugin; `conf` is written over a minimal meta config."""
    raw = {"cniVersion": "1.0.0", "name": "netattach", "type": "netattach",
           "kubeconfig": "/nonexistent/kubeconfig", "clusterNetwork": "cluster", **(conf or {})}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "cid-1", "CNI_NETNS": "/run/netns/pod-1",
           "CNI_IFNAME": ifname, "CNI_ARGS": cni_args}
    return request_from_conf(env, raw)


def meta_config(conf: Mapping[str, Any] | None = None) -> MetaConfig:
    return MetaConfig.from_netconf(meta_request(conf).config)
