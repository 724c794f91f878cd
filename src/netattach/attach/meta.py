"""The meta plugin (`"type": "netattach"`): every network a pod asks for, Multus-compatible.

ADD: wait for the default network, read the pod (once), plan the attachments, run the
pre-ADD checks, save the plan, run each delegate in order, apply default-route, write
network-status. Any failure after the plan is saved undoes everything this ADD did. DEL
works from the saved plan, so it needs neither the pod, the NADs nor the API server. One
function per step, in the order they run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from netattach.cni.errors import CNIError, Code, TryAgainLater
from netattach.cni.request import Request
from netattach.cni.rollback import rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import Interface, Result

from .config import MetaConfig
from .default_route import adjusted_result, default_gateways, wants_default_route
from .delegate_cache import DelegateCache, PodAttachments
from .delegates import (
    Delegation,
    add_delegates,
    add_error,
    check_delegates,
    del_delegates,
)
from .plan import NetworkNotFound, plan_attachments
from .pod import PodLookup, lookup_pod

if TYPE_CHECKING:
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

log = logging.getLogger("netattach")

READINESS_TIMEOUT = 45.0

# cfg -> the API to use for this call; the node daemon passes its watch caches
KubeFactory = Callable[[MetaConfig], "KubeAPI"]


@dataclass(frozen=True)
class Context:
    """What one call works with: its config, how delegates run, the delegate cache."""

    cfg: MetaConfig
    delegation: Delegation
    cache: DelegateCache
    kube_factory: KubeFactory | None = None

    @classmethod
    def build(cls, request: Request, kube_factory: KubeFactory | None = None) -> Context:
        cfg = MetaConfig.from_netconf(request.config)
        return cls(cfg, Delegation.for_config(cfg, request.path),
                   DelegateCache(Path(cfg.cni_dir)), kube_factory)

    @contextmanager
    def kube(self) -> Iterator[KubeAPI | None]:
        """The API for this call (None without a kubeconfig: delegates only), closed after."""
        if not self.cfg.kubeconfig:
            yield None
            return
        if self.kube_factory is not None:
            api = self.kube_factory(self.cfg)
        else:
            from netattach.kube.client import KubeClient
            from netattach.kube.errors import KubeError, Unreachable

            try:
                api = KubeClient.from_kubeconfig(self.cfg.kubeconfig)
            except Unreachable as e:
                raise TryAgainLater(e.message, e.hint or "the runtime will retry") from None
            except KubeError as e:
                raise CNIError(Code.INVALID_NETWORK_CONFIG, f"cannot use the kubeconfig "
                               f"{self.cfg.kubeconfig}: {e.message}", e.hint or "fix "
                               '"kubeconfig" in the netattach CNI config') from None
        try:
            yield api
        finally:
            api.close()


class MetaPlugin(BasePlugin):
    """`kube_factory(cfg)`, if given, supplies the API client instead of one per call from
    the kubeconfig (the node daemon passes its watch caches). `own_logging`: configure the
    process's logging from the config's logFile/logLevel (the thin executable; a daemon
    configures its own once)."""

    type_name = "netattach"

    def __init__(self, kube_factory: KubeFactory | None = None, own_logging: bool = True
                 ) -> None:
        self._kube_factory = kube_factory
        self._own_logging = own_logging

    def _context(self, request: Request) -> Context:
        ctx = Context.build(request, self._kube_factory)
        if self._own_logging:
            configure_logging(ctx.cfg)
        return ctx

    # -- ADD ---------------------------------------------------------------------------
    def add(self, request: Request) -> Result:
        from netattach.linux import shared_sessions

        ctx = self._context(request)
        wait_for_readiness(ctx.cfg.readiness_indicator_file)
        with ctx.kube() as kube, shared_sessions():  # one netlink session per namespace
            lookup = lookup_pod(request, kube, ctx.cfg)
            if lookup.gone:  # deleted before its network was set up: nothing to attach
                return Result(interfaces=(Interface(request.ifname, sandbox=request.netns),))
            att = plan(ctx, request, lookup, kube)
            from .preflight import enforce_before_add

            enforce_before_add(att, ctx.cfg, kube, lookup.pod)
            return attach(ctx, att, kube, lookup.pod)

    # -- DEL ---------------------------------------------------------------------------
    def delete(self, request: Request) -> None:
        try:
            ctx = self._context(request)
        except CNIError as err:  # ADD refused this config: it attached nothing
            log.warning("DEL %s: ignoring a config ADD would refuse: %s", request.container_id,
                        err)
            return
        att = ctx.cache.load(request.container_id)
        if att is None:
            if not (request.netns and os.path.exists(request.netns)):
                # no record and no pod netns (containerd's second DEL): nothing of the
                # sandbox is left to find; thin mode answers this before any import
                # (entry.nothing_to_delete), thick mode here
                return
            att = replan_for_delete(ctx, request)
        if att is None:
            return
        att = replace(att, netns=request.netns)
        from netattach.linux import shared_sessions

        with shared_sessions():
            errors = del_delegates(ctx.delegation, att, reversed(att.delegates))
        if errors and ctx.cfg.retry_delete_on_error:
            raise errors[0]
        ctx.cache.remove(request.container_id)
        clear_network_status(ctx, request)
        if errors:
            raise CNIError(errors[0].code, "; ".join(e.msg for e in errors),
                           "; ".join(e.details for e in errors if e.details))

    # -- CHECK -------------------------------------------------------------------------
    def check(self, request: Request) -> None:
        ctx = self._context(request)
        att = ctx.cache.load(request.container_id)
        if att is None:
            raise CNIError(Code.INTERNAL, f"no attachments recorded for container "
                           f"{request.container_id}", f"{ctx.cache.path(request.container_id)} "
                           "is missing: was the pod added by netattach on this node?")
        check_delegates(ctx.delegation, replace(att, netns=request.netns))

    # -- GC and STATUS: forwarded to every delegate network ----------------------------
    def gc(self, request: Request) -> None:
        ctx = self._context(request)
        valid = {a.container_id for a in request.config.valid_attachments or ()}
        errors: list[str] = []
        networks = {}
        attachments: list[tuple[str, str]] = []
        for att in ctx.cache.all():
            for d in att.delegates:
                networks.setdefault(d.network, d.conflist)
                if att.container_id in valid:
                    attachments.append((att.container_id, d.ifname))
            if att.container_id not in valid:
                errs = del_delegates(ctx.delegation, att, reversed(att.delegates))
                errors += [str(e) for e in errs]
                if not errs:
                    ctx.cache.remove(att.container_id)
        for conflist in networks.values():
            try:
                ctx.delegation.invoker.gc(conflist, attachments)
            except CNIError as err:
                errors.append(f"network {conflist.name!r}: {err}")
        if errors:
            raise CNIError(Code.INTERNAL, "GC of netattach delegates failed", "; ".join(errors))

    def status(self, request: Request) -> None:
        ctx = self._context(request)
        seen: set[str] = set()
        for att in ctx.cache.all():
            for d in att.delegates:
                if d.network not in seen:
                    seen.add(d.network)
                    ctx.delegation.invoker.status(d.conflist)
        if ctx.cfg.cluster_network and "/" in ctx.cfg.cluster_network:
            from .networks import conf_from_path

            conflist = conf_from_path(ctx.cfg.cluster_network)
            if conflist.name not in seen:
                ctx.delegation.invoker.status(conflist)


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
        try:
            handler: logging.Handler = logging.FileHandler(cfg.log_file)
        except OSError as e:
            raise CNIError(Code.INVALID_NETWORK_CONFIG, f"netattach config: cannot open "
                           f"logFile {cfg.log_file}: {e.strerror}",
                           "point logFile at a writable file, or remove it") from None
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
            raise TryAgainLater(f"have you checked that your default network is ready? still "
                                f"waiting for readinessindicatorfile @ {path}",
                                "the cluster's default network has not written its readiness "
                                "file; check its pods on this node")
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def plan(ctx: Context, request: Request, lookup: PodLookup, kube: KubeAPI | None
         ) -> PodAttachments:
    """The attachments of the pod; a missing NAD is also a NoNetworkFound event."""
    get_nad = None
    if kube is not None:
        def get_nad(namespace: str, name: str) -> str:
            from netattach.kube.errors import KubeError, NotFound

            try:
                return kube.get_nad(namespace, name).config
            except NotFound:
                raise
            except KubeError as e:
                raise TryAgainLater(f"cannot read NetworkAttachmentDefinition {namespace}/"
                                    f"{name}: {e}", "the Kubernetes API is unreachable or "
                                    "refused; the runtime will retry") from None
    try:
        return plan_attachments(ctx.cfg, request, lookup.pod, get_nad)
    except NetworkNotFound as err:
        if kube is not None and lookup.pod is not None:
            kube.record_event(lookup.pod, "Warning", "NoNetworkFound", err.msg)
        raise


def attach(ctx: Context, att: PodAttachments, kube: KubeAPI | None, pod: Pod | None
           ) -> Result:
    """Save the plan, ADD the delegates, default routes, network-status; all or nothing."""
    previous = ctx.cache.load(att.container_id)  # a repeated ADD must keep the first's plan
    with rollback(f"ADD of {att.pod_ref}") as undo:
        ctx.cache.save(att)
        undo.defer(restore_cache, ctx.cache, att.container_id, previous)
        results = add_delegates(ctx.delegation, att, undo)
        results = apply_default_routes(ctx.delegation, att, results)
        if kube is not None and pod is not None \
                and pod.namespace not in ctx.cfg.system_namespaces:
            from .status import publish_status

            publish_status(kube, pod, att, results)
    return results[0]


def restore_cache(cache: DelegateCache, container_id: str,
                  previous: PodAttachments | None) -> None:
    """Undo of saving the plan: the earlier ADD's plan back, or no entry."""
    if previous is None:
        cache.remove(container_id)
    else:
        cache.save(previous)


def apply_default_routes(delegation: Delegation, att: PodAttachments, results: list[Result]
                         ) -> list[Result]:
    """Move default routes to the attachments that asked (the annotation's default-route)."""
    if not wants_default_route(att.delegates):
        return results
    from netattach.linux import LinuxNetError, set_default_routes

    out = []
    for d, result in zip(att.delegates, results, strict=True):
        after = adjusted_result(d, result, True)
        if after.routes != result.routes:
            try:
                set_default_routes(att.netns, d.ifname, default_gateways(after))
            except LinuxNetError as e:  # e.g. a gateway outside the interface's subnets
                addrs = ", ".join(str(ip.address) for ip in result.ips) or "no address"
                raise add_error(att, d, CNIError(
                    Code.INTERNAL, f"cannot set the default route of {d.ifname} via "
                    f"{', '.join(d.default_route or ()) or 'its own gateway'}: {e}",
                    f"{d.ifname} has {addrs}; the pod's \"default-route\" for {d.name} "
                    "must name a gateway reachable from those addresses")) from None
            delegation.record_result(att, d, after)  # CHECK compares with what is there
        out.append(after)
    return out


def replan_for_delete(ctx: Context, request: Request) -> PodAttachments | None:
    """No cache: recompute from the pod and the API if possible, else give up quietly."""
    try:
        with ctx.kube() as kube:
            lookup = lookup_pod(request, kube, ctx.cfg, retry=False) if kube else PodLookup()
            if lookup.pod is None:
                log.warning("DEL %s: failed to get the cached delegates file %s and the pod; "
                            "cannot properly delete", request.container_id,
                            ctx.cache.path(request.container_id))
                return None
            assert kube is not None
            return plan_attachments(ctx.cfg, request, lookup.pod,
                                    lambda ns, name: kube.get_nad(ns, name).config)
    except Exception as e:  # noqa: BLE001 - DEL must not fail for lack of an API or a NAD
        log.warning("DEL %s: cannot recompute the attachments (%s); nothing to delete",
                    request.container_id, e)
        return None


def clear_network_status(ctx: Context, request: Request) -> None:
    """As Multus thin's DEL: while the pod and its netns exist, its network-status is emptied
    (best effort; never fails the DEL). Not for a terminating pod: it is about to go."""
    args = request.args
    if not (ctx.cfg.kubeconfig and args.pod_namespace and args.pod_name and request.netns
            and os.path.exists(request.netns)) or args.pod_namespace in ctx.cfg.system_namespaces:
        return
    try:
        with ctx.kube() as kube:
            assert kube is not None
            from netattach.kube.errors import KubeError

            from .status import clear_status

            try:
                pod = kube.get_pod(args.pod_namespace, args.pod_name)
            except KubeError:
                return
            # a terminating pod keeps what it had: it goes away (and it saves the write)
            if (not args.pod_uid or pod.uid == args.pod_uid) and not pod.terminating:
                clear_status(kube, pod)
    except Exception as e:  # noqa: BLE001 - DEL must not fail on the status
        log.warning("DEL %s: network-status not cleared: %s", request.container_id, e)
