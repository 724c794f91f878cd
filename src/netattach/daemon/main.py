"""`netattach daemon`: wire the pieces together, serve until SIGTERM, clean up.

Startup: logs, metrics, shim install, the socket, the watch caches, config generation.
Shutdown (SIGTERM/SIGINT): not ready, generated config removed, in-flight requests drained
(up to `shutdown_grace`), socket removed. All state that matters is on disk (delegate and
result caches), so a daemon killed with SIGKILL restarts cleanly.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DaemonConfig
from .metrics import Metrics

log = logging.getLogger("netattach.daemon")

CACHE_SYNC_TIMEOUT = 20.0


@dataclass
class State:
    """Readiness inputs, read by /readyz."""

    cache: Any = None
    shutting_down: bool = False

    def ready(self) -> tuple[bool, str]:
        if self.shutting_down:
            return False, "shutting down"
        if self.cache is not None and not self.cache.synced():
            return False, "waiting for the pod and NetworkAttachmentDefinition caches to sync"
        return True, ""


def plugin_factory(cfg: DaemonConfig, cache: Any) -> Any:
    """want_uid -> MetaPlugin using the shared cache (for the daemon's own kubeconfig)."""
    from netattach.attach.meta import MetaPlugin

    def for_uid(want_uid: str) -> Any:
        if cache is None:
            return MetaPlugin()

        def kube(meta_cfg: Any) -> Any:
            if meta_cfg.kubeconfig != cfg.kubeconfig:  # a different cluster: no cache
                from netattach.kube.client import KubeClient

                return KubeClient.from_kubeconfig(meta_cfg.kubeconfig)
            return cache.view(want_uid)

        return MetaPlugin(kube_factory=kube)

    return for_uid


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


@contextmanager
def kube_cache(cfg: DaemonConfig, metrics: Metrics) -> Iterator[Any]:
    if not cfg.kubeconfig:
        log.warning("no kubeconfig: the daemon runs only clusterNetwork/delegates, no NADs")
        yield None
        return
    from netattach.kube.client import KubeClient

    from .cache import KubeCache

    client = KubeClient.from_kubeconfig(cfg.kubeconfig)
    cache = KubeCache(client, cfg.node_name, metrics)
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
    from .server import App, SocketDirError, SocketInUse, UnixHTTPServer
    from .service import CniService

    logs.setup(cfg.log_format, cfg.log_level)
    metrics = Metrics.create()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = State()

    if cfg.cni_bin_dir:
        from netattach.install import install_shim

        log.info("installed %s", install_shim(Path(cfg.cni_bin_dir)))

    with ExitStack() as stack:
        cache = stack.enter_context(kube_cache(cfg, metrics))
        state.cache = cache
        service = CniService(cfg, metrics, plugin_factory(cfg, cache))
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
        while not stop.wait(1.0):
            pass
        log.info("shutting down: draining %d request(s) for up to %.0fs",
                 service.admission.pending, cfg.shutdown_grace)
        state.shutting_down = True
        if confgen is not None:
            confgen.join(timeout=5)
        if manager is not None and manager.remove():
            log.info("removed %s", manager.target)
        if not service.admission.wait_idle(cfg.shutdown_grace):
            log.warning("%d request(s) still running at exit", service.admission.pending)
    log.info("stopped")
    return 0
