"""The fuzz checks can fail: a leftover link, allocation or traceback is caught (a fuzz
suite that passes whatever happens would prove nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.fuzz.harness import Call, Lab, Violation, check_answer, run_contained
from tests.fuzz.strategies import Case
from tests.fuzz.test_fuzz_plugins import check_nothing_left

pytestmark = pytest.mark.root

MACVLAN = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "macvlan",
                      "master": "up0", "ipam": {"type": "host-local", "dataDir": "@ROOT@/hl",
                                                "ranges": [[{"subnet": "198.51.100.0/24"}]]}})


def test_an_add_without_its_del_is_a_leftover(fuzz_bin: Path,
                                               make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        before, nft = lab.snapshot(), lab.nft()
        env = {b"CNI_COMMAND": b"ADD", b"CNI_CONTAINERID": b"fzc1",
               b"CNI_NETNS": lab.pod_path.encode(), b"CNI_IFNAME": b"net1"}
        add = run_contained(lab, fuzz_bin / "macvlan", env, lab.resolve(MACVLAN.encode()))
        check_answer(add)
        assert add.rc == 0, add.describe()
        case = Case(("ADD", "DEL"), tuple(env.items()), MACVLAN.encode())
        with pytest.raises(Violation, match="links left or changed: .*new link.*net1"):
            check_nothing_left(lab, case, [add], before, nft, ())
        # with the links accepted as they are, the host-local allocation is still left
        with pytest.raises(Violation, match=r"hl/fznet/198\.51\.100\.2"):
            check_nothing_left(lab, case, [add], lab.snapshot(), nft, ())
    finally:
        lab.destroy()


def test_a_traceback_or_a_bug_is_a_violation() -> None:
    base = Call(["x"], {b"CNI_COMMAND": b"ADD"}, b"", 1, "", "")
    for stdout, stderr, rc in (("", "Traceback (most recent call last):", 1),
                               ('{"code": 999, "msg": "x", "details": "unexpected E; this is '
                                'a bug, please report it"}', "", 1),
                               ('{"code": "7", "msg": "x"}', "", 1), ("", "", 1), ("{}", "", 0),
                               ('{"code": 7, "msg": "x"}{}', "", 1), ("", "", 2)):
        with pytest.raises(Violation):
            check_answer(Call(base.argv, base.env, b"", rc, stdout, stderr))
    check_answer(Call(base.argv, base.env, b"", 1, '{"code": 7, "msg": "x"}', ""))
