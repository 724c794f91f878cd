"""Property: the thin meta plugin (the `netattach` executable) against the fake API server
answers like a CNI plugin whatever the pod's annotations, the NADs, CNI_ARGS and its own
config say; it never asks the API server for anything but pods, pods/status, events and
NADs by valid names; and after the runtime's DEL nothing is left behind.

One node namespace serves the module (the API server listens on its 127.0.0.1); every
example has its own pod netns, its own pod object (created with the example's annotations)
and rewrites the NADs `nad-a` (macvlan on up0) and `nad-b` (macvlan + tuning).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from tests.fuzz.harness import (
    SEED,
    Call,
    Lab,
    Violation,
    changed_links,
    check_answer,
    ip,
    leftover_files,
    link_states,
    node_with_uplink,
    record,
    run_contained,
    scale,
    wipe_files,
)
from tests.fuzz.known import known_bug
from tests.fuzz.strategies import (
    NON_UTF8,
    ODD_STDIN,
    VERB_SEQUENCES,
    Case,
    cni_args_pairs,
    env_value,
    fields,
    fuzz_settings,
    mostly,
    value,
)
from tests.kubeapi.server import NADS, PODS, FakeKubeAPI

pytestmark = pytest.mark.root

NETWORKS = "k8s.v1.cni.cncf.io/networks"
TOKEN = "fuzz-token"
FUZZ = fuzz_settings(60_000)
# what the meta plugin may ask for: objects of the pod's namespace by valid names
ALLOWED_PATHS = re.compile(
    r"/api/v1/namespaces/[a-z0-9-]+/(pods/[a-z0-9.-]+(/status)?|events)"
    r"|/apis/k8s\.cni\.cncf\.io/v1/namespaces/[a-z0-9-]+/network-attachment-definitions/"
    r"[a-z0-9.-]+")


@dataclass
class MetaNode:
    netns: str
    root: Path
    api: FakeKubeAPI
    bindir: Path
    meta_bin: Path
    links: dict[str, Any]
    counter: Iterator[int]

    def state_dirs(self) -> list[Path]:
        return [self.root / d for d in ("hl", "cni", "tun", "run", "var-lib")]


@pytest.fixture(scope="module")
def meta_node(netns_prefix: str, fuzz_bin: Path, meta_bin: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetaNode]:
    from netattach.linux import run_in_netns

    root = tmp_path_factory.mktemp("fuzz-meta")
    for d in ("run/netns", "var-lib", "hl", "cni", "tun", "conf"):
        (root / d).mkdir(parents=True)
    netns, peer = f"{netns_prefix}fzmn", f"{netns_prefix}fzmp"
    api = None
    try:
        node_with_uplink(netns, peer)
        api = run_in_netns(f"/run/netns/{netns}", lambda: FakeKubeAPI(tokens=[TOKEN]).start())
        (root / "token").write_text(TOKEN)
        (root / "kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "f", "cluster": {"server": api.url}}],
            "users": [{"name": "u", "user": {"tokenFile": str(root / "token")}}],
            "contexts": [{"name": "f", "context": {"cluster": "f", "user": "u"}}],
            "current-context": "f"}))
        (root / "conf" / "10-cluster.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "fzcluster", "plugins": [{
                "type": "macvlan", "master": "up0", "mode": "bridge",
                "ipam": {"type": "host-local", "dataDir": str(root / "hl"),
                         "ranges": [[{"subnet": "198.51.100.0/24"}]]}}]}))
        yield MetaNode(netns, root, api, fuzz_bin, meta_bin, link_states(netns),
                       itertools.count())
    finally:
        if api is not None:
            api.stop()
        ip("netns", "del", netns, check=False)
        ip("netns", "del", peer, check=False)


# -- strategies ---------------------------------------------------------------------------------
macvlan_nad = fields(
    {"cniVersion": value("1.0.0", "0.3.1", "1.1.0"), "type": value("macvlan", "bridge"),
     "master": value("up0", "lo", "nonexistent"),
     "ipam": value({"type": "host-local", "dataDir": "@MROOT@/hl",
                    "ranges": [[{"subnet": "203.0.113.0/24"}]]},
                   {"type": "static"}, {"type": "static", "addresses": [
                       {"address": "203.0.113.50/24"}]}, {"type": "a" * 300}, {})},
    {"name": value("nad-a", "other"), "mode": value("bridge", "passthru"),
     "capabilities": value({"ips": True, "mac": True})})
tuning_nad = macvlan_nad.map(lambda first: {
    "cniVersion": first.get("cniVersion", "1.0.0"), "name": "nad-b",
    "plugins": [first, {"type": "tuning", "dataDir": "@MROOT@/tun", "mtu": 1400,
                        "sysctl": {"net.ipv4.conf.IFNAME.arp_ignore": "1"}}]})
nad_config = mostly(st.tuples(macvlan_nad, tuning_nad).map(
    lambda t: {"nad-a": json.dumps(t[0]), "nad-b": json.dumps(t[1])}),
    st.sampled_from([{"nad-a": "{", "nad-b": "[]"}, {"nad-a": "", "nad-b": "null"},
                     {}, {"nad-a": json.dumps({"type": "macvlan"})}]), 8.5)
networks = value("nad-a", "nad-a@net7", "default/nad-a", "nad-a,nad-b", "nad-b", "nad-a,nad-a",
                 json.dumps([{"name": "nad-a", "interface": "net5",
                              "ips": ["203.0.113.60/24"]}]),
                 json.dumps([{"name": "nad-a", "mac": "02:00:5e:00:53:70"}]),
                 json.dumps([{"name": "nad-a", "namespace": "kube-system"}]),
                 json.dumps([{"name": "../secrets/db-password"}]), "../secrets/x", "nope",
                 "[{", "", json.dumps([{"name": "nad-a", "interface": "eth0"}]), tenths=4)
annotations = mostly(st.fixed_dictionaries({}, optional={
    NETWORKS: networks.map(lambda v: v if isinstance(v, str) else json.dumps(v)),
    "v1.multus-cni.io/default-network": st.sampled_from(["nad-a", "nope", "../x"])}),
    # what a real API server would never store; the plugin must not trust it either
    st.sampled_from([["nad-a"], {NETWORKS: 5}, {NETWORKS: ["nad-a"]}, "x"]), 9.5)
POD_ARGS = (b"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=@PODNAME@;"
            b"K8S_POD_INFRA_CONTAINER_ID=fzc1;K8S_POD_UID=@PODUID@")
cni_args = mostly(st.just(POD_ARGS), st.sampled_from([
    b"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=../secrets/db-password",
    b"IgnoreUnknown=1;K8S_POD_NAMESPACE=../../api;K8S_POD_NAME=@PODNAME@",
    b"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=@PODNAME@;K8S_POD_UID=wrong-uid",
    b"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=gone-pod",
    b"K8S_POD_NAMESPACE=default;K8S_POD_NAME=@PODNAME@", b""]) | cni_args_pairs, 8)
meta_config = fields(
    {"cniVersion": value("1.0.0", "0.3.1", "1.1.0", "0.4.0"), "name": value("fzmeta"),
     "type": value("netattach"), "kubeconfig": value("@MROOT@/kubeconfig", "@MROOT@/none",
                                                     "@MROOT@/token", ""),
     "clusterNetwork": value("@MROOT@/conf/10-cluster.conflist", "@MROOT@/conf", "nad-a",
                             "nope"),
     "confDir": value("@MROOT@/conf"), "cniDir": value("@MROOT@/cni", "@MROOT@/token"),
     "binDir": value("@BIN@")},
    {"defaultNetworks": value(["nad-b"], ["nope"], "nad-b"),
     "namespaceIsolation": value(True), "systemNamespaces": value(["default"]),
     "logLevel": value("debug", "nope"), "logToStderr": value(True),
     "retryDeleteOnError": value(True)})


@dataclass(frozen=True)
class MetaCase:
    case: Case
    annotations: Any
    nads: dict[str, str]


meta_cases = st.builds(
    MetaCase,
    st.builds(Case, VERB_SEQUENCES, st.fixed_dictionaries({
        b"CNI_CONTAINERID": env_value(b"fzc1", [b"", b"c" * 300, *NON_UTF8]),
        b"CNI_NETNS": env_value(b"@POD@", [b"", b"/proc/self/ns/mnt", b"/run/netns/fz-none"]),
        b"CNI_IFNAME": env_value(b"eth0", [b"", b"net1", b"a" * 16, *NON_UTF8]),
        b"CNI_ARGS": cni_args,
        b"CNI_PATH": env_value(b"@BIN@", [b""]),
    }).map(lambda d: tuple((k, v) for k, v in d.items() if v is not None)),
        mostly(meta_config.map(lambda c: json.dumps(c).encode()), ODD_STDIN, 9.5)),
    annotations, nad_config)


def _resolve(node: MetaNode, pod: dict[str, Any], lab: Lab, data: bytes) -> bytes:
    meta = pod["metadata"]
    return (lab.resolve(data).replace(b"@MROOT@", str(node.root).encode())
            .replace(b"@PODNAME@", meta["name"].encode())
            .replace(b"@PODUID@", meta["uid"].encode()))


@seed(SEED)
@settings(FUZZ, max_examples=scale(20))
@given(m=meta_cases)
def test_meta_plugin_executable(meta_node: MetaNode, make_lab: Callable[..., Lab],
                                m: MetaCase) -> None:
    node, api = meta_node, meta_node.api
    for name in ("nad-a", "nad-b"):
        api.delete(NADS, "default", name)
        if name in m.nads:
            api.create(NADS, {"metadata": {"name": name, "namespace": "default"},
                              "spec": {"config": _resolve_text(node, m.nads[name])}})
    pod = api.create(PODS, {"metadata": {"name": f"fzpod{next(node.counter)}",
                                         "namespace": "default",
                                         "annotations": m.annotations},
                            "spec": {"nodeName": "node-1",
                                     "containers": [{"name": "c", "image": "x"}]}})
    lab = make_lab(bindir=node.bindir)
    seen = len(api.requests)
    try:
        pod_before = link_states(lab.pod)
        calls: list[Call] = []
        added: Any = None
        stdin = _resolve(node, pod, lab, m.case.stdin)
        for verb in m.case.verbs:
            env = {k: _resolve(node, pod, lab, v) for k, v in m.case.env_for(verb).items()}
            body = stdin
            if verb in ("CHECK", "DEL") and isinstance(added, dict):
                try:
                    body = json.dumps({**json.loads(stdin), "prevResult": added}).encode()
                except (ValueError, RecursionError, TypeError):
                    body = stdin
            call = run_contained(lab, node.meta_bin, env, body,
                                 timeout=120, node=node.netns)
            calls.append(call)
            record(call)
            if known_bug(call) is None:
                check_answer(call)
            if verb == "ADD" and call.rc == 0 and added is None:
                added = call.answer
        where = "".join(call.describe() for call in calls)
        api.settle()
        asked = [f"{r.method} {r.path}" for r in api.requests[seen:]
                 if not ALLOWED_PATHS.fullmatch(r.path)]
        if asked:
            raise Violation(f"asked the API server for {asked}{where}")
        last = calls[-1]
        if added and last.command == "DEL" and last.rc != 0 and known_bug(last) is None:
            raise Violation(f"DEL after a successful ADD failed:{last.describe()}")
        if added and m.case.verbs[-1] != "DEL":
            return
        links = changed_links({lab.pod: pod_before, node.netns: node.links},
                              {lab.pod: link_states(lab.pod),
                               node.netns: link_states(node.netns)}, node.netns)
        if links:
            raise Violation(f"links left or changed: {links}{where}")
        files = [f for d in node.state_dirs() for f in leftover_files(d)]
        if files:
            raise Violation(f"files left behind: {files}{where}")
    finally:
        lab.destroy()
        api.delete(PODS, "default", pod["metadata"]["name"])
        for d in node.state_dirs():  # each example starts from a clean node
            wipe_files(d)


def _resolve_text(node: MetaNode, text: str) -> str:
    return text.replace("@MROOT@", str(node.root))
