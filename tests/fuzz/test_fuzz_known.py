"""The fuzz suite's findings, each replayed with its minimal input as a regression test
(they were code 999 "this is a bug", no HTTP answer, or an attachment DEL could not
remove). Findings not fixed yet are in known.py, which the random suite skips."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.daemon_support import http
from tests.fuzz.harness import Lab, ThickNode, check_answer, link_states, run_contained
from tests.fuzz.known import known_bug

pytestmark = pytest.mark.root

STATIC = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "static",
                     "ipam": {"type": "static",
                              "addresses": [{"address": "203.0.113.10/24"}]}}).encode()


def env(lab: Lab, **extra: bytes) -> dict[bytes, bytes]:
    return {b"CNI_COMMAND": b"ADD", b"CNI_CONTAINERID": b"fzc1",
            b"CNI_NETNS": lab.pod_path.encode(), b"CNI_IFNAME": b"net1",
            **{k.encode(): v for k, v in extra.items()}}


def test_non_utf8_ifname_is_code_4(fuzz_bin: Path, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        call = run_contained(lab, fuzz_bin / "static", env(lab, CNI_IFNAME=b"\xff"), STATIC)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)
    assert call.rc == 1 and call.answer["code"] == 4, call.describe()


def test_deeply_nested_stdin_is_code_6(fuzz_bin: Path, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        call = run_contained(lab, fuzz_bin / "static", env(lab), b"[" * 100_000)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)
    assert call.rc == 1 and call.answer["code"] == 6, call.describe()


def _post(node: ThickNode, env: dict[str, str], config: bytes) -> tuple[int, bytes] | None:
    body = json.dumps({"env": env, "config": base64.b64encode(config).decode()}).encode()
    try:
        return http(node.socket_dir / "netattach.sock", "POST", "/cni", body, timeout=30)
    except (OSError, IndexError, ValueError):
        return None  # no (complete) HTTP answer: the request thread died


META = json.dumps({"cniVersion": "1.0.0", "name": "fzmeta", "type": "netattach-shim",
                   "clusterNetwork": "/nonexistent.conf", "cniDir": "/nonexistent"}).encode()


def test_daemon_answers_a_surrogate_ifname(thick_node: ThickNode) -> None:
    answer = _post(thick_node, {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "fzc1",
                                "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "\udcff"}, META)
    assert answer is not None, "no HTTP answer"
    status, body = answer
    assert status == 400 and json.loads(body)["code"] == 4


def test_daemon_answers_a_deeply_nested_config(thick_node: ThickNode) -> None:
    answer = _post(thick_node, {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "fzc1",
                                "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0"},
                   b"[" * 100_000)
    assert answer is not None, "no HTTP answer"
    status, body = answer
    assert status == 400 and json.loads(body)["code"] == 6


def test_an_interface_plugin_as_ipam_is_refused(fuzz_bin: Path,
                                                make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(bindir=fuzz_bin)
    try:
        before = lab.snapshot()
        stdin = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "macvlan",
                            "master": "up0", "ipam": {"type": "bridge"}}).encode()
        call = run_contained(lab, fuzz_bin / "macvlan", env(lab, CNI_PATH=str(fuzz_bin)
                                                              .encode()), stdin)
        assert known_bug(call) is None, call.describe()
        check_answer(call)
        assert call.rc == 1 and call.answer["code"] == 7, call.describe()
        assert lab.snapshot() == before
    finally:
        lab.destroy()


def test_control_character_ifname_is_code_4(fuzz_bin: Path,
                                            make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        stdin = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "host-device",
                            "device": "hd0"}).encode()
        call = run_contained(lab, fuzz_bin / "host-device", env(lab, CNI_IFNAME=b"\x08"),
                             stdin)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)
    assert call.rc == 1 and call.answer["code"] == 4, call.describe()


def test_lone_surrogate_in_config_is_a_cni_error(fuzz_bin: Path,
                                                 make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        stdin = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "x", "ipam": {
            "type": "host-local", "dataDir": "\ud800",
            "ranges": [[{"subnet": "198.51.100.0/24"}]]}}).encode()
        call = run_contained(lab, fuzz_bin / "host-local", env(lab), stdin)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)


def test_a_second_add_keeps_the_first_deletable(shim_bin: Path, thick_node: ThickNode,
                                                make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        stdin = json.dumps({"cniVersion": "1.0.0", "name": "fzshim", "type": "netattach-shim",
                            "daemonSocketDir": str(thick_node.socket_dir),
                            "clusterNetwork": str(thick_node.root / "conf" /
                                                  "10-cluster.conflist"),
                            "cniDir": str(thick_node.root / "cni"),
                            "binDir": "/nonexistent-bin"}).encode()
        calls = [run_contained(lab, shim_bin, env(lab, CNI_COMMAND=verb, CNI_IFNAME=b"eth0"),
                               stdin, in_node=False) for verb in (b"ADD", b"ADD", b"DEL")]
        assert [c.rc for c in calls] == [0, 1, 0], [c.describe() for c in calls]
    finally:
        links = link_states(lab.pod)
        lab.destroy()
    assert sorted(links) == ["lo"], links


def _meta_stdin(thick_node: ThickNode, **conf: str) -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "fzshim", "type": "netattach-shim",
                       "daemonSocketDir": str(thick_node.socket_dir),
                       "clusterNetwork": str(thick_node.root / "conf" / "10-cluster.conflist"),
                       "cniDir": str(thick_node.root / "cni"), "binDir": "/nonexistent-bin",
                       **conf}).encode()


def _add_then_del(lab: Lab, shim_bin: Path, stdin: bytes, **extra: bytes) -> list:
    """ADD then the runtime's DEL through the shim; both CNI answers; nothing left in the
    pod's namespace."""
    try:
        calls = [run_contained(lab, shim_bin, env(lab, CNI_COMMAND=verb, CNI_IFNAME=b"eth0",
                                                  **extra), stdin, in_node=False)
                 for verb in (b"ADD", b"DEL")]
        for call in calls:
            check_answer(call)
        assert calls[1].rc == 0, calls[1].describe()
    finally:
        links = link_states(lab.pod)
        lab.destroy()
    assert sorted(links) == ["lo"], links
    return calls


def test_an_overlong_container_id_is_a_cni_error_and_leaves_nothing(
        shim_bin: Path, thick_node: ThickNode, make_lab: Callable[..., Lab]) -> None:
    """A container ID longer than a file name can be: ADD fails naming the delegate cache
    file, and DEL (which the runtime sends after a failed ADD) succeeds."""
    add, _ = _add_then_del(make_lab(), shim_bin, _meta_stdin(thick_node),
                           CNI_CONTAINERID=b"c" * 300)
    assert add.rc == 1 and "File name too long" in add.answer["msg"], add.describe()
    assert "unexpected" not in add.answer.get("details", "")


def test_a_cni_dir_that_is_a_file_is_a_cni_error(shim_bin: Path, thick_node: ThickNode,
                                                 make_lab: Callable[..., Lab],
                                                 tmp_path: Path) -> None:
    not_a_dir = tmp_path / "cni-file"
    not_a_dir.write_text("")
    add, _ = _add_then_del(make_lab(), shim_bin, _meta_stdin(thick_node, cniDir=str(not_a_dir)))
    assert add.rc == 1 and add.answer["code"] == 5, add.describe()
    assert str(not_a_dir) in add.answer["msg"]


def test_a_missing_kubeconfig_is_a_config_error(meta_bin: Path, fuzz_bin: Path,
                                                make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        stdin = json.dumps({"cniVersion": "1.0.0", "name": "fzmeta", "type": "netattach",
                            "kubeconfig": str(lab.root / "none"),
                            "clusterNetwork": str(lab.root / "none.conflist"),
                            "cniDir": str(lab.root / "cni"), "binDir": str(fuzz_bin)}).encode()
        call = run_contained(lab, meta_bin, env(lab, CNI_IFNAME=b"eth0", CNI_ARGS=(
            b"K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;IgnoreUnknown=1")), stdin)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)
    assert call.rc == 1 and call.answer["code"] == 7, call.describe()
    assert "kubeconfig" in call.answer["msg"], call.describe()
