"""Failures the fuzz suite knows about, in code this suite must not change (being
refactored elsewhere: src/netattach/cni/{request,config,skel}.py, plugins/common.py,
attach/, daemon/service.py). Each has a strict xfail regression test in
test_fuzz_known.py with its minimal input; when the fix lands, that test XPASSes (so
fails), and its entry here goes."""

from __future__ import annotations

from collections.abc import Callable

from tests.fuzz.harness import Call


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _error(call: Call) -> dict:
    try:
        answer = call.answer
    except ValueError:
        return {}
    return answer if call.rc == 1 and isinstance(answer, dict) else {}


def _unexpected(call: Call, exc: str) -> bool:
    err = _error(call)
    return err.get("code") == 999 and f"unexpected {exc};" in str(err.get("details", ""))


KNOWN: dict[str, Callable[[Call], bool]] = {
    # cni/config.py validate_ifname: len(ifname.encode()) on os.environ's surrogates
    "non-utf8-ifname": lambda c: not _utf8(c.env.get(b"CNI_IFNAME", b""))
    and _unexpected(c, "UnicodeEncodeError"),
    # cni/config.py loads_object catches ValueError, not RecursionError
    "deep-json": lambda c: _unexpected(c, "RecursionError"),
}


def known_bug(call: Call) -> str | None:
    """The id of the known bug `call` ran into, or None."""
    return next((name for name, matches in KNOWN.items() if matches(call)), None)
