"""IPAM plugins (static, host-local) and what they share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netattach.cni.errors import CNIError, plugin_error
from netattach.cni.types import Route


def parse_routes(ipam: Mapping[str, Any], plugin: str) -> tuple[Route, ...]:
    """`ipam.routes` as Route objects; a plugin error naming the bad entry otherwise."""
    raw = ipam.get("routes") or []
    if not isinstance(raw, list):
        raise plugin_error(f"{plugin}: ipam.routes must be a list of routes",
                           f'got {raw!r}; write e.g. "routes": [{{"dst": "0.0.0.0/0"}}]')
    try:
        return tuple(Route.from_json(r) for r in raw)
    except CNIError as err:
        raise plugin_error(f"{plugin}: {err.msg}", err.details) from None
