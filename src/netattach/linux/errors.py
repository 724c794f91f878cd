"""Exceptions raised by netattach.linux: one base class, subclasses by meaning, errno kept."""

from __future__ import annotations

import errno as _errno
import os


class LinuxNetError(Exception):
    """Base class: `op` failed on `obj` (a link, address, path...) with `errno` (0 if none)."""

    def __init__(self, message: str, *, op: str = "", obj: str = "", errno: int = 0) -> None:
        super().__init__(message)
        self.op = op
        self.obj = obj
        self.errno = errno

    @property
    def message(self) -> str:
        return str(self)


class NotFound(LinuxNetError):
    """The object (netns, link, address, route) does not exist."""


class AlreadyExists(LinuxNetError):
    """The object already exists (errno EEXIST)."""


class NetnsNotFound(NotFound):
    """The netns path is missing or no longer a namespace: DEL treats this as success."""


class NotANetns(NetnsNotFound):
    """The path exists but is not a network namespace (e.g. an unmounted /run/netns file)."""


class NetnsError(LinuxNetError):
    """Entering or opening a namespace failed for another reason (EPERM, EINVAL...)."""


class LinkNotFound(NotFound):
    """No link with that name or index in the namespace (ENODEV)."""


class LinkExists(AlreadyExists):
    """A link with that name (or that parent + VLAN id) already exists (EEXIST)."""


class LinkKindMismatch(LinuxNetError):
    """A link with that name exists but is of another kind (e.g. not a bridge)."""


class AddressExists(AlreadyExists):
    """The address is already on the link (EEXIST)."""


class RouteExists(AlreadyExists):
    """An identical route already exists (EEXIST)."""


class DadFailed(LinuxNetError):
    """IPv6 duplicate address detection failed for an address (IFA_F_DADFAILED)."""


class DadTimeout(LinuxNetError):
    """IPv6 addresses were still tentative when the deadline passed."""


class NetlinkOperationError(LinuxNetError):
    """Any other kernel refusal; `errno` says why."""


_EXISTS_BY_OBJECT: dict[str, type[AlreadyExists]] = {
    "link": LinkExists,
    "address": AddressExists,
    "route": RouteExists,
}


def error_from_errno(
    code: int, *, op: str, obj: str, what: str = "link", detail: str = "", where: str = ""
) -> LinuxNetError:
    """Map an errno from the kernel to the matching exception, with a message naming `obj`.

    `what` is the object type ("link", "address", "route", "netns"); `where` adds context
    ("on link 'eth0'"); `detail` is the kernel's extended-ack text. Never parses text.
    """
    code = abs(code)
    reason = os.strerror(code) if code else "unknown error"
    if detail:
        reason = f"{reason} ({detail})"
    message = f"{op} {what} {obj!r}{' ' + where if where else ''} failed: {reason}"
    cls: type[LinuxNetError]
    if code == _errno.EEXIST:
        cls = _EXISTS_BY_OBJECT.get(what.split()[-1], AlreadyExists)
    elif code == _errno.ENODEV and what.endswith("link"):
        cls = LinkNotFound
    elif code in (_errno.ENODEV, _errno.ESRCH, _errno.EADDRNOTAVAIL) and what in (
        "address",
        "route",
    ):
        cls = NotFound
    elif what == "netns" and code == _errno.ENOENT:
        cls = NetnsNotFound
    elif what == "netns":
        cls = NetnsError
    else:
        cls = NetlinkOperationError
    return cls(message, op=op, obj=obj, errno=code)
