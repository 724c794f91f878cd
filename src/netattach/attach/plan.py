"""Which networks a pod gets, in what order, under which interface names.

The combined list is [cluster network, defaultNetworks..., the pod's annotation...]; the
cluster network is CNI_IFNAME (eth0), the others `net<position>` unless an interface was
requested. Everything is validated here, before any plugin runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError, Code
from netattach.cni.request import Request

from .config import MetaConfig
from .delegate_cache import Delegate, PodAttachments
from .networks import conf_from_path, find_conf_by_name, nad_conflist, with_cni_args

if TYPE_CHECKING:
    from netattach.kube.annotations import NetworkSelection
    from netattach.kube.models import Pod

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"

# (namespace, name) -> spec.config ("" when empty); raises netattach.kube.errors.NotFound
NadGetter = Callable[[str, str], str]


class NetworkNotFound(CNIError):
    """A NetworkAttachmentDefinition the pod asks for does not exist (event NoNetworkFound)."""


def _invalid(msg: str, details: str) -> CNIError:
    return CNIError(Code.INVALID_NETWORK_CONFIG, msg, details)


def _nad(get_nad: NadGetter | None, namespace: str, name: str, cfg: MetaConfig,
         pod_ref: str) -> NetConfList:
    if get_nad is None:
        raise _invalid(f"{pod_ref}: network {namespace}/{name} needs the Kubernetes API",
                       'set "kubeconfig" in the netattach config so NADs can be read')
    from netattach.kube.errors import NotFound

    try:
        config = get_nad(namespace, name)
    except NotFound as e:
        raise NetworkNotFound(Code.INVALID_NETWORK_CONFIG,
                       f"{pod_ref}: cannot find a network-attachment-definition "
                       f"({name}) in namespace ({namespace}): {e.message}",
                       f"create it (kubectl get net-attach-def -n {namespace}) or fix the pod's "
                       f"{NETWORKS_ANNOTATION} annotation") from None
    return nad_conflist(namespace, name, config, cfg.conf_dir)


def _named_network(value: str, cfg: MetaConfig, get_nad: NadGetter | None,
                   pod_ref: str) -> tuple[str, NetConfList]:
    """clusterNetwork/defaultNetworks entry: a path, a NAD in multusNamespace, or a conf name."""
    if "/" in value:
        conflist = conf_from_path(value)
        return conflist.name, conflist
    if get_nad is not None:
        from netattach.kube.errors import NotFound

        try:
            return f"{cfg.multus_namespace}/{value}", nad_conflist(
                cfg.multus_namespace, value, get_nad(cfg.multus_namespace, value), cfg.conf_dir)
        except NotFound:
            pass
    found = find_conf_by_name(cfg.conf_dir, value)
    if found is None:
        raise _invalid(f"{pod_ref}: cannot find network {value!r}",
                       f"it is neither a NetworkAttachmentDefinition in {cfg.multus_namespace} "
                       f"nor a config named {value!r} in {cfg.conf_dir}")
    return value, found


def _selection_requests(sel: NetworkSelection
                        ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Capability args and CNI_ARGS pairs from one annotation element (as Multus passes them)."""
    caps: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    if sel.ips:
        caps["ips"] = list(sel.ips)
        pairs.append(("IP", ",".join(sel.ips)))
    if sel.mac:
        caps["mac"] = sel.mac
        pairs.append(("MAC", sel.mac))
    if sel.infiniband_guid:
        caps["infinibandGUID"] = sel.infiniband_guid
    if sel.device_id:
        caps["deviceID"] = sel.device_id
    if sel.port_mappings:
        caps["portMappings"] = [p.to_json() for p in sel.port_mappings]
    if sel.bandwidth:
        caps["bandwidth"] = sel.bandwidth.to_json()
    return caps, pairs


def plan_attachments(cfg: MetaConfig, request: Request, pod: Pod | None,
                     get_nad: NadGetter | None) -> PodAttachments:
    """Resolve every network of the pod into delegates; raise CNIError before anything runs."""
    from netattach.kube.annotations import (
        AnnotationError,
        parse_default_network,
        parse_networks,
    )

    pod_ref = f"{pod.namespace}/{pod.name}" if pod else request.pod_ref
    annotations = pod.annotations if pod else {}
    base_args = [("IgnoreUnknown", "true")]
    if pod:
        base_args += [("K8S_POD_NAMESPACE", pod.namespace), ("K8S_POD_NAME", pod.name),
                      ("K8S_POD_INFRA_CONTAINER_ID", request.container_id),
                      ("K8S_POD_UID", pod.uid)]
    extra_args = [p for p in request.args.pairs if p[0] not in dict(base_args)]

    try:
        override = parse_default_network(annotations.get(DEFAULT_NETWORK_ANNOTATION, ""),
                                         cfg.multus_namespace, pod.namespace if pod else "",
                                         pod.name if pod else "")
        selections = parse_networks(annotations.get(NETWORKS_ANNOTATION, ""),
                                    pod.namespace if pod else "default",
                                    pod.name if pod else "")
    except AnnotationError as e:
        raise _invalid(str(e), "fix the pod's annotation; nothing was attached") from None

    cluster_caps = dict(cfg.runtime_config)
    cluster_caps.pop("io.kubernetes.cri.pod-annotations", None)
    delegates: list[Delegate] = []
    # 1. the cluster network (or the pod's override of it)
    if override is not None:
        name = f"{override.namespace}/{override.name}"
        conflist = _nad(get_nad, override.namespace, override.name, cfg, pod_ref)
    elif cfg.cluster_network:
        name, conflist = _named_network(cfg.cluster_network, cfg, get_nad, pod_ref)
    else:
        conflist = cfg.delegates[0]
        name = conflist.name
    delegates.append(Delegate(name=name, conflist=conflist, ifname=request.ifname,
                              is_default=True, capability_args=cluster_caps,
                              cni_args=tuple(base_args + extra_args)))
    # 2. defaultNetworks (and the legacy extra delegates), not for system namespaces
    extra: list[tuple[str, NetConfList]] = []
    if not cfg.cluster_network and len(cfg.delegates) > 1:
        extra += [(d.name, d) for d in cfg.delegates[1:]]
    if not (pod and pod.namespace in cfg.system_namespaces):
        extra += [_named_network(n, cfg, get_nad, pod_ref) for n in cfg.default_networks]
    for name, conflist in extra:
        delegates.append(Delegate(name=name, conflist=conflist,
                                  ifname=f"net{len(delegates)}",
                                  cni_args=tuple(base_args + extra_args)))
    # 3. the pod's annotation, in order
    for sel in selections:
        delegates.append(selection_delegate(cfg, sel, get_nad, pod, pod_ref,
                                            tuple(base_args + extra_args),
                                            sel.interface or f"net{len(delegates)}"))
    _check_unique_ifnames(delegates, pod)
    _check_default_routes(delegates, pod_ref)
    meta = {k: v for k, v in request.config.raw.items()
            if k not in ("runtimeConfig", "prevResult", "args")}
    return PodAttachments(request.container_id, request.netns, pod.namespace if pod else "",
                          pod.name if pod else "", pod.uid if pod else "", tuple(delegates),
                          meta, request.path)


def selection_delegate(cfg: MetaConfig, sel: NetworkSelection, get_nad: NadGetter | None,
                       pod: Pod | None, pod_ref: str, cni_args: tuple[tuple[str, str], ...],
                       ifname: str) -> Delegate:
    """The delegate of one element of the pod's annotation, as interface `ifname`."""
    from netattach.kube.annotations import thaw

    if cfg.namespace_isolation and pod and sel.namespace != pod.namespace \
            and sel.namespace not in cfg.global_namespaces:
        raise _invalid(
            f"{pod_ref}: namespace isolation enabled, annotation violates permission, pod "
            f"is in namespace {pod.namespace} but refers to target namespace "
            f"{sel.namespace}",
            f"create the NAD in {pod.namespace}, or list {sel.namespace} in "
            "globalNamespaces")
    conflist = _nad(get_nad, sel.namespace, sel.name, cfg, pod_ref)
    conflist = with_cni_args(conflist, thaw(sel.cni_args) if sel.cni_args else None)
    caps, pairs = _selection_requests(sel)
    return Delegate(
        name=f"{sel.namespace}/{sel.name}", conflist=conflist, ifname=ifname,
        capability_args=caps, cni_args=cni_args + tuple(pairs), requested_ips=tuple(sel.ips),
        default_route=tuple(sel.default_route) if sel.default_route is not None else None,
        from_annotation=True)


def error_prefix(namespace: str, name: str, uid: str, network: str) -> str:
    """Multus's `[ns/pod/uid:network]` in front of a delegate's error (`[network]` sans pod)."""
    return f"[{namespace}/{name}/{uid}:{network}]" if name else f"[{network}]"


def _check_unique_ifnames(delegates: list[Delegate], pod: Pod | None) -> None:
    """Two attachments under one name: refused now, worded as Multus's failed ADD of it."""
    seen: dict[str, str] = {}
    for d in delegates:
        if d.ifname in seen:
            prefix = error_prefix(pod.namespace, pod.name, pod.uid, d.network) if pod \
                else error_prefix("", "", "", d.network)
            raise _invalid(f'{prefix}: error adding container to network "{d.network}": '
                           f"interface name {d.ifname} is requested twice "
                           f"({seen[d.ifname]} and {d.name})",
                           "give each network its own \"interface\" in the annotation; "
                           "nothing was attached")
        seen[d.ifname] = d.name


def _check_default_routes(delegates: list[Delegate], pod_ref: str) -> None:
    """At most one IPv4 and one IPv6 default gateway across the pod (no ECMP), as Multus."""
    for family in (4, 6):
        asking = [(d.name, gw) for d in delegates for gw in d.default_route or ()
                  if ipaddress.ip_address(gw).version == family]
        if len(asking) > 1:
            listed = ", ".join(f"{gw} ({name})" for name, gw in asking)
            raise _invalid(f"{pod_ref}: netattach does not support ECMP for default-route: "
                           f"IPv{family} gateways {listed}",
                           "ask for one default gateway per address family")
