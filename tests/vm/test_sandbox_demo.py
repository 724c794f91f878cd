"""`make demo`'s scenario in the guest (802.1Q): the field report's story, asserted step by step.

Runs the real CLI as `make demo` does; checks the failure text, doctor's finding, the
interfaces, VLAN ids and addresses in the pod, `netattach sandbox explain`'s table (every
network matched), the peers' ping replies (from the demo's output), and that `sandbox down`
left no namespace or state file behind.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_field_report_demo(tmp_path):
    env = {**os.environ, "NETATTACH_SANDBOX_DIR": str(tmp_path / "state")}
    proc = subprocess.run([sys.executable, "-m", "netattach", "sandbox", "demo",
                           str(ROOT / "examples" / "vlan-multi")], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # step 1: the failure names the culprit and the fix
    assert re.search(r'error adding container to network "vlan100-conf": failed to create vlan: '
                     r"file exists: VLAN 100 on enp16s0f0 is already used by vlan\.100", out)
    assert "ip link del vlan.100" in out
    assert "fix: fix:" not in out
    # step 2: doctor's finding
    assert "vlan-conflict" in out
    # step 3: the pod's interfaces and addresses, and both peers' replies
    # operstate: the kernel's linkwatch may still say UNKNOWN for a moment after the link
    # was set up (the pings below show the links carry traffic)
    up = r"(?:UP|UNKNOWN)"
    assert re.search(rf"^\s+eth0@\S+\s+{up}\s+203\.0\.113\.\d+/24", out, re.M), out
    assert re.search(rf"^\s+net1@\S+\s+{up}\s+192\.0\.2\.211/24", out, re.M), out
    assert re.search(rf"^\s+net2@\S+\s+{up}\s+198\.51\.100\.211/24", out, re.M), out
    assert re.search(r"^\s+net1: vlan 100$", out, re.M), out  # the kernel's VLAN ids
    assert re.search(r"^\s+net2: vlan 200$", out, re.M), out
    assert re.search(r"default/vlan100-conf\s+net1\s+192\.0\.2\.211\s+\S+\s+100$", out, re.M), out
    assert re.search(r"default/vlan200-conf\s+net2\s+198\.51\.100\.211\s+\S+\s+200$", out,
                     re.M), out
    # netattach sandbox explain on the running pod: every network matches what was set up
    assert "netattach sandbox explain vlan-multi" in out
    assert re.search(r"^\s+NETWORK\s+INTERFACE\s+TYPE\s+NAD\s+CACHE\s+IN POD\s+NODE\s+STATUS\s+"
                     r"PROBLEM$", out, re.M), out
    assert re.search(r"^\s+default\s+eth0\s+bridge\s+file\s+ok\s+up\s+ok\s+ok\s+-$", out,
                     re.M), out
    for vid, ifname in ((100, "net1"), (200, "net2")):
        assert re.search(rf"^\s+default/vlan{vid}-conf\s+{ifname}\s+vlan\s+found\s+ok\s+up\s+ok"
                         r"\s+ok\s+-$", out, re.M), out
    assert re.search(r'node: master enp16s0f0 up', out), out
    assert "everything matches: 3 network(s)" in out
    assert re.search(r"peer100 -> 192\.0\.2\.211: 3 packets transmitted, 3 received", out), out
    assert re.search(r"peer200 -> 198\.51\.100\.211: 3 packets transmitted, 3 received", out), out
    # everything torn down
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "nas-" not in left
    assert not list((tmp_path / "state").glob("*"))
