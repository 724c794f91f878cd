"""A catalogue of node states (a namespace stands in for the node) and what doctor says.

Each state: the kernel links of the "node" namespace, a --root dir with the host's network
config files, and NAD/pod YAML; expected: the finding (id, severity, evidence, fix), or
nothing for the clean states. A few run the real `netattach doctor` CLI (exit code, -o json).
VLAN states need 802.1Q: tests/vm/test_doctor_vlan.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netattach.doctor.findings import Finding
from netattach.doctor.main import DoctorOptions, diagnose
from netattach.linux import run_in_netns

pytestmark = pytest.mark.root


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def nad_yaml(name: str, conf: dict) -> str:
    body = json.dumps({"cniVersion": "1.0.0", "name": name, **conf})
    return ("apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
            f"metadata: {{name: {name}, namespace: default}}\nspec:\n  config: '{body}'\n")


def pod_yaml(name: str, networks: list) -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n"
            f"  annotations:\n    k8s.v1.cni.cncf.io/networks: '{json.dumps(networks)}'\n"
            "spec: {containers: []}\n")


@pytest.fixture
def state(netns_factory, tmp_path):
    """(node, parent, root, write_docs): a node namespace with an up veth `parent` that has
    192.0.2.1/24 and carries the default route, and an empty host-config root."""
    node = netns_factory.make_netns("node")
    peer = netns_factory.make_netns("peer")
    parent, _ = netns_factory.make_veth(node, peer)
    ip("-n", node.name, "addr", "add", "192.0.2.1/24", "dev", parent)
    ip("-n", node.name, "route", "add", "default", "via", "192.0.2.254")
    spare, _ = netns_factory.make_veth(node, peer)  # a second NIC, no route
    root = tmp_path / "root"
    root.mkdir()
    docs = tmp_path / "k8s.yaml"

    def write_docs(*items: str) -> str:
        docs.write_text("---\n".join(items))
        return str(docs)

    return node, parent, spare, root, write_docs


def doctor(node, root: Path, files: str, **kw) -> list[Finding]:
    kw.setdefault("cni_dir", str(root / "var/lib/cni/multus"))  # not the machine's caches
    opts = DoctorOptions(files=(files,), root=str(root), **kw)
    return run_in_netns(node.path, diagnose, opts)


def cli(node, root: Path, files: str, *extra: str) -> tuple[int, str]:
    p = subprocess.run(["ip", "netns", "exec", node.name, sys.executable, "-m", "netattach",
                        "doctor", "--root", str(root), "--cni-dir",
                        str(root / "var/lib/cni/multus"), "-f", files, *extra],
                       capture_output=True, text=True, env={**os.environ, "KUBECONFIG": ""})
    return p.returncode, p.stdout + p.stderr


def only(findings: list[Finding], fid: str) -> Finding:
    matching = [f for f in findings if f.id == fid]
    assert len(matching) == 1, findings
    return matching[0]


# -- clean states: nothing to say ---------------------------------------------------------------
def test_clean_macvlan_on_spare_nic(state) -> None:
    node, _parent, spare, root, docs = state
    files = docs(nad_yaml("mv", {"type": "macvlan", "master": spare,
                                 "ipam": {"type": "static"}}),
                 pod_yaml("a", [{"name": "mv", "ips": ["203.0.113.5/24"]}]))
    code, out = cli(node, root, files)
    assert code == 0, out
    assert "no findings" in out


def test_clean_bridge_declared_by_networkd(state, netns_factory) -> None:
    node, _parent, spare, root, docs = state
    br = netns_factory.link_name("br")
    ip("-n", node.name, "link", "add", br, "type", "bridge")
    d = root / "etc/systemd/network"
    d.mkdir(parents=True)
    (d / "10-br.netdev").write_text(f"[NetDev]\nName={br}\nKind=bridge\n")
    assert doctor(node, root, docs(nad_yaml("x", {"type": "macvlan", "master": spare}))) == []


# -- findings ---------------------------------------------------------------------------------
def test_master_missing_cli_json_exit_1(state) -> None:
    node, _parent, _spare, root, docs = state
    files = docs(nad_yaml("mv", {"type": "macvlan", "master": "enp99s0"}))
    code, out = cli(node, root, files, "-o", "json")
    assert code == 1, out
    [f] = json.loads(out)
    assert (f["id"], f["severity"], f["reason"], f["nad"]) == (
        "master-missing", "error", "MasterMissing", "default/mv")
    assert 'does not exist on this node' in f["title"]
    assert any("fix \"master\"" in x or 'set "master"' in x for x in f["fix"])


def test_master_down_and_no_carrier(state, netns_factory) -> None:
    node, _parent, spare, root, docs = state
    ip("-n", node.name, "link", "set", spare, "down")
    found = doctor(node, root, docs(nad_yaml("mv", {"type": "macvlan", "master": spare})))
    f = only(found, "master-down")
    assert f.severity == "error" and f.fix[0] == f"ip link set {spare} up"
    # up, but its peer is down: no carrier
    peer = netns_factory.make_netns("p2")
    a, b = netns_factory.make_veth(node, peer)
    ip("-n", peer.name, "link", "set", b, "down")
    found = doctor(node, root, docs(nad_yaml("mv", {"type": "macvlan", "master": a})))
    f = only(found, "master-no-carrier")
    assert f.reason == "MasterNoCarrier" and a in f.evidence[1]


def test_mtu_too_large(state) -> None:
    node, _parent, spare, root, docs = state
    found = doctor(node, root, docs(nad_yaml("mv", {"type": "macvlan", "master": spare,
                                                    "mtu": 9000})))
    f = only(found, "mtu-too-large")
    assert f.severity == "error" and f"{spare} has MTU 1500" in f.evidence


def test_default_route_interface_host_device_cli_text(state) -> None:
    node, parent, _spare, root, docs = state
    files = docs(nad_yaml("hd", {"type": "host-device", "device": parent}))
    code, out = cli(node, root, files)
    assert code == 1
    assert "default-route-interface" in out and "allowDefaultRouteInterface" in out
    files = docs(nad_yaml("hd", {"type": "host-device", "device": parent,
                                 "allowDefaultRouteInterface": True}))
    assert cli(node, root, files)[0] == 0


def test_stale_bridge_not_in_config(state, netns_factory) -> None:
    node, _parent, spare, root, docs = state
    br = netns_factory.link_name("br")
    ip("-n", node.name, "link", "add", br, "type", "bridge")
    f = only(doctor(node, root, docs(nad_yaml("x", {"type": "macvlan", "master": spare}))),
             "stale-device")
    assert f.severity == "warning" and f.fix[0].startswith(f"ip link del {br}")
    assert "not in any host network config" in f.title


def test_static_address_is_the_nodes_own(state) -> None:
    node, parent, _spare, root, docs = state
    files = docs(nad_yaml("mv", {"type": "macvlan", "master": parent,
                                 "allowDefaultRouteInterface": True,
                                 "ipam": {"type": "static"}}),
                 pod_yaml("a", [{"name": "mv", "ips": ["192.0.2.1/24"]}]),
                 pod_yaml("b", [{"name": "mv", "ips": ["192.0.2.1/24"]}]))
    found = doctor(node, root, files)
    assert only(found, "static-ip-duplicate").severity == "error"
    own = [f for f in found if f.id == "duplicate-address-node"]
    assert {f.title for f in own} == {f"192.0.2.1 is the node's own address on {parent}"}
    assert {f.severity for f in own} == {"error"} and len(own) == 2  # one per pod


def test_unknown_plugin_and_ipam(state, tmp_path) -> None:
    node, _parent, spare, root, docs = state
    bindir = tmp_path / "bin"
    bindir.mkdir()
    files = docs(nad_yaml("s", {"type": "sriov"}),
                 nad_yaml("w", {"type": "macvlan", "master": spare,
                                "ipam": {"type": "whereabouts"}}))
    found = doctor(node, root, files, cni_bin_dirs=(str(bindir),))
    assert {f.id for f in found} == {"unknown-plugin", "unknown-ipam"}
