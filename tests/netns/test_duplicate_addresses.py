"""Duplicate addresses on real namespaces: a namespace stands in for the node, others for pod
sandboxes; delegate caches are written by the meta plugin's own DelegateCache.

doctor (in process and the CLI) and the pre-ADD helper must find the node's own address,
another sandbox's address on the same master, and another sandbox's cached request, and
say nothing about different addresses in the same subnet or a pod's own sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netattach.attach.delegate_cache import Delegate, DelegateCache, PodAttachments
from netattach.attach.networks import as_conflist
from netattach.doctor.findings import Finding
from netattach.doctor.main import DoctorOptions, diagnose
from netattach.doctor.preadd import address_findings_before_add
from netattach.linux import run_in_netns

pytestmark = pytest.mark.root


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def mv_conf(master: str) -> dict:
    return {"cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "master": master,
            "ipam": {"type": "static"}}


def nad_yaml(conf: dict) -> str:
    return ("apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
            "metadata: {name: mv, namespace: default}\n"
            f"spec:\n  config: '{json.dumps(conf)}'\n")


def pod_yaml(name: str, address: str) -> str:
    nets = json.dumps([{"name": "mv", "ips": [address]}])
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n"
            f"  annotations:\n    k8s.v1.cni.cncf.io/networks: '{nets}'\n"
            "spec: {containers: []}\n")


def sandbox(cid: str, pod: str, netns: str, conf: dict, *addresses: str) -> PodAttachments:
    return PodAttachments(cid, netns, "default", pod, f"uid-{pod}", (
        Delegate("default/mv", as_conflist(conf), "net1", requested_ips=addresses),))


@pytest.fixture
def lab(netns_factory, tmp_path):
    """A node namespace whose veth `parent` has 192.0.2.1/24; sandbox `pod1` with a macvlan
    of `parent` holding 192.0.2.60/24; sandbox `pod2` with a veth to the node holding
    192.0.2.61/24; an empty delegate cache dir and a YAML file writer."""
    node = netns_factory.make_netns("node")
    peer = netns_factory.make_netns("peer")
    pod1 = netns_factory.make_netns("pod")
    pod2 = netns_factory.make_netns("pod")
    parent, _ = netns_factory.make_veth(node, peer)
    ip("-n", node.name, "addr", "add", "192.0.2.1/24", "dev", parent)
    mv = netns_factory.link_name("mv")
    ip("-n", node.name, "link", "add", mv, "link", parent, "type", "macvlan", "mode", "bridge")
    ip("-n", node.name, "link", "set", mv, "netns", pod1.name)
    ip("-n", pod1.name, "addr", "add", "192.0.2.60/24", "dev", mv)
    ip("-n", pod1.name, "link", "set", mv, "up")
    _, pod_veth = netns_factory.make_veth(node, pod2)
    ip("-n", pod2.name, "addr", "add", "192.0.2.61/24", "dev", pod_veth)
    cni_dir = tmp_path / "cni"
    root = tmp_path / "root"
    root.mkdir()
    docs = tmp_path / "k8s.yaml"

    def write(*pods: tuple[str, str]) -> str:
        docs.write_text("---\n".join([nad_yaml(mv_conf(parent)),
                                      *(pod_yaml(n, a) for n, a in pods)]))
        return str(docs)

    return {"node": node, "pod1": pod1, "pod2": pod2, "parent": parent, "mv": mv,
            "veth": pod_veth, "cni_dir": cni_dir, "root": root, "write": write}


def doctor(lab, files: str) -> list[Finding]:
    opts = DoctorOptions(files=(files,), root=str(lab["root"]), cni_dir=str(lab["cni_dir"]))
    return run_in_netns(lab["node"].path, diagnose, opts)


def dup(findings: list[Finding]) -> dict[str, tuple[str, str]]:
    """{pod: (id, severity)} of the duplicate-address findings, keyed by the asking pod."""
    out = {}
    for f in findings:
        if f.id.startswith("duplicate-address"):
            out[f.evidence[0].split()[1]] = (f.id, f.severity)
    return out


def test_doctor_finds_the_node_and_sandboxes_holding_requested_addresses(lab) -> None:
    files = lab["write"](("a", "192.0.2.1/24"), ("b", "192.0.2.60/24"), ("c", "192.0.2.70/24"),
                         ("d", "192.0.2.61/24"))
    found = doctor(lab, files)
    assert dup(found) == {"default/a": ("duplicate-address-node", "error"),
                          "default/b": ("duplicate-address-node", "error"),
                          "default/d": ("duplicate-address-node", "warning")}
    by_pod = {f.evidence[0].split()[1]: f for f in found if f.id == "duplicate-address-node"}
    assert by_pod["default/a"].title == f"192.0.2.1 is the node's own address on {lab['parent']}"
    b = by_pod["default/b"]
    assert b.title == f"192.0.2.60 is already on {lab['mv']} in namespace {lab['pod1'].path}"
    assert b.fix[1].endswith(f"ip -n {lab['pod1'].name} addr del 192.0.2.60/24 dev {lab['mv']}")
    assert "cannot be told" in by_pod["default/d"].evidence[2]


def test_the_pods_own_sandbox_and_a_duplicate_in_the_delegate_cache(lab) -> None:
    conf = mv_conf(lab["parent"])
    cache = DelegateCache(lab["cni_dir"])
    cache.save(sandbox("b" * 64, "b", lab["pod1"].path, conf, "192.0.2.60/24"))
    cache.save(sandbox("e" * 64, "e", lab["pod2"].path, conf, "192.0.2.80/24"))
    files = lab["write"](("b", "192.0.2.60/24"), ("f", "192.0.2.80/24"))
    found = doctor(lab, files)
    # b's address is in b's own sandbox; f asks for what sandbox e of pod e has
    assert dup(found) == {"default/f": ("duplicate-address-pod", "error")}
    [f] = [f for f in found if f.id == "duplicate-address-pod"]
    assert f.title == "192.0.2.80 on NAD default/mv is already used by pod default/e"
    assert f"crictl rmp {'e' * 64}" in f.fix[1]
    # the CLI: exit 1, the finding in -o json
    p = subprocess.run(["ip", "netns", "exec", lab["node"].name, sys.executable, "-m",
                        "netattach", "doctor", "--root", str(lab["root"]), "--cni-dir",
                        str(lab["cni_dir"]), "-f", files, "-o", "json"],
                       capture_output=True, text=True, env={**os.environ, "KUBECONFIG": ""})
    assert p.returncode == 1, p.stdout + p.stderr
    assert [(x["id"], x["reason"]) for x in json.loads(p.stdout)] == [
        ("duplicate-address-pod", "DuplicateAddress")]


def test_clean_node_with_addresses_in_one_subnet(lab) -> None:
    conf = mv_conf(lab["parent"])
    DelegateCache(lab["cni_dir"]).save(sandbox("b" * 64, "b", lab["pod1"].path, conf,
                                               "192.0.2.60/24"))
    files = lab["write"](("b", "192.0.2.60/24"), ("c", "192.0.2.70/24"), ("g", "192.0.2.71/24"))
    assert doctor(lab, files) == []


def test_before_add(lab, netns_factory) -> None:
    conf = mv_conf(lab["parent"])
    cni_dir = lab["cni_dir"]
    DelegateCache(cni_dir).save(sandbox("e" * 64, "e", lab["pod2"].path, conf, "192.0.2.80/24"))
    new = netns_factory.make_netns("new")

    def before_add(*addresses: str, c: dict = conf) -> list[Finding]:
        att = sandbox("n" * 64, "new", new.path, c, *addresses)
        DelegateCache(cni_dir).save(att)  # the meta plugin writes it before preflight
        return run_in_netns(lab["node"].path, address_findings_before_add, att, str(cni_dir))

    [f] = before_add("192.0.2.60/24")
    assert (f.id, f.severity) == ("duplicate-address-node", "error")
    assert f.evidence[0] == "pod default/new (being added, net1) asks for 192.0.2.60/24 on NAD " \
        "default/mv"
    [f] = before_add("192.0.2.1/24")
    assert f.title == f"192.0.2.1 is the node's own address on {lab['parent']}"
    [f] = before_add("192.0.2.80/24")
    assert (f.id, f.severity) == ("duplicate-address-pod", "error")
    assert before_add("192.0.2.90/24") == []
    assert before_add() == []  # static IPAM without addresses: nothing to compare
    hl = {**conf, "ipam": {"type": "host-local", "subnet": "192.0.2.0/24"}}
    assert before_add(c=hl) == []
    assert Path(cni_dir, "n" * 64).exists()


def test_before_add_compares_with_pods_network_status_asking_only_for_the_addresses(
        lab, netns_factory) -> None:
    """The daemon's pods come filtered: the pre-ADD check says which addresses it wants."""
    from netattach.doctor.sources import PodSource
    from netattach.kube.network_status import NETWORK_STATUS_ANNOTATION

    conf = mv_conf(lab["parent"])
    new = netns_factory.make_netns("new")
    att = sandbox("n" * 64, "new", new.path, conf, "192.0.2.95/24")
    DelegateCache(lab["cni_dir"]).save(att)
    asked: list[object] = []
    status = json.dumps([{"name": "default/mv", "interface": "net1", "ips": ["192.0.2.95"]}])

    def pods(mentioning):
        asked.append(mentioning)
        return [PodSource("default", "other", "node-1", {NETWORK_STATUS_ANNOTATION: status})]

    found = run_in_netns(lab["node"].path, lambda: address_findings_before_add(
        att, str(lab["cni_dir"]), pods=pods))
    assert asked == [{"192.0.2.95"}]
    assert [(f.id, f.severity) for f in found] == [("duplicate-address-pod", "error")], found
    assert "default/other" in found[0].title
    asked.clear()
    none = sandbox("m" * 64, "none", new.path, {**conf, "ipam": {"type": "host-local",
                                                                 "subnet": "192.0.2.0/24"}})
    assert address_findings_before_add(none, str(lab["cni_dir"]), pods=pods) == []
    assert asked == []  # no fixed address wanted: the pods are never asked for
