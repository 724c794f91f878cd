"""doctor and the pre-ADD checks on real 802.1Q devices (inside the KVM guest).

The field report end to end: a host VLAN 100 on the pod's parent NIC (declared by netplan,
or stale after `netplan apply`, or held by another pod) and what doctor / ADD say about it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.netns.conftest import NetnsFactory

from netattach.doctor.main import DoctorOptions, diagnose
from netattach.linux import run_in_netns

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


NAD_CONF = {"cniVersion": "1.0.0", "name": "vlan100-conf", "type": "vlan", "vlanId": 100,
            "ipam": {"type": "static"}}


@pytest.fixture
def node(tmp_path):
    """(factory, node, parent, root, nad_file): VLAN 100 on `parent` is free for now."""
    f = NetnsFactory(f"natst-{os.urandom(2).hex()}-")
    try:
        node = f.make_netns("node")
        peer = f.make_netns("peer")
        parent, _ = f.make_veth(node, peer)
        root = tmp_path / "root"
        (root / "etc/netplan").mkdir(parents=True)
        nad = tmp_path / "nad.yaml"
        nad.write_text(yaml.safe_dump({
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "vlan100-conf", "namespace": "default"},
            "spec": {"config": json.dumps({**NAD_CONF, "master": parent})}}))
        yield f, node, parent, root, nad
    finally:
        f.cleanup()


def netplan(root: Path, parent: str) -> None:
    """The field report's netplan file, with our parent as enp16s0f0."""
    (root / "etc/netplan/99-my-config.yaml").write_text(
        "network:\n  ethernets:\n    " + parent + ":\n      dhcp4: false\n  vlans:\n"
        "    vlan.100:\n      id: 100\n      link: " + parent + "\n"
        "      addresses: [192.0.2.100/24]\n  version: 2\n")


def test_host_netplan_vlan_named_with_file_and_line_then_stale(node) -> None:
    _f, ns, parent, root, nad = node
    netplan(root, parent)
    ip("-n", ns.name, "link", "add", "link", parent, "name", "vlan.100", "type", "vlan",
       "id", "100")
    found = run_in_netns(ns.path, diagnose, DoctorOptions(files=(str(nad),), root=str(root)))
    [f] = [x for x in found if x.id == "vlan-conflict"]
    assert f.severity == "error" and f.reason == "VLANConflict"
    assert f.title == (f"VLAN 100 on {parent} is already used by vlan.100 in the host "
                       f"namespace ({ns.path})")
    assert ("configured by netplan: /etc/netplan/99-my-config.yaml line 6 "
            "(network.vlans.vlan.100)") in f.evidence
    assert not [x for x in found if x.id == "stale-device"]
    # the VLAN is removed from netplan, `netplan apply` leaves the device: stale
    (root / "etc/netplan/99-my-config.yaml").write_text("network: {version: 2}\n")
    p = subprocess.run(["ip", "netns", "exec", ns.name, sys.executable, "-m", "netattach",
                        "doctor", "--root", str(root), "-f", str(nad), "-o", "json"],
                       capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    data = {d["id"]: d for d in json.loads(p.stdout)}
    assert any("stale, left by `netplan apply`" in e for e in data["vlan-conflict"]["evidence"])
    assert data["stale-device"]["fix"][0].startswith("ip link del vlan.100")


def test_vlan_held_by_another_pod(node) -> None:
    f, ns, parent, root, nad = node
    pod = f.make_netns("pod")
    ip("-n", ns.name, "link", "add", "link", parent, "name", "tmpv100", "type", "vlan",
       "id", "100")
    ip("-n", ns.name, "link", "set", "tmpv100", "netns", pod.name, "name", "net1")
    found = run_in_netns(ns.path, diagnose, DoctorOptions(files=(str(nad),), root=str(root)))
    [v] = [x for x in found if x.id == "vlan-conflict"]
    assert v.severity == "warning"
    assert v.title == f"VLAN 100 on {parent} is already used by net1 in namespace {pod.path}"
    assert any(f"ip -n {pod.name} link del net1" in x for x in v.fix)


def test_meta_add_fails_before_any_plugin_with_the_vlan_plugins_sentence(node, tmp_path
                                                                          ) -> None:
    sys.path.insert(0, str(REPO))
    from tests.kubeapi.server import EVENTS, NADS, PODS, FakeKubeAPI

    f, ns, parent, root, _nad = node
    pod_ns = f.make_netns("pod")
    netplan(root, parent)
    ip("-n", ns.name, "link", "add", "link", parent, "name", "vlan.100", "type", "vlan",
       "id", "100")
    srv = run_in_netns(ns.path, lambda: FakeKubeAPI(tokens=["t"]).start())
    try:
        (tmp_path / "token").write_text("t")
        kc = tmp_path / "kubeconfig"
        kc.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "f", "cluster": {"server": srv.url}}],
            "users": [{"name": "u", "user": {"tokenFile": str(tmp_path / "token")}}],
            "contexts": [{"name": "f", "context": {"cluster": "f", "user": "u"}}],
            "current-context": "f"}))
        pod = srv.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "vlan-pod", "namespace": "default", "annotations": {
                "k8s.v1.cni.cncf.io/networks": json.dumps([{"name": "vlan100-conf",
                                                            "ips": ["192.0.2.211/24"]}])}},
            "spec": {"nodeName": "n1", "containers": []}})
        srv.create(NADS, {"apiVersion": "k8s.cni.cncf.io/v1",
                          "kind": "NetworkAttachmentDefinition",
                          "metadata": {"name": "vlan100-conf", "namespace": "default"},
                          "spec": {"config": json.dumps({**NAD_CONF, "master": parent})}})
        cluster = tmp_path / "10-cluster.conflist"
        cluster.write_text(json.dumps({"cniVersion": "1.0.0", "name": "cbr0", "plugins": [
            {"type": "bridge", "bridge": "natbr0", "ipam": {
                "type": "host-local", "dataDir": str(tmp_path / "hl"),
                "ranges": [[{"subnet": "198.51.100.0/24"}]]}}]}))
        bindir = tmp_path / "bin"
        subprocess.run([str(Path(sys.executable).parent / "netattach"), "install-bin",
                        str(bindir)], check=True, capture_output=True)
        meta = {"cniVersion": "1.0.0", "name": "netattach-net", "type": "netattach",
                "kubeconfig": str(kc), "clusterNetwork": str(cluster),
                "cniDir": str(tmp_path / "cni"), "binDir": str(bindir)}
        uid = pod["metadata"]["uid"]
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid-doctor", "CNI_IFNAME": "eth0",
               "CNI_NETNS": pod_ns.path, "CNI_PATH": str(bindir), "PATH": os.environ["PATH"],
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;"
                           f"K8S_POD_NAME=vlan-pod;K8S_POD_UID={uid}"}
        p = subprocess.run(["ip", "netns", "exec", ns.name, str(bindir / "netattach")],
                           input=json.dumps(meta), env=env, capture_output=True, text=True)
        assert p.returncode != 0
        err = json.loads(p.stdout)
        sentence = (f"failed to create vlan: file exists: VLAN 100 on {parent} is already used "
                    f"by vlan.100 in the host namespace ({ns.path})")
        assert err["msg"] == (f'[default/vlan-pod/{uid}:vlan100-conf]: error adding container '
                              f'to network "vlan100-conf": {sentence}')
        assert "ip link del vlan.100" in err["details"]
        assert "/etc/netplan/99-my-config.yaml" not in err["details"]  # not our real /etc
        shown = f"{err['msg']}; {err['details']}"  # what libcni (containerd, CRI-O) prints
        assert shown.startswith(err["msg"] + "; ip link del vlan.100"), shown
        assert shown.count("ip link del vlan.100") == 1 and "fix:" not in shown, shown
        # nothing was attached: no eth0, no cache
        assert not (tmp_path / "cni").exists() or not os.listdir(tmp_path / "cni")
        events = [e for e in srv.list(EVENTS, "default") if e["reason"] == "VLANConflict"]
        assert events and events[0]["type"] == "Warning" and sentence in events[0]["message"]
        # the vlan plugin alone (EEXIST) tells the same story
        conf = {**NAD_CONF, "master": parent}
        p = subprocess.run(["ip", "netns", "exec", ns.name, str(bindir / "vlan")],
                           input=json.dumps(conf), env={**env, "CNI_IFNAME": "net1"},
                           capture_output=True, text=True)
        assert p.returncode != 0 and sentence in json.loads(p.stdout)["msg"]
    finally:
        srv.stop()
