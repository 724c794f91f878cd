"""`python -m netattach.daemon.worker FD`: one worker process of the daemon (see workers.py).

It runs requests with the same core as thin mode (`netattach.cni.skel.serve` on the meta
plugin), each on a thread, and reaches Kubernetes through the daemon (`ProxyKube`).
"""

from __future__ import annotations

import itertools
import logging
import socket
import sys
import threading
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .config import DaemonConfig
from .workers import Channel, error_from_wire, reply_to_wire

if TYPE_CHECKING:
    from netattach.attach.config import MetaConfig
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import NetworkAttachmentDefinition, Pod

log = logging.getLogger("netattach.daemon.worker")


class Calls:
    """This worker's questions to the daemon, each answered on the channel by id."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}

    def call(self, rid: int, method: str, *args: Any) -> Any:
        cid = next(self._ids)
        future: Future[Any] = Future()
        with self._lock:
            self._waiting[cid] = future
        self.channel.send(("kube", cid, rid, method, args))
        return future.result()

    def answer(self, cid: int, ok: bool, value: Any) -> None:
        with self._lock:
            future = self._waiting.pop(cid, None)
        if future is None:
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(error_from_wire(*value))

    def fail_all(self, why: str) -> None:
        from netattach.kube.errors import Unreachable

        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.set_exception(Unreachable(f"netattach daemon: {why}"))


class ProxyKube:
    """The daemon's KubeAPI (watch caches, one API client), from inside a worker."""

    def __init__(self, calls: Calls, rid: int) -> None:
        self._calls = calls
        self._rid = rid

    def get_pod(self, namespace: str, name: str) -> Pod:
        return self._calls.call(self._rid, "get_pod", namespace, name)  # type: ignore[no-any-return]

    def get_nad(self, namespace: str, name: str) -> NetworkAttachmentDefinition:
        return self._calls.call(self._rid, "get_nad", namespace, name)  # type: ignore[no-any-return]

    def list_pods(self, namespace: str = "", node_name: str = "") -> list[Pod]:
        return self._calls.call(self._rid, "list_pods", namespace, node_name)  # type: ignore[no-any-return]

    def list_nads(self, namespace: str = "") -> list[NetworkAttachmentDefinition]:
        return self._calls.call(self._rid, "list_nads", namespace)  # type: ignore[no-any-return]

    def local_pods(self, mentioning: Collection[str] | None = None) -> list[Pod] | None:
        return self._calls.call(self._rid, "local_pods",  # type: ignore[no-any-return]
                                None if mentioning is None else sorted(mentioning))

    def set_network_status(self, namespace: str, name: str, uid: str, status_json: str) -> bool:
        return bool(self._calls.call(self._rid, "set_network_status", namespace, name, uid,
                                     status_json))

    def record_event(self, pod: Pod, type_: str, reason: str, message: str) -> bool:
        return bool(self._calls.call(self._rid, "record_event", pod, type_, reason, message))

    def close(self) -> None:
        return None


def config_from_wire(raw: Mapping[str, Any]) -> DaemonConfig:
    values = dict(raw)
    for key in ("shim_config", "overrides"):
        values[key] = MappingProxyType(dict(values.get(key) or {}))
    return DaemonConfig(**values)


def serve_forever(channel: Channel, cfg: DaemonConfig, has_kube: bool) -> None:
    """Run the daemon's requests until the channel closes."""
    from netattach.attach.meta import MetaPlugin
    from netattach.cni.skel import serve

    from .logs import request_fields

    calls = Calls(channel)
    pool = ThreadPoolExecutor(max_workers=cfg.max_in_flight, thread_name_prefix="request")

    def run(rid: int, env: dict[str, str], stdin: bytes, fields: dict[str, str]) -> None:
        def kube(meta_cfg: MetaConfig) -> KubeAPI:
            if meta_cfg.kubeconfig != cfg.kubeconfig:  # a different cluster: a client here
                from netattach.kube.client import KubeClient

                return KubeClient.from_kubeconfig(meta_cfg.kubeconfig)
            return ProxyKube(calls, rid)

        plugin = MetaPlugin(kube_factory=kube if has_kube else None, own_logging=False)
        with request_fields(**fields):
            reply = serve(plugin, env, stdin, adjust=cfg.override)
        channel.send(("done", rid, reply_to_wire(reply)))

    try:
        while True:
            message = channel.recv()
            if message[0] == "run":
                _, rid, env, stdin, _want_uid, fields = message
                pool.submit(run, rid, env, stdin, fields)
            elif message[0] == "kube-reply":
                calls.answer(*message[1:])
    except EOFError:
        pass  # the daemon closed the channel: stop
    finally:
        calls.fail_all("the daemon closed the worker's channel")
        pool.shutdown(wait=True, cancel_futures=True)


def main(argv: Sequence[str]) -> int:
    channel = Channel(socket.socket(fileno=int(argv[0])))
    kind, raw = channel.recv()
    if kind != "config":
        print(f"netattach worker: expected the config first, got {kind!r}", file=sys.stderr)
        return 2
    has_kube = bool(raw.pop("has_kube", False))
    cfg = config_from_wire(raw)
    from . import logs

    logs.setup(cfg.log_format, cfg.log_level)
    # what every request needs, loaded once here instead of in the first request
    import netattach.attach.meta  # noqa: F401
    from netattach.builtins import BUILTIN_PLUGINS, load_plugin

    for type_name in BUILTIN_PLUGINS:
        load_plugin(type_name)
    try:
        serve_forever(channel, cfg, has_kube)
    except (OSError, RuntimeError) as e:
        log.error("worker stopped: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
