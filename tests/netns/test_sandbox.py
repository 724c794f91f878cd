"""netattach sandbox on this kernel: a macvlan scenario end to end, and input errors.

The field report's VLAN scenario runs in the guest (tests/vm/test_sandbox_demo.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NETATTACH = [sys.executable, "-m", "netattach"]

TOPOLOGY = """
apiVersion: sandbox.netattach.dev/v1alpha1
kind: SandboxTopology
metadata: {name: %(name)s}
spec:
  node:
    name: worker
    nics: [{name: ens1}]
    defaultNetwork: {subnet: 203.0.113.0/24}
  peers:
    - {name: peer1, address: 198.51.100.200/24}
"""
NAD = """
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: mv, namespace: default}
spec:
  config: '{"cniVersion": "1.0.0", "type": "macvlan", "master": "%(master)s",
            "ipam": {"type": "static"}}'
"""
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: app
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "%(nad)s", "ips": ["198.51.100.10/24"]}]'
spec: {containers: []}
"""


@pytest.fixture
def sandbox_dir(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("NETATTACH_SANDBOX_DIR", str(state))
    return state


def write(tmp_path, name="natsbx", master="ens1", nad="mv", extra=""):
    d = tmp_path / "scenario"
    d.mkdir(exist_ok=True)
    (d / "topology.yaml").write_text(TOPOLOGY % {"name": name})
    (d / "nad.yaml").write_text(NAD % {"master": master})
    (d / "pod.yaml").write_text(POD % {"nad": nad} + extra)
    return d


def sandbox(*args, check=False):
    proc = subprocess.run([*NETATTACH, "sandbox", *args], capture_output=True, text=True,
                          env=os.environ.copy())
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def namespaces(prefix="nas-natsbx"):
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


@pytest.fixture(autouse=True)
def _always_down(sandbox_dir):
    yield
    sandbox("down", "--name", "natsbx")
    for ns in namespaces():
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_up_status_exec_ping_down(tmp_path, sandbox_dir):
    d = write(tmp_path)
    up = sandbox("up", "-f", str(d), check=True)
    assert "pod default/app: attaching networks ... done" in up.stdout
    status = sandbox("status", check=True).stdout
    assert "default/mv" in status and "198.51.100.10" in status and "net1" in status
    state = json.loads((sandbox_dir / "natsbx" / "state.json").read_text())
    net_status = state["pods"]["default/app"]["network_status"]
    assert [s["interface"] for s in net_status] == ["eth0", "net1"]
    assert net_status[0]["default"] is True and net_status[1]["ips"] == ["198.51.100.10"]
    ip_a = sandbox("exec", "app", "--", "ip", "-j", "addr", "show", "net1", check=True)
    assert json.loads(ip_a.stdout)[0]["addr_info"][0]["local"] == "198.51.100.10"
    assert sandbox("ping", "app", "198.51.100.10", "--from", "peer1").returncode == 0
    assert sandbox("ping", "app", "198.51.100.200").returncode == 0
    assert namespaces()
    down = sandbox("down", check=True)
    assert "removed" in down.stdout
    assert namespaces() == []
    assert not (sandbox_dir / "natsbx").exists()


@pytest.mark.parametrize("change,message", [
    ({"nad": "nope"}, "asks for network default/nope, but no NetworkAttachmentDefinition nope"),
    ({"master": "ens9"}, "uses master ens9, which the topology's node does not have"),
    ({"extra": "---\n: : bad yaml ["}, "not valid YAML"),
])
def test_bad_input_is_explained_and_leaves_nothing(tmp_path, sandbox_dir, change, message):
    d = write(tmp_path, **change)
    proc = sandbox("up", "-f", str(d))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert proc.stderr.startswith("netattach sandbox: ")
    assert "Traceback" not in proc.stderr
    assert namespaces() == []
    assert not any(Path(sandbox_dir).glob("*/state.json"))


def test_missing_path(tmp_path, sandbox_dir):
    proc = sandbox("up", "-f", str(tmp_path / "absent"))
    assert proc.returncode == 1 and "no such file or directory" in proc.stderr
