"""CNI spec versions: the supported set, comparison, and conflist version negotiation."""

from __future__ import annotations

import re

from .errors import CNIError, Code

CURRENT = "1.1.0"
ALL: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LEGACY = ("0.1.0", "0.2.0")           # ip4/ip6 result shape
V04 = ("0.3.0", "0.3.1", "0.4.0")     # ips[].version result shape
V1 = ("1.0.0", "1.1.0")               # current result shape

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def parse(version: str) -> tuple[int, int, int]:
    """Parse "X.Y.Z" into a tuple; raise CNIError(code 6) on anything else, as libcni does."""
    m = _SEMVER.match(version) if isinstance(version, str) else None
    if not m:
        raise CNIError(Code.DECODING_FAILURE, f"invalid version {version!r}",
                       "a CNI version looks like \"1.1.0\"")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def at_least(version: str, minimum: str) -> bool:
    """True when `version` >= `minimum` (both parsed as semver)."""
    return parse(version) >= parse(minimum)


def negotiate(cni_version: str | None, cni_versions: list[str] | None) -> str:
    """Pick a conflist's version as libcni's NetworkConfFromBytes does.

    With `cniVersions`, keep entries (and `cniVersion`) not above 1.1.0 and take the highest;
    without it, `cniVersion` is used as written. A missing version means "0.1.0".
    """
    if not cni_versions:
        return cni_version or "0.1.0"
    candidates = [v for v in cni_versions if parse(v) <= parse(CURRENT)]
    if cni_version and parse(cni_version) <= parse(CURRENT):
        candidates.append(cni_version)
    if not candidates:
        raise CNIError(Code.INCOMPATIBLE_VERSION, "no supported version in cniVersions",
                       f"cniVersions is {cni_versions!r}; this runtime supports up to {CURRENT}")
    return max(candidates, key=parse)


def go_quote_list(items: list[str] | tuple[str, ...]) -> str:
    """Format a list as Go's %q does: ["a" "b"]."""
    return "[" + " ".join(f'"{i}"' for i in items) + "]"
