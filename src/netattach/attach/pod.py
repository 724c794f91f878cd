"""Which pod a CNI call is for: CNI_ARGS, the API (or the runtime's pod annotations).

ADD reads the pod once, here, and keeps it for the whole request (planning, events,
network-status).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netattach.cni.errors import CNIError, Code, TryAgainLater
from netattach.cni.request import Request

from .config import MetaConfig

if TYPE_CHECKING:
    from netattach.kube.api import KubeAPI
    from netattach.kube.models import Pod

log = logging.getLogger("netattach")

POD_LOOKUP_ATTEMPTS = 10
POD_LOOKUP_INTERVAL = 0.25
POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"


@dataclass(frozen=True)
class PodLookup:
    """The outcome of looking the pod up: found (`pod`), gone, or not knowable (neither:
    no pod in CNI_ARGS, or no API and no pod annotations from the runtime)."""

    pod: Pod | None = None
    gone: bool = False

    @classmethod
    def found(cls, pod: Pod) -> PodLookup:
        return cls(pod=pod)

    @classmethod
    def deleted(cls) -> PodLookup:
        return cls(gone=True)


def runtime_annotations(request: Request) -> Mapping[str, str] | None:
    """The pod annotations the runtime passed (CRI capability), if it did."""
    value = request.config.runtime_config.get(POD_ANNOTATIONS_CAPABILITY)
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str)
                                          for k, v in value.items()):
        return value
    return None


def check_pod_args(request: Request) -> None:
    """K8S_POD_* from CNI_ARGS are about to name API objects: they must be valid names."""
    from netattach.kube.names import InvalidName, validate_pod_args

    args = request.args
    try:
        validate_pod_args(args.pod_namespace, args.pod_name, args.pod_uid)
    except InvalidName as e:
        raise CNIError(Code.INVALID_ENVIRONMENT, e.message,
                       "the runtime must pass the pod's real namespace, name and UID") from None


def lookup_pod(request: Request, kube: KubeAPI | None, cfg: MetaConfig, *,
               retry: bool = True) -> PodLookup:
    """The pod of CNI_ARGS, retried briefly while the API does not know it yet (for an ADD:
    the API can lag the kubelet; a DEL asks once, a pod it cannot find is gone)."""
    from netattach.kube.models import Pod

    args = request.args
    if not (args.pod_namespace and args.pod_name):
        return PodLookup()
    check_pod_args(request)
    annotations = runtime_annotations(request)
    if kube is None:
        if annotations is None:
            return PodLookup()
        return PodLookup.found(Pod(args.pod_namespace, args.pod_name, args.pod_uid,
                                   annotations=annotations))
    from netattach.kube.errors import KubeError, MalformedObject, NotFound

    attempts = POD_LOOKUP_ATTEMPTS if retry else 1
    for attempt in range(attempts):
        try:
            pod = kube.get_pod(args.pod_namespace, args.pod_name)
            break
        except NotFound:
            if attempt == attempts - 1:
                if retry:  # an ADD (a DEL says why it has nothing to delete itself)
                    log.warning("pod %s/%s not found: it was deleted before its network was "
                                "set up; returning an empty result", args.pod_namespace,
                                args.pod_name)
                return PodLookup.deleted()
            time.sleep(POD_LOOKUP_INTERVAL)
        except MalformedObject as e:  # retrying cannot help: the object itself is broken
            raise CNIError(Code.INTERNAL, f"[{args.pod_namespace}/{args.pod_name}]: {e.message}",
                           e.hint) from None
        except KubeError as e:
            raise TryAgainLater(f"[{args.pod_namespace}/{args.pod_name}]: cannot read the pod: "
                                f"{e}", "the Kubernetes API is unreachable or refused; the "
                                "runtime will retry. Check the kubeconfig in the netattach "
                                "config") from None
    if args.pod_uid and pod.uid != args.pod_uid and not pod.is_static:
        raise CNIError(Code.INTERNAL,
                       f"[{pod.namespace}/{pod.name}]: expected pod UID {args.pod_uid!r} but "
                       f"got {pod.uid!r} from the API",
                       "the pod was deleted and re-created with the same name; the runtime "
                       "will retry with the new pod")
    return PodLookup.found(pod if annotations is None else replace(pod, annotations=annotations))
