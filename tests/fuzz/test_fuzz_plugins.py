"""Property: whatever config, env, CNI_ARGS and stdin a runtime sends, every plugin
executable `netattach install-bin` writes answers like a CNI plugin, and after the runtime's
DEL nothing is left behind: no link in the lab's namespaces, no host-local allocation, no
tuning backup, no libcni cache entry, no temporary file; a tuned interface is as before.

Each example runs for real: the executable under `ip netns exec` in a fresh lab (see
harness.py), ADD / CHECK / DEL / GC / STATUS / VERSION in the order the example says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from tests.fuzz.harness import (
    PLUGINS,
    SEED,
    Call,
    Lab,
    Violation,
    changed_links,
    check_answer,
    leftover_files,
    record,
    run_contained,
    scale,
)
from tests.fuzz.known import known_bug
from tests.fuzz.strategies import Case, case, fuzz_settings

pytestmark = pytest.mark.root

EXAMPLES = {"bridge": 20, "host-device": 20, "host-local": 15, "ipvlan": 8, "macvlan": 20,
            "static": 12, "tuning": 20, "vlan": 8}
FUZZ = fuzz_settings(30_000)


def with_prev_result(stdin: bytes, result: object) -> bytes:
    """The stdin of CHECK/DEL after a successful ADD: the ADD result as prevResult, as
    libcni sends it (only when the stdin is a JSON object at all)."""
    import json

    try:
        conf = json.loads(stdin)
    except (ValueError, RecursionError):
        return stdin
    if not isinstance(conf, dict) or not isinstance(result, dict):
        return stdin
    return json.dumps({**conf, "prevResult": result}).encode()


def run_case(lab: Lab, executable: Path, c: Case) -> list[Call]:
    """Run the example's verbs; check every answer; return the calls."""
    calls: list[Call] = []
    stdin = lab.resolve(c.stdin)
    added: object = None
    for verb in c.verbs:
        env = {k: lab.resolve(v) for k, v in c.env_for(verb).items()}
        body = with_prev_result(stdin, added) if verb in ("CHECK", "DEL") and added else stdin
        call = run_contained(lab, executable, env, body)
        calls.append(call)
        record(call)
        if known_bug(call) is None:
            check_answer(call)
        if verb == "ADD" and call.rc == 0 and added is None:
            added = call.answer
    return calls


def check_nothing_left(lab: Lab, c: Case, calls: list[Call], before: dict,
                       nft_before: list[str],
                       bridges: tuple[str, ...]) -> None:
    added = [call for call in calls if call.command == "ADD" and call.rc == 0]
    last = calls[-1]
    if added and last.command == "DEL" and last.rc != 0 and known_bug(last) is None:
        raise Violation(f"DEL after a successful ADD failed:{last.describe()}")
    if c.verbs[-1] != "DEL" and added:
        return  # the runtime has not deleted it yet: nothing to check
    where = "".join(call.describe() for call in calls)
    links = changed_links(before, lab.snapshot(), lab.node, bridges)
    if links:
        raise Violation(f"links left or changed: {links}{where}")
    files = leftover_files(lab.root)
    if files:
        raise Violation(f"files left behind: {files}{where}")
    if lab.nft() != nft_before:
        raise Violation(f"nftables rules left in the node: {lab.nft()}{where}")


def _fuzz_plugin(plugin: str, fuzz_bin: Path, make_lab: Callable[..., Lab], c: Case) -> None:
    lab = make_lab(tuning_eth0=plugin == "tuning", bindir=fuzz_bin)
    try:
        before, nft_before = lab.snapshot(), lab.nft()
        calls = run_case(lab, fuzz_bin / plugin, c)
        check_nothing_left(lab, c, calls, before, nft_before, ("fzbr0", "cni0"))
    finally:
        lab.destroy()


def _test_for(plugin: str) -> Callable[..., None]:
    @seed(SEED)
    @settings(FUZZ, max_examples=scale(EXAMPLES[plugin]))
    @given(c=case(plugin))
    def test(fuzz_bin: Path, make_lab: Callable[..., Lab], c: Case) -> None:
        _fuzz_plugin(plugin, fuzz_bin, make_lab, c)

    test.__name__ = test.__qualname__ = f"test_{plugin.replace('-', '_')}_executable"
    test.__doc__ = f"{plugin}: CNI answers only, and nothing left after DEL."
    return test


for _plugin in PLUGINS:
    _t = _test_for(_plugin)
    globals()[_t.__name__] = _t
del _plugin, _t
