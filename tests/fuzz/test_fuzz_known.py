"""The fuzz suite's findings in code being refactored elsewhere, each with its minimal
input, as strict xfails: they pass (and so fail, strictly) once the fix lands, and then
the xfail and the entry in known.py go. The random suite skips exactly these signatures
(known.py) and checks everything else of the same calls."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.daemon_support import http
from tests.fuzz.harness import Lab, ThickNode, check_answer, run_contained
from tests.fuzz.known import known_bug

pytestmark = pytest.mark.root

STATIC = json.dumps({"cniVersion": "1.0.0", "name": "fznet", "type": "static",
                     "ipam": {"type": "static",
                              "addresses": [{"address": "203.0.113.10/24"}]}}).encode()


def env(lab: Lab, **extra: bytes) -> dict[bytes, bytes]:
    return {b"CNI_COMMAND": b"ADD", b"CNI_CONTAINERID": b"fzc1",
            b"CNI_NETNS": lab.pod_path.encode(), b"CNI_IFNAME": b"net1",
            **{k.encode(): v for k, v in extra.items()}}


@pytest.mark.xfail(strict=True, reason=(
    "cni/config.py validate_ifname: len(ifname.encode()) raises UnicodeEncodeError on the "
    "surrogates os.environ makes of non-UTF-8 bytes, so code 999 'this is a bug'; fix in "
    "cni/request.py request_from_env: refuse any CNI_* value that is not UTF-8 "
    "(value.encode('utf-8') fails) with code 4 naming the variable"))
def test_non_utf8_ifname_is_code_4(fuzz_bin: Path, make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    try:
        call = run_contained(lab, fuzz_bin / "static", env(lab, CNI_IFNAME=b"\xff"), STATIC)
    finally:
        lab.destroy()
    assert known_bug(call) is None, call.describe()
    check_answer(call)
    assert call.rc == 1 and call.answer["code"] == 4, call.describe()


@pytest.mark.xfail(strict=True, reason=(
    "cni/config.py loads_object catches ValueError and UnicodeDecodeError, not "
    "RecursionError, so deeply nested stdin is code 999 'this is a bug'; fix: catch "
    "RecursionError there too (code 6, 'nested too deeply')"))
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


@pytest.mark.xfail(strict=True, reason=(
    "daemon/service.py CniService._serve: request_from_env runs outside the try around "
    "dispatch and handle() catches only CNIError, so a UnicodeEncodeError (CNI_IFNAME "
    "'\\udcff' in the POSTed env) kills the request thread: no HTTP answer. Fix: build the "
    "request inside the try, and catch Exception in handle() as a code 999 answer"))
def test_daemon_answers_a_surrogate_ifname(thick_node: ThickNode) -> None:
    answer = _post(thick_node, {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "fzc1",
                                "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "\udcff"}, META)
    assert answer is not None, "no HTTP answer"
    status, body = answer
    assert status == 400 and json.loads(body)["code"] == 4


@pytest.mark.xfail(strict=True, reason=(
    "daemon/service.py CniService._config: json.loads(stdin) catches ValueError, not "
    "RecursionError, outside any try of handle(): deeply nested config kills the request "
    "thread, no HTTP answer (the shim now refuses such stdin itself, code 6). Fix: catch "
    "RecursionError in _config (and Exception in handle())"))
def test_daemon_answers_a_deeply_nested_config(thick_node: ThickNode) -> None:
    answer = _post(thick_node, {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "fzc1",
                                "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0"},
                   b"[" * 100_000)
    assert answer is not None, "no HTTP answer"
    status, body = answer
    assert status == 400 and json.loads(body)["code"] == 6
