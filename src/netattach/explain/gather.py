"""Reading what `netattach explain` compares: every source, read-only, into a `Gathered`.

The order follows what netattach did: the meta config, the pod (API), the delegate caches
naming it, the replayed plan (NADs from the API; a missing NAD stands in with what the
cache recorded, so the other networks are still explained), the pre-ADD checks, libcni's
result cache, the pod's netns, the node's devices, network-status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model import (
    NAD_FILE,
    NAD_FOUND,
    NAD_INVALID,
    NAD_MISSING,
    NAD_NOT_READ,
    ExplainInputError,
    ExplainOptions,
    Gathered,
    LinkView,
    NetnsView,
    Planned,
    SandboxCache,
)

if TYPE_CHECKING:
    from netattach.attach.config import MetaConfig
    from netattach.attach.delegate_cache import Delegate, PodAttachments
    from netattach.cni.config import NetConfList
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

META_TYPES = ("netattach", "netattach-shim")
# stands in for a NAD that is missing or invalid when the cache has nothing to show
STAND_IN_TYPE = "netattach-explain-stand-in"


# -- the meta config ---------------------------------------------------------------------
def _meta_object(path: str) -> dict[str, Any]:
    """The meta plugin's own config object out of a conf or conflist file."""
    from netattach.cni.config import loads_object
    from netattach.cni.errors import CNIError

    try:
        raw = loads_object(Path(path).read_bytes(), f"netattach config {path}")
    except OSError as e:
        raise ExplainInputError(f"cannot read the netattach config {path}: {e.strerror}; "
                                "give --config the meta plugin's CNI config (e.g. "
                                "/etc/cni/net.d/00-netattach.conflist)") from None
    except CNIError as e:
        raise ExplainInputError(f"{e.msg}; {e.details}") from None
    if "plugins" not in raw:
        return raw
    plugins = [p for p in raw.get("plugins") or () if isinstance(p, dict)]
    conf = next((p for p in plugins if p.get("type") in META_TYPES), None)
    if conf is None:
        raise ExplainInputError(f"{path}: no plugin of type netattach or netattach-shim in "
                                "its \"plugins\"; give --config the meta plugin's config")
    return {**conf, "cniVersion": raw.get("cniVersion", ""), "name": raw.get("name", "")}


def read_meta_object(opts: ExplainOptions) -> dict[str, Any]:
    """The --config file's meta plugin object, or the defaults' when there is none."""
    from netattach.attach.config import DEFAULT_CNI_DIR

    if opts.config:
        return _meta_object(opts.config)
    return {"cniVersion": "1.0.0", "name": "netattach", "type": "netattach",
            "cniDir": DEFAULT_CNI_DIR}


def meta_config(opts: ExplainOptions, raw: dict[str, Any], cluster: NetConfList | None
                ) -> tuple[MetaConfig, bool]:
    """The meta config (the file's, flags win) and whether it names the cluster network.
    Without a file, `cluster` (what the cache recorded for eth0) stands in for it."""
    from netattach.attach.config import MetaConfig
    from netattach.cni.config import NetConf
    from netattach.cni.errors import CNIError

    raw = dict(raw)
    if opts.cni_dir:
        raw["cniDir"] = opts.cni_dir
    if opts.conf_dir:
        raw["confDir"] = opts.conf_dir
    known = bool(raw.get("clusterNetwork") or raw.get("delegates"))
    if not known:
        raw["delegates"] = [cluster.to_object() if cluster is not None else
                            {"cniVersion": "1.0.0", "name": "cluster-network",
                             "type": STAND_IN_TYPE}]
    try:
        return MetaConfig.from_netconf(NetConf.from_json(raw)), known or cluster is not None
    except CNIError as e:
        raise ExplainInputError(f"{e.msg}; {e.details}") from None


def cni_dir_of(opts: ExplainOptions, raw: dict[str, Any]) -> str:
    """cniDir before the full config is known (the caches are read first)."""
    from netattach.attach.config import DEFAULT_CNI_DIR

    value = opts.cni_dir or raw.get("cniDir")
    return value if isinstance(value, str) and value else DEFAULT_CNI_DIR


def kubeconfig_of(opts: ExplainOptions, raw: dict[str, Any]) -> str:
    """--kubeconfig, else $KUBECONFIG (as doctor), else the meta config's kubeconfig."""
    if not opts.use_api:
        return ""
    from netattach.doctor.sources import default_kubeconfig

    value = opts.kubeconfig or default_kubeconfig() or raw.get("kubeconfig")
    return value if isinstance(value, str) else ""


# -- the API -----------------------------------------------------------------------------
@contextmanager
def api_client(kubeconfig: str) -> Iterator[tuple[KubeAPI | None, str]]:
    """(client, server URL), or (None, "") without a kubeconfig."""
    if not kubeconfig:
        yield None, ""
        return
    from netattach.kube.client import KubeClient
    from netattach.kube.errors import KubeError

    try:
        kube = KubeClient.from_kubeconfig(kubeconfig)
    except (KubeError, OSError, ValueError) as e:
        raise ExplainInputError(f"cannot use kubeconfig {kubeconfig}: {e}") from None
    try:
        yield kube, kube.server
    finally:
        kube.close()


def read_pod(kube: KubeAPI, namespace: str, name: str, server: str) -> Pod | None:
    """The pod, or None when the API server does not have it."""
    from netattach.kube.errors import KubeError, NotFound

    try:
        return kube.get_pod(namespace, name)
    except NotFound:
        return None
    except KubeError as e:
        raise ExplainInputError(f"cannot read pod {namespace}/{name} from {server}: {e}; "
                                "check the kubeconfig (or run with --no-api for what this "
                                "node's caches know)") from None


# -- the delegate caches -----------------------------------------------------------------
def read_sandboxes(cni_dir: str, namespace: str, name: str, uid: str
                   ) -> tuple[int, tuple[SandboxCache, ...], SandboxCache | None]:
    """(caches in cniDir, those naming the pod, the pod's current one).

    Current: the pod's UID (when known), then a netns that exists, then the newest file.
    """
    from netattach.attach.delegate_cache import DelegateCache

    cache = DelegateCache(Path(cni_dir))
    every = cache.all()
    found = []
    for att in every:
        if (att.pod_namespace, att.pod_name) != (namespace, name):
            continue
        path = cache.path(att.container_id)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        found.append(SandboxCache(att, str(path), mtime, _netns_exists(att.netns)))
    found.sort(key=lambda s: (s.netns_exists, s.mtime), reverse=True)
    current = [s for s in found if not uid or not s.attachments.pod_uid
               or s.attachments.pod_uid == uid]
    return len(every), tuple(found), (current[0] if current else None)


def _netns_exists(path: str) -> bool:
    from netattach.linux import LinuxNetError, open_netns

    if not path:
        return False
    try:
        open_netns(path).close()
    except LinuxNetError:
        return False
    return True


# -- the plan ----------------------------------------------------------------------------
def _wanted(cfg: MetaConfig, pod: Pod) -> set[tuple[str, str]]:
    """The NADs the pod's annotations name ((namespace, name)); empty if they do not parse
    (the plan then reports the annotation's error)."""
    from netattach.kube.annotations import AnnotationError, parse_default_network, parse_networks

    try:
        sels = list(parse_networks(pod.networks_annotation, pod.namespace, pod.name))
        override = parse_default_network(pod.default_network_annotation, cfg.multus_namespace,
                                         pod.namespace, pod.name)
    except AnnotationError:
        return set()
    if override is not None:
        sels.append(override)
    return {(s.namespace, s.name) for s in sels}


def _stand_in(name: str) -> str:
    return json.dumps({"cniVersion": "1.0.0", "name": name, "type": STAND_IN_TYPE})


def plan(cfg: MetaConfig, pod: Pod, kube: KubeAPI, server: str,
         sandbox: SandboxCache | None) -> tuple[tuple[Planned, ...] | None,
                                                tuple[str, str] | None]:
    """The meta plugin's plan for the pod now: (delegates, None), or (None, (msg, details))
    when netattach would refuse it. A NAD the pod asks for that is missing or invalid
    stands in with the config the cache recorded for it (or a stand-in)."""
    from netattach.attach.networks import nad_conflist
    from netattach.attach.plan import plan_attachments
    from netattach.cni.args import CniArgs
    from netattach.cni.config import NetConf
    from netattach.cni.errors import CNIError
    from netattach.cni.request import Command, Request
    from netattach.kube.errors import KubeError, NotFound

    wanted = _wanted(cfg, pod)
    cached = {d.name: d for d in sandbox.attachments.delegates} if sandbox else {}
    states: dict[str, tuple[str, str, bool]] = {}  # "ns/name" -> (state, error, stand-in)

    def substitute(key: str, state: str, error: str) -> str:
        if key in cached:
            states[key] = (state, error, False)
            return cached[key].conflist.source.decode("utf-8", "replace")
        states[key] = (state, error, True)
        return _stand_in(key.rpartition("/")[2])

    def get_nad(namespace: str, name: str) -> str:
        key = f"{namespace}/{name}"
        try:
            config = kube.get_nad(namespace, name).config
        except NotFound as e:
            if (namespace, name) not in wanted:
                raise  # a defaultNetworks / clusterNetwork name: confDir is tried next
            return substitute(key, NAD_MISSING, e.message)
        except KubeError as e:
            raise ExplainInputError(f"cannot read NetworkAttachmentDefinition {key} from "
                                    f"{server}: {e}") from None
        if (namespace, name) in wanted:
            try:
                nad_conflist(namespace, name, config, cfg.conf_dir)
            except CNIError as e:
                return substitute(key, NAD_INVALID, f"{e.msg}; {e.details}")
        states[key] = (NAD_FOUND, "", False)
        return config

    att = sandbox.attachments if sandbox else None
    default = next((d for d in att.delegates if d.is_default), None) if att else None
    request = Request(
        command=Command.ADD, config=NetConf(cni_version=cfg.cni_version, name=cfg.name,
                                            type="netattach"),
        container_id=att.container_id if att else "", netns=att.netns if att else "",
        ifname=default.ifname if default else "eth0",
        args=CniArgs(tuple(default.cni_args) if default else ()))
    try:
        planned = plan_attachments(cfg, request, pod, get_nad)
    except CNIError as e:
        return None, (e.msg, e.details)
    out = []
    for d in planned.delegates:
        state, error, stand_in = states.get(d.name, (NAD_FILE, "", False))
        out.append(Planned(d, state, error, stand_in or _is_stand_in(d)))
    return tuple(out), None


def cached_plan(sandbox: SandboxCache) -> tuple[Planned, ...]:
    """Cache-only: what the delegate cache recorded is the plan (NADs not read)."""
    return tuple(Planned(d, NAD_NOT_READ if "/" in d.name else NAD_FILE)
                 for d in sandbox.attachments.delegates)


def preflight(att: PodAttachments, cfg: MetaConfig, attached: bool
              ) -> tuple[tuple[Any, ...], str]:
    """The pre-ADD findings for these delegates (stand-ins left out), or why none."""
    from netattach.attach.preflight import check_before_add

    delegates = tuple(d for d in att.delegates if not _is_stand_in(d))
    try:
        return tuple(check_before_add(replace(att, delegates=delegates), cfg,
                                      attached=attached)), ""
    except Exception as e:  # noqa: BLE001 - a failing check must not hide the rest
        return (), f"{type(e).__name__}: {e}"


def _is_stand_in(d: Delegate) -> bool:
    return any(p.get("type") == STAND_IN_TYPE for p in d.conflist.plugins)


# -- what is there -----------------------------------------------------------------------
def _link_views(links: list[Any], addrs: list[Any]) -> tuple[LinkView, ...]:
    by_index: dict[int, list[str]] = {}
    for a in addrs:
        by_index.setdefault(a.index, []).append(str(a.interface))
    return tuple(LinkView(lk.name, lk.kind, lk.mac or "", lk.mtu, lk.admin_up, lk.oper_state,
                          tuple(by_index.get(lk.index, ()))) for lk in links)


def read_netns(path: str) -> NetnsView:
    """The links and addresses in the pod's namespace (`exists` False when it is gone)."""
    from netattach.linux import LinuxNetError, NetnsNotFound, NotANetns, netlink_session

    try:
        with netlink_session(path) as nl:
            return NetnsView(path, True, _link_views(nl.links(), nl.addresses()))
    except (NetnsNotFound, NotANetns) as e:
        return NetnsView(path, False, error=str(e))
    except (LinuxNetError, OSError) as e:
        return NetnsView(path, True, error=str(e))


def read_node_devices(names: set[str]) -> dict[str, LinkView | None]:
    """These links of the node's namespace (the one explain runs in); None when missing."""
    from netattach.linux import LinuxNetError, netlink_session, validate_ifname

    out: dict[str, LinkView | None] = {}
    if not names:
        return out
    with netlink_session(None) as nl:
        for name in sorted(names):
            try:
                validate_ifname(name)
                lk = nl.find_link(name)
            except (LinuxNetError, ValueError):
                lk = None
            out[name] = None if lk is None else _link_views([lk], nl.addresses(lk.index))[0]
    return out


def node_device_names(delegates: list[Delegate], results: dict[str, Any]) -> set[str]:
    """Masters, bridges and host-side interfaces of the results."""
    from .compare import node_devices_of

    names: set[str] = set()
    for d in delegates:
        names |= {name for name, _ in node_devices_of(d, results.get(d.ifname))}
    return names


def read_results(cni_dir: str, att: PodAttachments) -> dict[str, Any]:
    """libcni's cached ADD result of each attachment, by interface (None when missing)."""
    from netattach.cni.result_cache import ResultCache

    cache = ResultCache(Path(cni_dir))
    return {d.ifname: cache.read(d.network, att.container_id, d.ifname) for d in att.delegates}


def read_status(pod: Pod) -> tuple[tuple[Any, ...] | None, str]:
    from netattach.kube.annotations import AnnotationError
    from netattach.kube.network_status import parse_network_status

    raw = pod.network_status_annotation
    if not raw:
        return None, ""
    try:
        return parse_network_status(raw, f"{pod.namespace}/{pod.name}"), ""
    except AnnotationError as e:
        return None, str(e)


# -- all of it ---------------------------------------------------------------------------
def gather(opts: ExplainOptions) -> Gathered:
    """Read every source about the pod; ExplainInputError when an input cannot be read."""
    namespace, name = opts.pod_ref()
    raw = read_meta_object(opts)
    cni_dir = cni_dir_of(opts, raw)
    kubeconfig = kubeconfig_of(opts, raw)
    with api_client(kubeconfig) as (kube, server):
        pod = read_pod(kube, namespace, name, server) if kube is not None else None
        uid = pod.uid if pod is not None else ""
        count, sandboxes, chosen = read_sandboxes(cni_dir, namespace, name, uid)
        cluster = None
        if chosen is not None:
            cluster = next((d.conflist for d in chosen.attachments.delegates if d.is_default),
                           None)
        cfg, cluster_known = meta_config(opts, raw, cluster)
        planned, plan_error = None, None
        if kube is not None and pod is not None:
            planned, plan_error = plan(cfg, pod, kube, server, chosen)
        elif chosen is not None:
            planned = cached_plan(chosen)
    g = Gathered(namespace=namespace, name=name, cfg=cfg, config_source=opts.config,
                 cluster_known=cluster_known, api=server,
                 api_note="" if kube is not None else
                 ("--no-api" if not opts.use_api else "no kubeconfig (--kubeconfig, "
                  "$KUBECONFIG or the netattach config's \"kubeconfig\")"),
                 pod=pod, pod_found=(pod is not None) if kube is not None else None,
                 cache_count=count, sandboxes=sandboxes, chosen=chosen, planned=planned,
                 plan_error=plan_error)
    if pod is not None:
        status, status_error = read_status(pod)
        g = replace(g, status=status, status_error=status_error)
    if planned is not None:
        from netattach.attach.delegate_cache import PodAttachments

        base = chosen.attachments if chosen else PodAttachments(
            "", "", namespace, name, uid, ())
        findings, error = preflight(replace(base, delegates=tuple(p.delegate for p in planned)),
                                    cfg, attached=chosen is not None and chosen.netns_exists)
        g = replace(g, preflight=findings, preflight_error=error)
    delegates = [p.delegate for p in planned or ()]
    results: dict[str, Any] = {}
    if chosen is not None:
        results = read_results(cfg.cni_dir, chosen.attachments)
        delegates += list(chosen.attachments.delegates)
        g = replace(g, results=results, netns=read_netns(chosen.attachments.netns)
                    if chosen.attachments.netns else None)
    names = node_device_names([d for d in delegates if not _is_stand_in(d)], results)
    return replace(g, node=read_node_devices(names))

