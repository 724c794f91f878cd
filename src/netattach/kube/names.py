"""Kubernetes names checked as the API server checks them, before any URL is built from them.

A name from outside (CNI_ARGS, a pod's networks annotation, a config) goes into an API
path: ``K8S_POD_NAME=../secrets/db-password`` must never become
``GET /api/v1/namespaces/default/secrets/db-password``. client-go refuses such names before
building a request; so does ``KubeClient``, with these functions.

- namespaces: DNS-1123 labels (at most 63 characters), as ``ValidateNamespaceName``;
- pods and other objects (NADs): DNS-1123 subdomains (at most 253), as ``ValidatePodName``
  and the API server's check of custom resource names;
- pod UIDs: UUIDs, or the 32 hex digits the kubelet gives static pods; we accept letters,
  digits and '-' up to 128 characters, which covers both and can never form a path.

Standard library only and cheap to import (the meta plugin calls `validate_pod_args` on
every request, before it needs the API client).
"""

from __future__ import annotations

import re

from .errors import KubeError, NotFound

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL, re.ASCII)
DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.ASCII)
POD_UID = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*", re.ASCII)
LABEL_MAX = 63
SUBDOMAIN_MAX = 253
UID_MAX = 128

_LABEL_RULE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
               "or '-', and must start and end with an alphanumeric character (at most "
               f"{LABEL_MAX} characters, e.g. 'my-name')")
_SUBDOMAIN_RULE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric "
                   f"character (at most {SUBDOMAIN_MAX} characters, e.g. 'example.com')")
_UID_RULE = (f"a pod UID is a UUID such as 0c1e0f6a-5b2d-4c3e-9f10-2a3b4c5d6e7f (letters, "
             f"digits and '-', at most {UID_MAX} characters)")


class InvalidName(KubeError, ValueError):
    """A name or UID Kubernetes would refuse; raised before any request is made."""


class NoSuchName(InvalidName, NotFound):
    """A lookup by a name no object can have: NotFound too, as the API server would answer
    for a plain invalid name (so "NAD not found" handling applies), and nothing was asked."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(str(value))} characters)"


def _check(value: object, pattern: re.Pattern[str], limit: int, rule: str, what: str,
           source: str) -> str:
    if isinstance(value, str) and len(value) <= limit and pattern.fullmatch(value):
        return value
    where = f" (from {source})" if source else ""
    raise InvalidName(f"invalid {what} {_shown(value)}{where}: {rule}", obj=what,
                      hint=f"fix {source or 'the ' + what}; netattach never sends such a name "
                      "to the API server")


def check_namespace(value: object, source: str = "") -> str:
    """`value` if it is a valid namespace name, else InvalidName naming it and `source`."""
    return _check(value, DNS1123_LABEL, LABEL_MAX, _LABEL_RULE, "namespace", source)


def check_name(value: object, kind: str = "pod", source: str = "") -> str:
    """`value` if it is a valid name for a `kind` object (DNS-1123 subdomain)."""
    return _check(value, DNS1123_SUBDOMAIN, SUBDOMAIN_MAX, _SUBDOMAIN_RULE, f"{kind} name",
                  source)


def check_uid(value: object, source: str = "") -> str:
    """`value` if it can be a pod UID."""
    return _check(value, POD_UID, UID_MAX, _UID_RULE, "pod UID", source)


def validate_pod_args(namespace: str = "", name: str = "", uid: str = "") -> None:
    """Check CNI_ARGS' K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID (each only when
    set); InvalidName names the variable and the bad value."""
    if namespace:
        check_namespace(namespace, "CNI_ARGS K8S_POD_NAMESPACE")
    if name:
        check_name(name, "pod", "CNI_ARGS K8S_POD_NAME")
    if uid:
        check_uid(uid, "CNI_ARGS K8S_POD_UID")


__all__ = ["InvalidName", "NoSuchName", "check_name", "check_namespace", "check_uid",
           "validate_pod_args"]
