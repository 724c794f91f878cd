"""Read-only views of JSON values, so frozen dataclasses can carry JSON objects."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


def freeze(val: Any) -> Any:
    """Deep read-only copy of a JSON value: dicts become mappingproxies, lists tuples."""
    if isinstance(val, dict):
        return MappingProxyType({k: freeze(v) for k, v in val.items()})
    if isinstance(val, list):
        return tuple(freeze(v) for v in val)
    return val


def thaw(val: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    if isinstance(val, Mapping):
        return {k: thaw(v) for k, v in val.items()}
    if isinstance(val, tuple | list):
        return [thaw(v) for v in val]
    return val
