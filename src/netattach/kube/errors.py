"""Errors from talking to the Kubernetes API, with messages for people.

Each error names the object (``pod default/vlan-multi``), says what went wrong (HTTP
status and the server's message) and, where the fix is obvious, how to fix it.
Importing this module is cheap: it does not import lightkube or httpx.
"""

from __future__ import annotations


class KubeError(Exception):
    """Base class. ``obj`` names the object ("" if none), ``status`` is the HTTP code or 0."""

    def __init__(self, message: str, *, obj: str = "", status: int = 0, hint: str = "") -> None:
        self.obj = obj
        self.status = status
        self.hint = hint
        self.message = message
        super().__init__(f"{message}; {hint}" if hint else message)


class NotFound(KubeError):
    """The object does not exist (HTTP 404)."""


class Conflict(KubeError):
    """A write lost a race (HTTP 409: resourceVersion changed, or the object already exists)."""


class Unauthorized(KubeError):
    """The API server rejected our credentials (401) or our permissions (403)."""


class Unreachable(KubeError):
    """No usable answer from the API server: refused, reset, timed out, or 5xx/429."""


class MalformedObject(KubeError, ValueError):
    """The API server (or a file) gave an object netattach cannot use (no metadata.name,
    annotations that are not an object of strings...): never trusted, named in the message."""
