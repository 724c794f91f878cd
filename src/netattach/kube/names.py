"""Kubernetes object names, checked before they become part of an API path.

client-go refuses a name that is not a valid path segment before it builds a URL; so do
we: `K8S_POD_NAME=../secrets/x` in CNI_ARGS must never reach the API server. Stdlib only.
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_UID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def namespace_problem(value: str) -> str:
    """Why `value` is not a namespace name (a DNS-1123 label), or ""."""
    if len(value) > 63 or not _LABEL.match(value):
        return (f"namespace {value!r} is not a valid namespace name (lower-case letters, "
                "digits and '-', at most 63 characters)")
    return ""


def name_problem(value: str, what: str = "pod") -> str:
    """Why `value` is not a name of a pod or NAD (a DNS-1123 subdomain), or ""."""
    if len(value) > 253 or not _SUBDOMAIN.match(value):
        return (f"{what} name {value!r} is not a valid object name (lower-case letters, "
                "digits, '-' and '.', at most 253 characters)")
    return ""


def validate_pod_args(namespace: str, name: str, uid: str = "") -> str:
    """The problem with CNI_ARGS' K8S_POD_NAMESPACE / K8S_POD_NAME / K8S_POD_UID, or ""."""
    if namespace and (problem := namespace_problem(namespace)):
        return f"K8S_POD_NAMESPACE: {problem}"
    if name and (problem := name_problem(name)):
        return f"K8S_POD_NAME: {problem}"
    if uid and not _UID.match(uid):
        return f"K8S_POD_UID {uid!r} is not a valid UID"
    return ""
