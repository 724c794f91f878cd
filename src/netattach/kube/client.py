"""``KubeClient``: the few Kubernetes API calls netattach makes, through lightkube.

Calls and the RBAC they need (verb on resource):

=====================================  =========================================
``get_pod``                            get pods
``get_nad``                            get network-attachment-definitions
``set_network_status``                 patch pods/status
``record_event``                       create events
``list_and_watch_pods``                list, watch pods
``list_and_watch_nads``                list, watch network-attachment-definitions
=====================================  =========================================

Objects travel as plain JSON dicts (lightkube generic resources), never through typed
models, so a PUT never drops fields this client does not know about.

Credentials: a kubeconfig ``tokenFile`` (and the in-cluster service-account token) is
read by lightkube's ``BearerTokenFileAuth``, which re-reads the file whenever the API
server answers 401; a rotated projected token therefore keeps working (pinned by
tests/unit/kube/test_kube_client.py::test_token_rotation). A literal ``token`` in a
kubeconfig cannot rotate: prefer ``tokenFile``. In a pod, ``from_service_account`` needs
no kubeconfig at all (the token, CA and API server address client-go's InClusterConfig
reads).

Every failure is raised as a :mod:`netattach.kube.errors` exception naming the object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import msgspec
from lightkube import ALL_NS, ApiError, Client
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core import resource as lkres
from lightkube.core.exceptions import ConfigError
from lightkube.generic_resource import Generic, create_namespaced_resource
from lightkube.types import PatchType

from .errors import Conflict, KubeError, MalformedObject, NotFound, Unauthorized, Unreachable
from .models import NetworkAttachmentDefinition, Pod
from .names import InvalidName, NoSuchName, check_name, check_namespace, check_uid
from .network_status import NETWORK_STATUS_ANNOTATION

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EVENT_SOURCE = "netattach"
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 3.0
_EVENT_MESSAGE_LIMIT = 1024

T = TypeVar("T")

# --- resources as raw dicts ----------------------------------------------------------


class _RawPod(lkres.NamespacedResourceG, Generic):
    _api_info = lkres.ApiInfo(
        resource=lkres.ResourceDef("", "v1", "Pod"),
        plural="pods",
        verbs=["get", "list", "global_list", "watch", "global_watch"],
    )


class _RawPodStatus(lkres.NamespacedResourceG, Generic):
    _api_info = lkres.ApiInfo(
        resource=lkres.ResourceDef("", "v1", "Pod"),
        parent=lkres.ResourceDef("", "v1", "Pod"),
        plural="pods",
        verbs=["get", "put", "patch"],
        action="status",
    )


class _RawEvent(lkres.NamespacedResourceG, Generic):
    _api_info = lkres.ApiInfo(
        resource=lkres.ResourceDef("", "v1", "Event"), plural="events", verbs=["post"]
    )


NAD_GROUP = "k8s.cni.cncf.io"
NAD_PLURAL = "network-attachment-definitions"
_NAD = create_namespaced_resource(NAD_GROUP, "v1", "NetworkAttachmentDefinition", NAD_PLURAL)


def _usable(convert: Callable[[Mapping[str, Any]], T], raw: Mapping[str, Any], op: _Op
            ) -> T | None:
    """`convert(raw)`, or None (logged) for an object netattach cannot use: one malformed
    object must not stop a list or a watch."""
    try:
        return _convert(convert, raw, op.obj)
    except MalformedObject as e:
        log.warning("skipping an object: %s", e)
        return None


# --- error translation ---------------------------------------------------------------


def _rbac_hint(verb: str, resource: str, group: str) -> str:
    return (
        f'grant verb "{verb}" on resource "{resource}" in API group "{group}" to the '
        "netattach service account (its ClusterRole in the deployment manifests)"
    )


class _Op:
    """What a call was doing, for error messages: object, RBAC verb, resource, group."""

    def __init__(self, obj: str, verb: str, resource: str, group: str = "") -> None:
        self.obj = obj
        self.verb = verb
        self.resource = resource
        self.group = group

    def translate(self, exc: BaseException, server: str) -> KubeError:
        """Map a lightkube/httpx exception to the netattach.kube error hierarchy."""
        if isinstance(exc, ApiError | httpx2.HTTPStatusError):
            return self._from_status(exc)
        if isinstance(exc, httpx2.TimeoutException):
            return Unreachable(
                f"{self.obj}: API server {server} did not answer in time ({type(exc).__name__})",
                obj=self.obj,
                hint="check that the API server is reachable from this node and not overloaded",
            )
        if isinstance(exc, httpx2.TransportError):
            return Unreachable(
                f"{self.obj}: cannot reach API server {server}: {exc or type(exc).__name__}",
                obj=self.obj,
                hint="check the kubeconfig server address and that the API server is up "
                "and reachable from this node",
            )
        if isinstance(exc, ConfigError):
            return Unauthorized(
                f"{self.obj}: cannot load credentials: {exc}",
                obj=self.obj,
                hint="check the kubeconfig tokenFile / service-account token mount",
            )
        return KubeError(f"{self.obj}: {type(exc).__name__}: {exc}", obj=self.obj)

    def _from_status(self, exc: BaseException) -> KubeError:
        code, reason, message = 0, "", str(exc)
        if isinstance(exc, ApiError) and exc.status is not None:
            code = exc.status.code or 0
            reason = exc.status.reason or ""
            message = exc.status.message or message
        if not code and isinstance(exc, httpx2.HTTPStatusError) and exc.response is not None:
            code = exc.response.status_code
            reason = exc.response.reason_phrase
        what = f"{self.obj}: {code} {reason}: {message}".rstrip(": ")
        kw: dict[str, Any] = {"obj": self.obj, "status": code}
        if code == 404:
            return NotFound(what, **kw)
        if code == 409:
            return Conflict(what, **kw)
        if code == 401:
            return Unauthorized(
                what,
                hint="the API server rejected the token; check the kubeconfig token/tokenFile "
                "and that the service-account token is mounted and not expired",
                **kw,
            )
        if code == 403:
            return Unauthorized(what, hint=_rbac_hint(self.verb, self.resource, self.group), **kw)
        if code == 429 or code >= 500:
            return Unreachable(
                what, hint="the API server is overloaded or failing; retry later", **kw
            )
        return KubeError(what, **kw)


_MALFORMED_HINT = ("check the object with kubectl get -o yaml; an admission webhook or a "
                   "direct etcd write may have broken it")


def _convert(convert: Callable[[Mapping[str, Any]], T], raw: Any, what: str) -> T:
    """`convert(raw)`, or MalformedObject naming `what` when the API server's object is
    unusable."""
    try:
        return convert(raw)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        detail = exc.message if isinstance(exc, KubeError) else str(exc)
        raise MalformedObject(f"{what}: the API server sent an object netattach cannot use: "
                              f"{detail}", obj=what, hint=_MALFORMED_HINT) from None


def _undecodable(op: _Op, exc: BaseException) -> MalformedObject:
    return MalformedObject(f"{op.obj}: the API server's answer cannot be decoded: {exc}",
                           obj=op.obj, hint="check the object with kubectl get -o yaml and "
                           "the API server")


# --- the client ----------------------------------------------------------------------


class KubeClient:
    """A synchronous client for pods, NADs, pod network-status and events.

    Thread-safe for concurrent calls (one pooled httpx client underneath). Close it with
    :meth:`close` or use it as a context manager.
    """

    def __init__(self, client: Client) -> None:
        """Wrap a configured ``lightkube.Client`` (prefer the ``from_*`` constructors)."""
        self._lk = client
        self._server = client.config.cluster.server
        self._closed = False

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | Path,
        *,
        context: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> KubeClient:
        """Client for the kubeconfig at ``path`` (its current context unless ``context``).

        A relative ``tokenFile`` is resolved against the kubeconfig's directory. Raises
        :class:`KubeError` if the file is missing or malformed.
        """
        try:
            config = KubeConfig.from_file(path).get(context)
        except (ConfigError, KeyError, TypeError, ValueError, OSError) as exc:
            raise KubeError(
                f"kubeconfig {path}: cannot load: {exc}",
                hint="check the kubeconfig path in the netattach CNI config and its content",
            ) from None
        assert config is not None
        if config.user is not None and config.user.token_file:
            token_file = Path(config.user.token_file)
            if not token_file.is_absolute():
                token_file = Path(path).expanduser().resolve().parent / token_file
            config = config._replace(
                user=msgspec.structs.replace(config.user, token_file=str(token_file))
            )
        return cls._build(config, timeout, connect_timeout)

    @classmethod
    def in_cluster(
        cls,
        *,
        token_path: str | Path = SERVICE_ACCOUNT_DIR / "token",
        ca_path: str | Path | None = SERVICE_ACCOUNT_DIR / "ca.crt",
        server: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> KubeClient:
        """Client using the pod's service account (token re-read on rotation).

        ``server`` defaults to ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``.
        ``ca_path`` None means no CA file (only for ``http://`` test servers).
        """
        import os

        if server is None:
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT")
            if not host or not port:
                raise KubeError(
                    "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                    "are not set",
                    hint="run inside a pod, or pass a kubeconfig",
                )
            if ":" in host:
                host = f"[{host}]"
            server = f"https://{host}:{port}"
        if not Path(token_path).is_file():
            raise Unauthorized(
                f"in-cluster config: service-account token {token_path} does not exist",
                hint="mount the service-account token (automountServiceAccountToken: true)",
            )
        cluster = Cluster(server=server, certificate_auth=str(ca_path) if ca_path else None)
        config = KubeConfig.from_one(cluster=cluster, user=User(token_file=str(token_path))).get()
        assert config is not None
        return cls._build(config, timeout, connect_timeout)

    @staticmethod
    def service_account_present(
        directory: str | Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None
    ) -> bool:
        """True in a pod with a mounted service-account token and the API server's address
        in ``KUBERNETES_SERVICE_HOST``/``_PORT`` (what :meth:`from_service_account` reads)."""
        import os

        env = os.environ if environ is None else environ
        return bool(
            env.get("KUBERNETES_SERVICE_HOST")
            and env.get("KUBERNETES_SERVICE_PORT")
            and (Path(directory) / "token").is_file()
        )

    @classmethod
    def from_service_account(
        cls,
        directory: str | Path = SERVICE_ACCOUNT_DIR,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> KubeClient:
        """In-cluster client, as client libraries build one in a pod (client-go's
        InClusterConfig): ``<directory>/token`` (re-read when the kubelet rotates it and
        the API server answers 401), ``<directory>/ca.crt`` to verify the API server, and
        ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` (the service IP, no
        DNS). ``directory`` and ``environ`` are injectable for tests."""
        import os

        env = os.environ if environ is None else environ
        account = Path(directory)
        host = env.get("KUBERNETES_SERVICE_HOST", "")
        port = env.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            raise KubeError(
                "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are "
                "not set",
                hint="run inside a pod (the kubelet sets them), or configure a kubeconfig",
            )
        ca = account / "ca.crt"
        if not ca.is_file():
            raise KubeError(
                f"in-cluster config: service-account CA {ca} does not exist",
                hint="mount the service-account token volume (automountServiceAccountToken: "
                "true), or configure a kubeconfig",
            )
        server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        return cls.in_cluster(
            token_path=account / "token",
            ca_path=ca,
            server=server,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    @classmethod
    def _build(cls, config: SingleConfig, timeout: float, connect_timeout: float) -> KubeClient:
        t = httpx2.Timeout(timeout, connect=min(connect_timeout, timeout))
        try:
            return cls(Client(config=config, timeout=t))
        except (ConfigError, OSError, ValueError) as exc:
            raise KubeError(
                f"API client for {config.cluster.server}: cannot configure: {exc}",
                hint="check the certificate-authority and credentials in the kubeconfig",
            ) from None

    def close(self) -> None:
        """Release connections. Idempotent."""
        if not self._closed:
            self._closed = True
            self._lk.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server(self) -> str:
        """The API server URL this client talks to."""
        return self._server

    # -- calls ------------------------------------------------------------------------

    def _call(self, op: _Op, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ApiError, httpx2.HTTPError, ConfigError) as exc:
            raise op.translate(exc, self._server) from None
        except ValueError as exc:  # msgspec.DecodeError: not JSON, lone surrogates
            raise _undecodable(op, exc) from None

    def _get_pod_raw(self, namespace: str, name: str) -> dict[str, Any]:
        check_namespace(namespace)
        check_name(name, "pod")
        op = _Op(f"pod {namespace}/{name}", "get", "pods")
        obj = self._call(op, lambda: self._lk.get(_RawPod, name, namespace=namespace))
        return dict(obj)

    def get_pod(self, namespace: str, name: str) -> Pod:
        """The pod, live from the API server. Raises NotFound, Unreachable, Unauthorized...
        and InvalidName (before any request) for a name Kubernetes would refuse."""
        return _convert(Pod.from_api, self._get_pod_raw(namespace, name),
                        f"pod {namespace}/{name}")

    def get_nad(self, namespace: str, name: str) -> NetworkAttachmentDefinition:
        """The NetworkAttachmentDefinition. NotFound's message says how to fix the reference;
        for a name Kubernetes would refuse, NoSuchName (a NotFound and an InvalidName) before
        any request."""
        try:
            check_namespace(namespace, "the NetworkAttachmentDefinition's namespace")
            check_name(name, "NetworkAttachmentDefinition")
        except InvalidName as exc:  # a NAD by that name cannot exist: not found, as the API
            raise NoSuchName(exc.message, obj=f"NetworkAttachmentDefinition {namespace}/"
                             f"{name}", hint=exc.hint) from None  # server would say
        op = _Op(f"NetworkAttachmentDefinition {namespace}/{name}", "get", NAD_PLURAL, NAD_GROUP)
        try:
            obj = self._lk.get(_NAD, name, namespace=namespace)
        except ValueError as exc:  # msgspec.DecodeError: not JSON, lone surrogates
            raise _undecodable(op, exc) from None
        except (ApiError, httpx2.HTTPError, ConfigError) as exc:
            err = op.translate(exc, self._server)
            if isinstance(err, NotFound):
                if "could not find the requested resource" in err.message:
                    hint = (
                        "the API server does not know NetworkAttachmentDefinitions: install the "
                        "network-attachment-definitions.k8s.cni.cncf.io CRD"
                    )
                else:
                    hint = (
                        f"create it in namespace {namespace} (kubectl get net-attach-def -n "
                        f"{namespace}), or fix the name/namespace in the pod's "
                        "k8s.v1.cni.cncf.io/networks annotation"
                    )
                err = NotFound(err.message, obj=err.obj, status=404, hint=hint)
            raise err from None
        return _convert(NetworkAttachmentDefinition.from_api, dict(obj),
                        f"NetworkAttachmentDefinition {namespace}/{name}")

    def set_network_status(self, namespace: str, name: str, uid: str, status_json: str) -> bool:
        """Write ``status_json`` as the pod's network-status annotation: one JSON merge patch
        of pods/status, with ``uid`` (the pod's UID as read) as a precondition, as the
        kubelet patches pod status. A pod deleted and re-created under the same name is
        never annotated. Returns False, without raising, when the pod is gone or has
        another UID; True once written. ``uid`` "" skips the precondition.
        """
        check_namespace(namespace)
        check_name(name, "pod")
        if uid:
            check_uid(uid)
        op = _Op(f"pod {namespace}/{name}", "patch", "pods/status")
        meta: dict[str, Any] = {"annotations": {NETWORK_STATUS_ANNOTATION: status_json}}
        if uid:
            meta["uid"] = uid
        try:
            self._call(op, lambda: self._lk.patch(_RawPodStatus, name, {"metadata": meta},
                                                  namespace=namespace,
                                                  patch_type=PatchType.MERGE))
        except NotFound:
            log.info("pod %s/%s is gone; not writing network-status", namespace, name)
            return False
        except Conflict as e:  # the UID precondition: a new pod with that name
            log.warning("pod %s/%s is not UID %s any more (%s); not writing network-status",
                        namespace, name, uid, e.message)
            return False
        return True

    def record_event(
        self, pod: Pod, type_: str, reason: str, message: str, *, host: str = ""
    ) -> bool:
        """Best effort: post a core/v1 Event about ``pod`` (source component "netattach").

        ``type_`` is "Normal" or "Warning"; ``reason`` e.g. AddedInterface, NoNetworkFound.
        Never raises on API failure: returns False and logs; True when recorded.
        InvalidName (before any request) when the pod's namespace or name is invalid.
        """
        if type_ not in ("Normal", "Warning"):
            raise ValueError(f"event type must be Normal or Warning, not {type_!r}")
        check_namespace(pod.namespace)
        check_name(pod.name, "pod")
        if len(message) > _EVENT_MESSAGE_LIMIT:
            message = message[: _EVENT_MESSAGE_LIMIT - 3] + "..."
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        source: dict[str, str] = {"component": EVENT_SOURCE}
        if host:
            source["host"] = host
        involved: dict[str, str] = {
            "kind": "Pod",
            "namespace": pod.namespace,
            "name": pod.name,
            "apiVersion": "v1",
        }
        if pod.uid:
            involved["uid"] = pod.uid
        if pod.resource_version:
            involved["resourceVersion"] = pod.resource_version
        event = _RawEvent(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{pod.name}.{time.time_ns():x}", "namespace": pod.namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": source,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": type_,
                "reportingComponent": EVENT_SOURCE,
                "reportingInstance": host,
            }
        )
        op = _Op(f"event {reason} for pod {pod.namespace}/{pod.name}", "create", "events")
        try:
            self._call(op, lambda: self._lk.create(event, namespace=pod.namespace))
        except KubeError as exc:
            log.warning("could not record event: %s", exc)
            return False
        return True

    # -- list + watch ----------------------------------------------------------------

    def list_pods(self, namespace: str = "", node_name: str = "") -> list[Pod]:
        """Pods of `namespace` ("" = all), only those on `node_name` if given."""
        fields = {"spec.nodeName": node_name} if node_name else None
        where = f"namespace {namespace}" if namespace else "all namespaces"
        op = _Op(f"pods in {where}", "list", "pods")
        listing = self._call(op, lambda: list(self._lk.list(
            _RawPod, namespace=namespace or ALL_NS, fields=fields)))
        return [p for o in listing if (p := _usable(Pod.from_api, dict(o), op)) is not None]

    def local_pods(self, mentioning: Collection[str] | None = None) -> list[Pod] | None:
        """None: a live client knows no pods without asking the API server."""
        return None

    def list_nads(self, namespace: str = "") -> list[NetworkAttachmentDefinition]:
        """NetworkAttachmentDefinitions of `namespace` ("" = all)."""
        where = f"namespace {namespace}" if namespace else "all namespaces"
        op = _Op(f"NetworkAttachmentDefinitions in {where}", "list", NAD_PLURAL, NAD_GROUP)
        listing = self._call(op, lambda: list(self._lk.list(_NAD, namespace=namespace or ALL_NS)))
        return [n for o in listing
                if (n := _usable(NetworkAttachmentDefinition.from_api, dict(o), op)) is not None]

    def list_and_watch_pods(
        self,
        node_name: str,
        *,
        stop: Callable[[], bool] | None = None,
        server_timeout: int = 300,
        on_synced: Callable[[], None] | None = None,
    ) -> Iterator[tuple[str, Pod]]:
        """Mirror the pods on ``node_name`` (field selector spec.nodeName) as events.

        See :meth:`_reflect` for the event contract.
        """
        return self._reflect(
            _RawPod,
            Pod.from_api,
            {"spec.nodeName": node_name},
            _Op(f"pods on node {node_name}", "watch", "pods"),
            stop,
            server_timeout,
            on_synced,
        )

    def list_and_watch_nads(
        self,
        *,
        stop: Callable[[], bool] | None = None,
        server_timeout: int = 300,
        on_synced: Callable[[], None] | None = None,
    ) -> Iterator[tuple[str, NetworkAttachmentDefinition]]:
        """Mirror all NetworkAttachmentDefinitions, all namespaces, as events (see _reflect)."""
        return self._reflect(
            _NAD,
            NetworkAttachmentDefinition.from_api,
            None,
            _Op("NetworkAttachmentDefinitions", "watch", NAD_PLURAL, NAD_GROUP),
            stop,
            server_timeout,
            on_synced,
        )

    def _reflect(
        self,
        res: type,
        convert: Callable[[Mapping[str, Any]], T],
        fields: dict[str, str] | None,
        op: _Op,
        stop: Callable[[], bool] | None,
        server_timeout: int,
        on_synced: Callable[[], None] | None = None,
    ) -> Iterator[tuple[str, T]]:
        """List, then watch from the list's resourceVersion; re-list on 410 or lost streams.

        Yields ``(event_type, obj)`` with event_type ADDED, MODIFIED or DELETED such that
        applying them in order keeps an exact mirror: after a re-list, objects that
        vanished meanwhile come as DELETED and changed ones as MODIFIED. Transport
        failures are retried with backoff (up to 30 s); 401/403/404 are raised. Stops
        when ``stop()`` is true (checked between events), when the client is closed,
        or when the consumer closes the generator.
        """
        known: dict[tuple[str, str], tuple[str, T]] = {}
        backoff = 0.2

        def stopped() -> bool:
            return self._closed or (stop is not None and stop())

        def key_of(obj: Mapping[str, Any]) -> tuple[str, str]:
            meta = obj.get("metadata") or {}
            return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))

        while not stopped():
            try:
                listing = self._lk.list(res, namespace=ALL_NS, fields=fields)
                items = [dict(o) for o in listing]
                rv = listing.resourceVersion
                fresh: dict[tuple[str, str], tuple[str, T]] = {}
                for raw in items:
                    converted = _usable(convert, raw, op)
                    if converted is not None:
                        fresh[key_of(raw)] = (
                            str((raw.get("metadata") or {}).get("resourceVersion") or ""),
                            converted,
                        )
                for key in [k for k in known if k not in fresh]:
                    yield "DELETED", known.pop(key)[1]
                    if stopped():
                        return
                for key, (obj_rv, obj) in fresh.items():
                    prev = known.get(key)
                    known[key] = (obj_rv, obj)
                    if prev is None or prev[0] != obj_rv:
                        yield ("ADDED" if prev is None else "MODIFIED"), obj
                        if stopped():
                            return
                if stopped():
                    return
                if on_synced is not None:
                    on_synced()  # the listing is in the consumer's hands: it mirrors the API
                backoff = 0.2
                for etype, lk_obj in self._lk.watch(
                    res,
                    namespace=ALL_NS,
                    fields=fields,
                    resource_version=rv,
                    server_timeout=server_timeout,
                ):
                    if etype not in ("ADDED", "MODIFIED", "DELETED"):
                        continue
                    raw = dict(lk_obj)
                    usable = _usable(convert, raw, op)
                    if usable is None:
                        continue
                    obj = usable
                    key = key_of(raw)
                    if etype == "DELETED":
                        known.pop(key, None)
                    else:
                        obj_rv = str((raw.get("metadata") or {}).get("resourceVersion") or "")
                        known[key] = (obj_rv, obj)
                    yield etype, obj
                    if stopped():
                        return
            except ValueError as exc:  # an answer that cannot be decoded: retry, like 5xx
                if stopped():
                    return
                log.warning("%s: %s; retrying in %.1fs", op.obj, _undecodable(op, exc), backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except (ApiError, httpx2.HTTPError, ConfigError) as exc:
                if stopped():
                    return
                err = op.translate(exc, self._server)
                if err.status == 410:
                    log.info("%s: watch expired (410), re-listing", op.obj)
                    continue
                if not isinstance(err, Unreachable):
                    raise err from None
                log.warning("%s: %s; retrying in %.1fs", op.obj, err, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
