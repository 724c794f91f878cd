"""The meta plugin (`"type": "netattach"`): every network a pod asks for, Multus-compatible.

ADD: wait for the default network, read the pod, plan the attachments, save the plan,
run each delegate in order (rolling everything back on a failure), apply default-route,
write network-status. DEL works from the saved plan, so it needs neither the pod, the
NADs nor the API server. One function per step, in the order they run.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netattach.cni import version as versions
from netattach.cni.cache import ResultCache
from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError, Code
from netattach.cni.invoke import ExecExecutor, Invoker, RuntimeConf
from netattach.cni.request import Request
from netattach.cni.skel import BasePlugin
from netattach.cni.types import Interface, Result

from .config import MetaConfig
from .default_route import adjusted_result, apply_in_pod, wants_default_route
from .delegate_cache import Delegate, DelegateCache, PodAttachments
from .executor import HybridExecutor
from .plan import NetworkNotFound, PodInfo, error_prefix, plan_attachments

log = logging.getLogger("netattach")

READINESS_TIMEOUT = 45.0
POD_LOOKUP_ATTEMPTS = 10
POD_LOOKUP_INTERVAL = 0.25
POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"

# cfg -> an object with KubeClient's get_pod/get_nad/set_network_status/record_event/close
KubeFactory = Callable[[MetaConfig], Any]


@dataclass(frozen=True)
class Context:
    """What one call works with: its config, the delegate runner and the caches."""

    cfg: MetaConfig
    invoker: Invoker
    cache: DelegateCache
    kube_factory: KubeFactory | None = None

    @classmethod
    def build(cls, request: Request, kube_factory: KubeFactory | None = None) -> Context:
        cfg = MetaConfig.from_netconf(request.config)
        path = tuple(p for p in (cfg.bin_dir, *request.path) if p)
        executor = HybridExecutor(external=ExecExecutor(chroot_dir=cfg.chroot_dir))
        invoker = Invoker(path=path, executor=executor, cache=ResultCache(Path(cfg.cni_dir)))
        return cls(cfg, invoker, DelegateCache(Path(cfg.cni_dir)), kube_factory)

    def kube(self) -> Any:
        """A KubeClient, or None when no kubeconfig is configured (delegates only)."""
        if not self.cfg.kubeconfig:
            return None
        if self.kube_factory is not None:  # the daemon's shared, cached client
            return self.kube_factory(self.cfg)
        from netattach.kube.client import KubeClient

        return KubeClient.from_kubeconfig(self.cfg.kubeconfig)


def _prefix(att: PodAttachments, uid: str, net: str) -> str:
    return error_prefix(att.pod_namespace, att.pod_name, uid, net)


def _runtime_conf(att: PodAttachments, d: Delegate) -> RuntimeConf:
    return RuntimeConf(att.container_id, att.netns, d.ifname, d.cni_args, d.capability_args)


class MetaPlugin(BasePlugin):
    """`kube_factory(cfg)`, if given, supplies the API client instead of one per call from
    the kubeconfig (the node daemon passes its watch caches); its `close()` is called
    after each use."""

    type_name = "netattach"

    def __init__(self, kube_factory: KubeFactory | None = None) -> None:
        self._kube_factory = kube_factory

    # -- ADD ---------------------------------------------------------------------------
    def add(self, request: Request) -> Result:
        ctx = Context.build(request, self._kube_factory)
        configure_logging(ctx.cfg)
        wait_for_readiness(ctx.cfg.readiness_indicator_file)
        kube = ctx.kube()
        try:
            pod = lookup_pod(request, kube, ctx.cfg)
            if pod is False:  # the pod is gone already: nothing to attach (as Multus)
                return Result(interfaces=(Interface(request.ifname, sandbox=request.netns),))
            get_nad = (lambda ns, name: kube.get_nad(ns, name).config) if kube else None
            try:
                att = plan_attachments(ctx.cfg, request, pod or None, get_nad)
            except CNIError as err:
                if kube and pod and isinstance(err, NetworkNotFound):
                    kube.record_event(kube.get_pod(pod.namespace, pod.name), "Warning",
                                      "NoNetworkFound", err.msg)
                raise
            # -- pre-ADD checks (netattach.attach.preflight): culprit + fix, nothing attached
            from .preflight import enforce_before_add

            enforce_before_add(att, ctx.cfg, kube)
            # --
            ctx.cache.save(att)
            results = add_delegates(ctx, att)
            results = apply_default_routes(ctx, att, results)
            if kube and pod and pod.namespace not in ctx.cfg.system_namespaces:
                publish_status(kube, att, results)
            return results[0]
        finally:
            if kube is not None:
                kube.close()

    # -- DEL ---------------------------------------------------------------------------
    def delete(self, request: Request) -> None:
        ctx = Context.build(request, self._kube_factory)
        configure_logging(ctx.cfg)
        att = ctx.cache.load(request.container_id)
        if att is None:
            att = replan_for_delete(ctx, request)
            if att is None:
                return
        att = replace(att, netns=request.netns)
        errors = del_delegates(ctx, att, reversed(att.delegates))
        if errors and ctx.cfg.retry_delete_on_error:
            raise errors[0]
        ctx.cache.remove(request.container_id)
        if errors:
            raise CNIError(errors[0].code, "; ".join(e.msg for e in errors),
                           "; ".join(e.details for e in errors if e.details))

    # -- CHECK -------------------------------------------------------------------------
    def check(self, request: Request) -> None:
        ctx = Context.build(request, self._kube_factory)
        configure_logging(ctx.cfg)
        att = ctx.cache.load(request.container_id)
        if att is None:
            raise CNIError(Code.INTERNAL, f"no attachments recorded for container "
                           f"{request.container_id}", f"{ctx.cache.path(request.container_id)} "
                           "is missing: was the pod added by netattach on this node?")
        att = replace(att, netns=request.netns)
        for d in att.delegates:
            conflist = NetConfList.from_bytes(d.conflist)
            if not versions.at_least(conflist.cni_version, "0.4.0"):
                log.info("CHECK %s: skipping network %r (%s): cniVersion %s has no CHECK",
                         request.container_id, d.network, d.ifname, conflist.cni_version)
                continue
            try:
                ctx.invoker.check(conflist, _runtime_conf(att, d))
            except CNIError as err:
                raise CNIError(err.code, f"{_prefix(att, att.pod_uid, d.network)}: error "
                               f"checking network {d.network!r} ({d.ifname}): {err.msg}",
                               err.details) from None

    # -- GC and STATUS: forwarded to every delegate network ----------------------------
    def gc(self, request: Request) -> None:
        ctx = Context.build(request, self._kube_factory)
        valid = {a.container_id for a in request.config.valid_attachments or ()}
        errors: list[str] = []
        networks: dict[str, NetConfList] = {}
        attachments: list[tuple[str, str]] = []
        for att in ctx.cache.all():
            for d in att.delegates:
                networks.setdefault(d.network, NetConfList.from_bytes(d.conflist))
                if att.container_id in valid:
                    attachments.append((att.container_id, d.ifname))
            if att.container_id not in valid:
                errs = del_delegates(ctx, att, reversed(att.delegates))
                errors += [str(e) for e in errs]
                if not errs:
                    ctx.cache.remove(att.container_id)
        for conflist in networks.values():
            try:
                ctx.invoker.gc(conflist, attachments)
            except CNIError as err:
                errors.append(f"network {conflist.name!r}: {err}")
        if errors:
            raise CNIError(Code.INTERNAL, "GC of netattach delegates failed", "; ".join(errors))

    def status(self, request: Request) -> None:
        ctx = Context.build(request, self._kube_factory)
        seen: set[str] = set()
        for att in ctx.cache.all():
            for d in att.delegates:
                if d.network not in seen:
                    seen.add(d.network)
                    ctx.invoker.status(NetConfList.from_bytes(d.conflist))
        if ctx.cfg.cluster_network and "/" in ctx.cfg.cluster_network:
            from .networks import conf_from_path

            data = conf_from_path(ctx.cfg.cluster_network)
            conflist = NetConfList.from_bytes(data)
            if conflist.name not in seen:
                ctx.invoker.status(conflist)


# -- the steps ---------------------------------------------------------------------------
def configure_logging(cfg: MetaConfig) -> None:
    """Multus's logFile/logLevel/logToStderr on the stdlib logger (default: errors only)."""
    level = {"debug": logging.DEBUG, "verbose": logging.INFO, "error": logging.ERROR,
             "panic": logging.CRITICAL}.get(cfg.log_level.lower(), logging.ERROR)
    log.setLevel(level)
    if log.handlers:
        return
    fmt = logging.Formatter("%(asctime)s netattach %(levelname)s %(message)s")
    if cfg.log_file:
        handler: logging.Handler = logging.FileHandler(cfg.log_file)
        handler.setFormatter(fmt)
        log.addHandler(handler)
    if cfg.log_to_stderr:
        handler = logging.StreamHandler()
        handler.setFormatter(fmt)
        log.addHandler(handler)


def wait_for_readiness(path: str, timeout: float = READINESS_TIMEOUT) -> None:
    """Block until the default network's readiness indicator file exists."""
    if not path:
        return
    deadline = time.monotonic() + float(os.environ.get("NETATTACH_READINESS_TIMEOUT", timeout))
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise CNIError(Code.TRY_AGAIN_LATER,
                           f"have you checked that your default network is ready? still waiting "
                           f"for readinessindicatorfile @ {path}",
                           "the cluster's default network has not written its readiness file; "
                           "check its pods on this node")
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def lookup_pod(request: Request, kube: Any, cfg: MetaConfig) -> PodInfo | None | bool:
    """The pod from CNI_ARGS: PodInfo, None without pod args or API, False when it is gone."""
    args = request.args
    if not (args.pod_namespace and args.pod_name):
        return None
    annotations = request.config.runtime_config.get(POD_ANNOTATIONS_CAPABILITY)
    if kube is None:
        if isinstance(annotations, dict):
            return PodInfo(args.pod_namespace, args.pod_name, args.pod_uid, annotations)
        return None
    from netattach.kube.errors import KubeError, NotFound

    for attempt in range(POD_LOOKUP_ATTEMPTS):
        try:
            pod = kube.get_pod(args.pod_namespace, args.pod_name)
            break
        except NotFound:
            if attempt == POD_LOOKUP_ATTEMPTS - 1:
                log.warning("pod %s/%s not found: it was deleted before its network was set "
                            "up; returning an empty result", args.pod_namespace, args.pod_name)
                return False
            time.sleep(POD_LOOKUP_INTERVAL)
        except KubeError as e:
            raise CNIError(Code.TRY_AGAIN_LATER,
                           f"[{args.pod_namespace}/{args.pod_name}]: cannot read the pod: {e}",
                           "the Kubernetes API is unreachable or refused; the runtime will "
                           "retry. Check the kubeconfig in the netattach config") from None
    if args.pod_uid and pod.uid != args.pod_uid and not pod.is_static:
        raise CNIError(Code.INTERNAL,
                       f"[{pod.namespace}/{pod.name}]: expected pod UID {args.pod_uid!r} but "
                       f"got {pod.uid!r} from the API",
                       "the pod was deleted and re-created with the same name; the runtime "
                       "will retry with the new pod")
    return PodInfo(pod.namespace, pod.name, pod.uid,
                   annotations if isinstance(annotations, dict) else dict(pod.annotations))


def add_delegates(ctx: Context, att: PodAttachments) -> list[Result]:
    """ADD every delegate in order; on a failure DEL what was added, in reverse, and raise."""
    results: list[Result] = []
    for index, d in enumerate(att.delegates):
        try:
            require_free_ifname(att, d)
        except CNIError as err:  # nothing of this delegate exists yet: keep the pod's link
            raise roll_back(ctx, att, d, index, err) from None
        try:
            result = ctx.invoker.add(NetConfList.from_bytes(d.conflist), _runtime_conf(att, d))
            check_requested_ips(d, result)
        except CNIError as err:
            raise roll_back(ctx, att, d, index + 1, err) from None
        results.append(result)
        log.info("Add: %s:%s:%s(%s):%s %s", att.pod_namespace, att.pod_name, att.pod_uid,
                 d.network, d.ifname, result.to_json())
    return results


def require_free_ifname(att: PodAttachments, d: Delegate) -> None:
    """The pod must not have `d.ifname` yet (Multus's validateIfName)."""
    from netattach.linux import NetnsNotFound, netlink_session

    try:
        with netlink_session(att.netns) as nl:
            if nl.find_link(d.ifname) is not None:
                raise CNIError(Code.INTERNAL,
                               f"interface name {d.ifname} already exists in the pod",
                               f"network {d.name} would be {d.ifname}, which the pod "
                               "already has; request another \"interface\"")
    except NetnsNotFound:
        raise CNIError(Code.INVALID_NETNS, f"netns {att.netns} does not exist",
                       "the sandbox's network namespace is gone") from None


def roll_back(ctx: Context, att: PodAttachments, failed: Delegate, count: int,
              err: CNIError) -> CNIError:
    """DEL the first `count` delegates in reverse and drop the cache; the error to return."""
    del_delegates(ctx, att, reversed(att.delegates[:count]))
    ctx.cache.remove(att.container_id)
    return CNIError(err.code, f"{_prefix(att, att.pod_uid, failed.network)}: error adding "
                    f'container to network "{failed.network}": {err.msg}', err.details)


def check_requested_ips(d: Delegate, result: Result) -> None:
    """The network spec: requested `ips` must be exactly what the attachment got."""
    if not d.requested_ips:
        return
    wanted = {ipaddress.ip_interface(ip).ip if "/" in ip else ipaddress.ip_address(ip)
              for ip in d.requested_ips}
    got = {ip.address.ip for ip in result.ips}
    if wanted != got:
        types = [p.get("type") for p in NetConfList.from_bytes(d.conflist).plugins]
        raise CNIError(Code.INTERNAL,
                       f"requested ips {', '.join(d.requested_ips)} but the attachment got "
                       f"{', '.join(sorted(map(str, got))) or 'no address'}",
                       f"network {d.name} (plugins {', '.join(map(str, types))}) ignored the "
                       "request: use an IPAM that honours it (static, or host-local with the IP "
                       'in a range) and declare "capabilities": {"ips": true}')


def del_delegates(ctx: Context, att: PodAttachments, delegates: Any) -> list[CNIError]:
    """DEL each delegate, continuing past failures; return the failures."""
    errors = []
    for d in delegates:
        try:
            ctx.invoker.delete(NetConfList.from_bytes(d.conflist), _runtime_conf(att, d))
        except CNIError as err:
            errors.append(CNIError(err.code, f"{_prefix(att, att.pod_uid, d.network)}: error "
                                   f"deleting network \"{d.network}\" ({d.ifname}): {err.msg}",
                                   err.details))
    return errors


def replan_for_delete(ctx: Context, request: Request) -> PodAttachments | None:
    """No cache: recompute from the pod and the API if possible, else give up quietly."""
    try:
        kube = ctx.kube()
    except Exception as e:  # noqa: BLE001 - DEL must not fail for lack of an API
        log.warning("DEL %s: no delegate cache and no API client (%s): nothing to delete",
                    request.container_id, e)
        return None
    try:
        pod = lookup_pod(request, kube, ctx.cfg) if kube else None
        if not pod:
            log.warning("DEL %s: failed to get the cached delegates file %s and the pod; "
                        "cannot properly delete", request.container_id,
                        ctx.cache.path(request.container_id))
            return None
        get_nad = lambda ns, name: kube.get_nad(ns, name).config  # noqa: E731
        return plan_attachments(ctx.cfg, request, pod, get_nad)
    except CNIError as e:
        log.warning("DEL %s: cannot recompute the attachments (%s); nothing to delete",
                    request.container_id, e)
        return None
    finally:
        if kube is not None:
            kube.close()


def apply_default_routes(ctx: Context, att: PodAttachments, results: list[Result]
                         ) -> list[Result]:
    if not wants_default_route(att.delegates):
        return results
    from netattach.linux import LinuxNetError

    out = []
    for d, result in zip(att.delegates, results, strict=True):
        after = adjusted_result(d, result, True)
        try:
            apply_in_pod(att.netns, d, result, after)
        except LinuxNetError as e:  # e.g. a gateway outside the interface's subnets
            addrs = ", ".join(str(ip.address) for ip in result.ips) or "no address"
            err = CNIError(Code.INTERNAL, f"cannot set the default route of {d.ifname} via "
                           f"{', '.join(d.default_route or ()) or 'its own gateway'}: {e}",
                           f"{d.ifname} has {addrs}; the pod's \"default-route\" for {d.name} "
                           "must name a gateway reachable from those addresses")
            raise roll_back(ctx, att, d, len(att.delegates), err) from None
        if after != result:
            entry = ctx.invoker.cache.read(d.network, att.container_id, d.ifname)
            if entry is not None:
                ctx.invoker.cache.write(replace(entry, result=after.to_json()))
        out.append(after)
    return out


def publish_status(kube: Any, att: PodAttachments, results: list[Result]) -> None:
    """Write network-status and one AddedInterface event per attachment."""
    from netattach.kube.errors import KubeError
    from netattach.kube.network_status import format_network_status

    from .status import statuses_for

    entries = [s for d, r in zip(att.delegates, results, strict=True) for s in statuses_for(d, r)]
    try:
        kube.set_network_status(att.pod_namespace, att.pod_name, att.pod_uid,
                                format_network_status(entries))
        pod = kube.get_pod(att.pod_namespace, att.pod_name)
    except KubeError as e:
        log.error("cannot write network-status of %s: %s", att.pod_ref, e)
        return
    for d, r in zip(att.delegates, results, strict=True):
        if r.interfaces or r.ips:
            ips = ",".join(str(ip.address) for ip in r.ips)
            kube.record_event(pod, "Normal", "AddedInterface",
                              f"Add {d.ifname} [{ips}] from {d.name}")
