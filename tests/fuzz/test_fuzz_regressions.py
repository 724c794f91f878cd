"""Issue 16's findings as fixed examples through the fuzz harness: the same execution,
answer checks and nothing-left checks as the random suite, on the exact inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fuzz.harness import UP0_MAC, Lab
from tests.fuzz.strategies import Case
from tests.fuzz.test_fuzz_plugins import check_nothing_left, run_case

pytestmark = pytest.mark.root

HL = {"type": "host-local", "dataDir": "@ROOT@/hl", "ranges": [[{"subnet": "198.51.100.0/24"}]]}
ENV = {b"CNI_CONTAINERID": b"fzc1", b"CNI_NETNS": b"@POD@", b"CNI_IFNAME": b"net1",
       b"CNI_PATH": b"@BIN@"}


def conf(plugin: str, **extra: Any) -> bytes:
    return json.dumps({"cniVersion": "1.1.0", "name": "fznet", "type": plugin,
                       **extra}).encode()


CASES = {
    "ipam type of 300 characters": ("macvlan", ("ADD", "DEL"), {},
                                    conf("macvlan", master="up0", ipam={"type": "a" * 300})),
    "tuning on lo": ("tuning", ("ADD", "DEL"), {b"CNI_IFNAME": b"lo"},
                     conf("tuning", dataDir="@ROOT@/tun", mac="02:00:5e:00:53:05", mtu=1300,
                          prevResult={"cniVersion": "1.1.0", "interfaces": [
                              {"name": "lo", "sandbox": "@POD@"}]})),
    "host-device by the default-route NIC's MAC": ("host-device", ("ADD", "DEL"), {},
                                                   conf("host-device", hwaddr=UP0_MAC)),
    "host-device by kernelpath": ("host-device", ("ADD", "CHECK", "DEL"), {},
                                  conf("host-device", kernelpath="/sys/devices/virtual")),
    "CNI_NETNS a mount namespace": ("macvlan", ("ADD", "DEL"),
                                    {b"CNI_NETNS": b"/proc/self/ns/mnt"},
                                    conf("macvlan", master="up0", ipam=HL)),
    "CNI_NETNS overlong": ("macvlan", ("ADD", "DEL"), {b"CNI_NETNS": b"/" + b"a" * 5000},
                           conf("macvlan", master="up0", ipam=HL)),
    "CNI_NETNS a directory": ("tuning", ("ADD", "DEL"), {b"CNI_NETNS": b"/proc/self/ns"},
                              conf("tuning", dataDir="@ROOT@/tun", mtu=1300, prevResult={
                                  "cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}]})),
    "host-local GC with dataDir false": ("host-local", ("ADD", "GC", "STATUS", "DEL"), {},
                                         conf("fz", ipam={**HL, "dataDir": False})),
    "host-local dataDir a file": ("host-local", ("ADD", "DEL"), {},
                                  conf("fz", ipam={**HL, "dataDir": "@ROOT@/file"})),
    "tuning dataDir a file": ("tuning", ("ADD", "DEL"), {b"CNI_IFNAME": b"eth0"},
                              conf("tuning", dataDir="@ROOT@/file", mtu=1300, prevResult={
                                  "cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}]})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_issue_16_finding(name: str, fuzz_bin: Path, make_lab: Callable[..., Lab]) -> None:
    plugin, verbs, env, stdin = CASES[name]
    lab = make_lab(tuning_eth0=plugin == "tuning", bindir=fuzz_bin)
    try:
        before, nft = lab.snapshot(), lab.nft()
        c = Case(verbs, tuple({**ENV, **env}.items()), stdin)
        calls = run_case(lab, fuzz_bin / plugin, c)
        check_nothing_left(lab, c, calls, before, nft, ())
        add = calls[0]
        if name.startswith(("ipam type", "host-device by the default", "CNI_NETNS",
                            "host-local dataDir a file", "tuning dataDir a file")):
            assert add.rc == 1, add.describe()
            assert "this is a bug" not in add.answer.get("details", "")
        if name.startswith("host-device by the default"):
            assert add.answer["code"] == 7 and "default route" in add.answer["msg"]
        if name.startswith("CNI_NETNS"):
            assert add.answer["code"] == 8, add.describe()
    finally:
        lab.destroy()
