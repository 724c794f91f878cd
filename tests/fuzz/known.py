"""Failures the fuzz suite knows about, in code this suite must not change (being
refactored elsewhere: src/netattach/cni/{request,config,skel}.py, plugins/common.py,
attach/, daemon/service.py). Each has a strict xfail regression test in
test_fuzz_known.py with its minimal input; when the fix lands, that test XPASSes (so
fails), and its entry here goes."""

from __future__ import annotations

import json
import re
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
    "deep-json": lambda c: _unexpected(c, "RecursionError")
    and "while decoding a JSON" in str(_error(c).get("msg", "")),
    # plugins/common.py run_ipam: any built-in type runs as the IPAM, so "ipam": {"type":
    # "bridge"} (or macvlan, tuning...) recurses into itself
    "builtin-plugin-as-ipam": lambda c: _unexpected(c, "RecursionError")
    and _ipam_type(c) in NOT_IPAM,
    # cni/config.py loads_object keeps JSON's lone surrogates ("\ud800"); any path or name
    # made of one then fails to encode (Go's decoder turns them into U+FFFD)
    "lone-surrogate-in-config": lambda c: _unexpected(c, "UnicodeEncodeError")
    and _utf8(c.env.get(b"CNI_IFNAME", b"")) and re.search(rb"\\ud[89a-f]", c.stdin) is not None,
    # cni/config.py validate_ifname lets control characters through; netattach.linux's
    # validate_ifname refuses them with a ValueError
    "control-char-ifname": lambda c: _unexpected(c, "ValueError")
    and any(b < 0x20 for b in c.env.get(b"CNI_IFNAME", b"")),
    # cni/config.py validate_container_id has no length limit; attach/delegate_cache.py
    # writes <cniDir>/<container id> and lets ENAMETOOLONG escape
    "overlong-container-id": lambda c: _unexpected(c, "OSError")
    and "File name too long" in str(_error(c).get("msg", ""))
    and len(c.env.get(b"CNI_CONTAINERID", b"")) > 200,
    # attach/delegate_cache.py (the meta plugin's cniDir): a cniDir that is a file makes
    # mkdir / open raise FileExistsError or NotADirectoryError, not a CNI error
    "meta-state-path-is-a-file": lambda c: (_unexpected(c, "FileExistsError")
                                            or _unexpected(c, "NotADirectoryError"))
    and _conf_key(c, "type") in ("netattach", "netattach-shim"),
    # attach/meta.py: KubeClient.from_kubeconfig's KubeError (a missing or broken
    # kubeconfig) is not turned into a CNI error
    "meta-kubeconfig-error": lambda c: _unexpected(c, "KubeError")
    and "kubeconfig" in str(_error(c).get("msg", "")),
}
NOT_IPAM = {"bridge", "host-device", "ipvlan", "macvlan", "tuning", "vlan", "netattach"}


def _conf_key(call: Call, key: str) -> object:
    try:
        conf = json.loads(call.stdin)
    except (ValueError, RecursionError):
        return None
    return conf.get(key) if isinstance(conf, dict) else None


def _ipam_type(call: Call) -> object:
    try:
        conf = json.loads(call.stdin)
    except (ValueError, RecursionError):
        return None
    ipam = conf.get("ipam") if isinstance(conf, dict) else None
    return ipam.get("type") if isinstance(ipam, dict) else None


def known_bug(call: Call) -> str | None:
    """The id of the known bug `call` ran into, or None."""
    return next((name for name, matches in KNOWN.items() if matches(call)), None)


def known_sequence_bug(calls: list[Call]) -> str | None:
    """The id of a known bug that shows only in what a sequence of calls leaves behind."""
    adds = [c for c in calls if c.command == "ADD"]
    if len(adds) >= 2 and adds[0].rc == 0 and adds[1].rc == 1 \
            and "already exists in the pod" in str(_error(adds[1]).get("msg", "")):
        # attach/meta.py: the failed second ADD's roll_back removes the delegate cache the
        # first ADD wrote, so the runtime's DEL finds nothing and the first eth0 stays
        return "meta-second-add-drops-the-cache"
    return None
