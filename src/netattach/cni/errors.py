"""CNI errors: the spec's error codes and the JSON error object a plugin prints."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """Well-known CNI error codes (SPEC section "Error", plus libcni's 8)."""

    UNKNOWN = 0
    INCOMPATIBLE_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENVIRONMENT = 4
    IO_FAILURE = 5
    DECODING_FAILURE = 6
    INVALID_NETWORK_CONFIG = 7
    INVALID_NETNS = 8
    TRY_AGAIN_LATER = 11
    PLUGIN_NOT_AVAILABLE = 50
    LIMITED_CONNECTIVITY = 51
    INTERNAL = 999


class CNIError(Exception):
    """A failure reported to the runtime: spec code, one-line message, and a fix in `details`.

    `msg` names what failed and on which object; `details` says why and what to do.
    """

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        return f"{self.msg}; {self.details}" if self.details else self.msg

    def __repr__(self) -> str:
        return f"CNIError(code={self.code}, msg={self.msg!r}, details={self.details!r})"

    def to_json(self, cni_version: str = "") -> dict[str, Any]:
        """The error object of the spec; `details` is omitted when empty, as libcni does."""
        out: dict[str, Any] = {}
        if cni_version:
            out["cniVersion"] = cni_version
        out["code"] = self.code
        out["msg"] = self.msg
        if self.details:
            out["details"] = self.details
        return out

    def dumps(self, cni_version: str = "") -> str:
        return json.dumps(self.to_json(cni_version), indent=4)

    @classmethod
    def from_json(cls, data: Any) -> CNIError | None:
        """Parse an error object a plugin printed; None when `data` is not one."""
        if not isinstance(data, dict) or "code" not in data:
            return None
        code = data.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return None
        msg = data.get("msg", "")
        details = data.get("details", "")
        return cls(code, msg if isinstance(msg, str) else str(msg),
                   details if isinstance(details, str) else str(details))


class TryAgainLater(CNIError):
    """Code 11: a transient condition (the API, the daemon's queue, a readiness file)."""

    def __init__(self, msg: str, details: str = "") -> None:
        super().__init__(Code.TRY_AGAIN_LATER, msg, details)


def plugin_error(msg: str, details: str = "") -> CNIError:
    """A plugin's own failure (bad plugin config, kernel refusal...).

    The reference plugins return these as plain Go errors, which libcni's skel reports as
    code 999; netattach keeps that code so runtimes and scripts see what they saw before,
    and adds the fix in `details`.
    """
    return CNIError(Code.INTERNAL, msg, details)
