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
from tests.fuzz.harness import Lab, ThickNode, check_answer, link_states, run_contained
from tests.fuzz.known import known_bug, known_sequence_bug

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


@pytest.mark.xfail(strict=True, reason=(
    "plugins/common.py run_ipam: `is_builtin(ipam_type)` runs any built-in type as the IPAM "
    "in process, so macvlan with \"ipam\": {\"type\": \"bridge\"} runs bridge's ADD (a veth "
    "in the pod, a cni0 bridge in the node), whose own IPAM is bridge again: RecursionError, "
    "code 999, and cni0 left behind. Fix: only the IPAM built-ins (host-local, static) run "
    "in process; refuse an interface plugin type as IPAM with code 7 before anything runs"))
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


@pytest.mark.xfail(strict=True, reason=(
    "cni/config.py validate_ifname accepts control characters (CNI_IFNAME=\"\\x08\"), which "
    "netattach.linux.validate_ifname refuses with a ValueError: code 999. Fix: refuse them "
    "in cni/config.py validate_ifname (code 4), as netattach.linux does"))
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


@pytest.mark.xfail(strict=True, reason=(
    "cni/config.py loads_object keeps lone surrogates of JSON escapes (\"\\ud800\"), so a "
    "path made of one (host-local dataDir) raises UnicodeEncodeError: code 999. Fix: decode "
    "as Go does (invalid surrogates become U+FFFD), or refuse such stdin with code 6"))
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


@pytest.mark.xfail(strict=True, reason=(
    "attach/meta.py MetaPlugin.add: a second ADD of the same container (same CNI_IFNAME) "
    "saves the delegate cache over the first ADD's, fails in require_free_ifname (eth0 "
    "exists), and roll_back then removes the cache: the runtime's DEL finds none and the "
    "first ADD's eth0 and host-local address stay. Fix: in add(), refuse before "
    "ctx.cache.save when a cache for the container id exists (or let roll_back restore "
    "the previous cache instead of removing it)"))
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
        assert known_sequence_bug(calls) is None
    finally:
        links = link_states(lab.pod)
        lab.destroy()
    assert sorted(links) == ["lo"], links


@pytest.mark.xfail(strict=True, reason=(
    "attach/meta.py: the KubeError of KubeClient.from_kubeconfig (here: the kubeconfig file "
    "does not exist) escapes MetaPlugin.add as an unexpected exception: code 999 'this is a "
    "bug'. Fix: in Context.kube() (or where it is called), turn KubeError into a CNIError: "
    "code 7 for a kubeconfig that cannot be loaded, 11 for an unreachable API"))
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
