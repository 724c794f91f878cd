"""Daemon logging: every line names the pod, container, network and interface when known.

The request handler sets the fields for its thread with `request_fields(...)`; a filter
copies them onto each record, so the meta plugin's own log calls carry them too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

FIELDS = ("verb", "pod", "container", "network", "ifname")
# Per-thread/context request fields (a ContextVar, not shared state: each handler thread
# sees only its own request).
_current: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "netattach_request", default=MappingProxyType({}))


@contextmanager
def request_fields(**fields: str) -> Iterator[None]:
    """Attach `fields` (verb, pod, container, network, ifname) to this thread's log lines."""
    token = _current.set({k: v for k, v in fields.items() if v})
    try:
        yield
    finally:
        _current.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, ctx.get(name, ""))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, "")
            if value:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = " ".join(f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, ""))
        return f"{base} [{extra}]" if extra else base


def setup(fmt: str, level: str) -> None:
    """Log to stderr in `fmt` ("text" or "json") for the netattach logger tree."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("netattach")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper(), logging.INFO)
                    if level.lower() != "verbose" else logging.INFO)
    logger.propagate = False
