"""Failures the fuzz suite knows about and skips, each matched by its signature (none
today: every finding so far is fixed and replayed in test_fuzz_known.py). A new finding
that cannot be fixed at once goes here with a strict xfail regression test that names the
fix, so the random suite keeps checking everything else of the same calls."""

from __future__ import annotations

from collections.abc import Callable

from tests.fuzz.harness import Call


def _error(call: Call) -> dict:
    try:
        answer = call.answer
    except ValueError:
        return {}
    return answer if call.rc == 1 and isinstance(answer, dict) else {}


def _unexpected(call: Call, exc: str) -> bool:
    err = _error(call)
    return err.get("code") == 999 and f"unexpected {exc};" in str(err.get("details", ""))


# id -> matcher, e.g. "deep-json": lambda c: _unexpected(c, "RecursionError")
KNOWN: dict[str, Callable[[Call], bool]] = {}


def known_bug(call: Call) -> str | None:
    """The id of the known bug `call` ran into, or None."""
    return next((name for name, matches in KNOWN.items() if matches(call)), None)
