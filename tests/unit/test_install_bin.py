"""`netattach install-bin`: real executables, answering like CNI plugins, written atomically."""

import json
import os
import subprocess
import sys
from pathlib import Path

NETATTACH = [sys.executable, "-m", "netattach"]


def test_install_bin_writes_working_executables(tmp_path):
    out = subprocess.run([*NETATTACH, "install-bin", str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert str(tmp_path / "static") in out
    static = tmp_path / "static"
    assert os.access(static, os.X_OK)
    assert static.read_text().startswith(f"#!{sys.executable} -IS\n")
    proc = subprocess.run([str(static)], env={"CNI_COMMAND": "VERSION"}, capture_output=True,
                          text=True)
    assert proc.returncode == 0
    assert "1.1.0" in json.loads(proc.stdout)["supportedVersions"]
    from netattach.builtins import BUILTIN_PLUGINS
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*BUILTIN_PLUGINS,
                                                                 "netattach-shim"])  # no tmp


def test_install_bin_replaces_a_running_binary_atomically(tmp_path):
    subprocess.run([*NETATTACH, "install-bin", str(tmp_path)], check=True, capture_output=True)
    before = os.stat(tmp_path / "static").st_ino
    subprocess.run([*NETATTACH, "install-bin", str(tmp_path)], check=True, capture_output=True)
    assert os.stat(tmp_path / "static").st_ino != before  # a new inode: rename, not rewrite


def test_install_bin_unknown_type(tmp_path):
    proc = subprocess.run([*NETATTACH, "install-bin", str(tmp_path), "--type", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown plugin type(s) nope" in proc.stderr
    assert not list(Path(tmp_path).iterdir())


def test_static_executable_does_not_import_heavy_modules(tmp_path):
    subprocess.run([*NETATTACH, "install-bin", str(tmp_path)], check=True, capture_output=True)
    conf = json.dumps({"cniVersion": "1.0.0", "name": "n", "ipam": {
        "type": "static", "addresses": [{"address": "192.0.2.10/24"}]}})
    probe = (f"import runpy, sys; sys.argv=[{str(tmp_path / 'static')!r}]\n"
             "try:\n"
             f"    runpy.run_path({str(tmp_path / 'static')!r}, run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
             "('pyroute2', 'lightkube', 'httpx', 'httpx2', 'yaml', 'asyncio'))\n"
             "print('HEAVY', heavy, file=sys.stderr)\n")
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"}
    proc = subprocess.run([sys.executable, "-c", probe], input=conf, env=env,
                          capture_output=True, text=True)
    assert json.loads(proc.stdout)["ips"][0]["address"] == "192.0.2.10/24"
    assert "HEAVY []" in proc.stderr
