"""`netattach daemon`: wire the pieces together, serve until SIGTERM, clean up.

Startup: logs, metrics, shim install, the socket, the watch caches, config generation.
Shutdown (SIGTERM/SIGINT): not ready, in-flight requests drained (up to `shutdown_grace`),
socket removed. The generated conflist stays: while the daemon is away (upgrade, OOM kill,
node reboot order) the runtime keeps calling netattach-shim, which answers "try again
later" (code 11), so no pod starts on the plain cluster network without the networks it
asked for. Only `netattach uninstall` and a missing readiness indicator file remove it.
All state that matters is on disk (delegate and result caches), so a daemon killed with
SIGKILL restarts cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DaemonConfig, DaemonConfigError
from .metrics import Metrics

if TYPE_CHECKING:
    from netattach.attach.config import MetaConfig
    from netattach.cni.skel import Plugin
    from netattach.kube.api import KubeAPI

    from .service import Execute
    from .watch_cache import KubeCache
    from .workers import WorkerPool

log = logging.getLogger("netattach.daemon")

CACHE_SYNC_TIMEOUT = 20.0


@dataclass
class State:
    """Readiness inputs, read by /readyz."""

    cache: KubeCache | None = None
    shutting_down: bool = False

    def ready(self) -> tuple[bool, str]:
        if self.shutting_down:
            return False, "shutting down"
        if self.cache is not None and not self.cache.synced():
            return False, "waiting for the pod and NetworkAttachmentDefinition caches to sync"
        return True, ""


def plugin_factory(cfg: DaemonConfig, cache: KubeCache | None) -> Callable[[str], Plugin]:
    """want_uid -> the meta plugin on the shared watch caches (for the daemon's own
    credentials; a request naming another kubeconfig gets a client of its own)."""
    from netattach.attach.meta import MetaPlugin

    def for_uid(want_uid: str) -> Plugin:
        if cache is None:
            return MetaPlugin(own_logging=False)

        def kube(meta_cfg: MetaConfig) -> KubeAPI:
            if meta_cfg.kubeconfig != cfg.kubeconfig:  # a different cluster: no cache
                from netattach.kube.client import KubeClient

                return KubeClient.from_kubeconfig(meta_cfg.kubeconfig)
            return cache.view(want_uid)

        return MetaPlugin(kube_factory=kube, own_logging=False)

    return for_uid


def executor(cfg: DaemonConfig, cache: KubeCache | None) -> tuple[Execute, WorkerPool | None]:
    """How requests run: in `cfg.workers` worker processes (one per CPU by default: each
    has its own GIL), or on the daemon's own threads with workers 0."""
    from .service import in_process
    from .workers import WorkerPool, default_count

    count = default_count() if cfg.workers < 0 else cfg.workers
    if count == 0:
        return in_process(cfg, plugin_factory(cfg, cache)), None
    wire = {**cfg.to_wire(), "has_kube": cache is not None}
    pool = WorkerPool(count, wire, lambda want_uid: cache.view(want_uid) if cache else None)
    log.info("%d worker process(es)", count)
    return pool.run, pool


@contextmanager
def metrics_endpoint(address: str, metrics: Metrics) -> Iterator[None]:
    if not address:
        yield
        return
    from prometheus_client import start_http_server

    host, _, port = address.rpartition(":")
    server, thread = start_http_server(int(port), host.strip("[]") or "0.0.0.0",
                                       registry=metrics.registry)
    log.info("metrics on http://%s/metrics", address)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


def resolve_credentials(cfg: DaemonConfig, environ: Mapping[str, str]) -> DaemonConfig:
    """No kubeconfig configured, but in a pod with a service account: use the account, as
    client libraries do in a pod (so the DaemonSet needs no kubeconfig init container)."""
    if cfg.kubeconfig:
        return cfg
    from netattach.kube.client import KubeClient

    if not KubeClient.service_account_present(cfg.service_account_dir, environ):
        return cfg
    return cfg.using_service_account()


@contextmanager
def kube_cache(cfg: DaemonConfig, metrics: Metrics) -> Iterator[KubeCache | None]:
    if not cfg.kubeconfig:
        log.warning("no kubeconfig and no service account (%s/token with "
                    "KUBERNETES_SERVICE_HOST/PORT): the daemon runs only clusterNetwork/"
                    "delegates, no NADs", cfg.service_account_dir)
        yield None
        return
    from netattach.kube.client import KubeClient

    from .watch_cache import KubeCache

    if cfg.in_cluster_dir:
        client = KubeClient.from_service_account(cfg.in_cluster_dir)
        log.info("API server %s, as the pod's service account (%s)", client.server,
                 cfg.in_cluster_dir)
    else:
        client = KubeClient.from_kubeconfig(cfg.kubeconfig)
    cache = KubeCache(client, cfg.node_name, metrics, spool=Path(cfg.cni_dir) / "events")
    cache.start()
    try:
        yield cache
    finally:
        cache.stop()
        client.close()


def run(cfg: DaemonConfig) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    from . import logs
    from .confgen import ConfigManager
    from .hotplug import HotPlug
    from .server import App, SocketDirError, SocketInUse, UnixHTTPServer
    from .service import CniService

    logs.setup(cfg.log_format, cfg.log_level)
    try:
        cfg = resolve_credentials(cfg, os.environ)
    except DaemonConfigError as e:
        log.error("%s", e)
        return 2
    metrics = Metrics.create()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = State()

    if cfg.cni_bin_dir:
        from netattach.node.binaries import install_shim

        log.info("installed %s", install_shim(Path(cfg.cni_bin_dir)))

    with ExitStack() as stack:
        cache = stack.enter_context(kube_cache(cfg, metrics))
        state.cache = cache
        execute, pool = executor(cfg, cache)
        if pool is not None:
            stack.callback(pool.close)
        service = CniService(cfg, metrics, execute)
        try:
            server = UnixHTTPServer(cfg.socket_path, App(service, metrics, state.ready))
        except (SocketInUse, SocketDirError, OSError) as e:
            log.error("cannot serve on %s: %s", cfg.socket_path, e)
            return 1
        stack.callback(server.server_close)
        serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                 name="socket", daemon=True)
        serve.start()
        stack.callback(server.shutdown)
        log.info("serving CNI requests on %s (node %s)", cfg.socket_path,
                 cfg.node_name or "-")
        stack.enter_context(metrics_endpoint(cfg.metrics_address, metrics))
        manager = None
        confgen = None
        if cfg.cni_config_dir:
            manager = ConfigManager(Path(cfg.cni_config_dir), cfg.socket_dir, cfg.network_name,
                                    cfg.readiness_indicator_file, cfg.shim_config)
            confgen = threading.Thread(target=manager.run, args=(stop,), name="confgen",
                                       daemon=True)
            confgen.start()
        if cache is not None:
            started = time.monotonic()
            while not (stop.is_set() or cache.wait_synced(0.2)
                       or time.monotonic() - started > CACHE_SYNC_TIMEOUT):
                pass
            if cache.synced():
                log.info("caches synced in %.2fs: %s", time.monotonic() - started,
                         cache.sizes())
            else:
                log.warning("caches not synced yet; serving anyway (cache misses go to the "
                            "API server)")
            hotplug = HotPlug(cache, cfg.cni_dir, service.locks.hold)
            hotplug.start()
            stack.callback(hotplug.stop)
            hotplug.reconcile_all()  # what changed while the daemon was away
        while not stop.wait(1.0):
            if pool is not None:
                pool.restart_dead()
        log.info("shutting down: draining %d request(s) for up to %.0fs",
                 service.admission.pending, cfg.shutdown_grace)
        state.shutting_down = True
        if confgen is not None:
            confgen.join(timeout=5)
        if manager is not None and manager.target.exists():
            log.info("keeping %s: until a daemon is back, pod ADDs get code 11 (try again "
                     "later) instead of starting without their networks", manager.target)
        if not service.admission.wait_idle(cfg.shutdown_grace):
            log.warning("%d request(s) still running at exit", service.admission.pending)
    log.info("stopped")
    return 0
