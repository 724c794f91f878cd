"""The executables' cheap calls: answered before the plugin or anything third-party loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netattach import entry
from netattach.attach.config import DEFAULT_CNI_DIR
from netattach.cni.version import ALL, CURRENT

PROBE = """\
import io, json, sys
from netattach.entry import run_plugin
rc = run_plugin(sys.argv[1])
loaded = sorted({m.split('.')[0] for m in sys.modules} & {'lightkube', 'httpx2', 'yaml'}
                | {m for m in sys.modules if m.startswith(('netattach.attach', 'netattach.plugins',
                                                           'netattach.linux', 'netattach.kube'))})
print('RC', rc, 'LOADED', json.dumps(loaded), file=sys.stderr)
"""


def probe(plugin: str, env: dict[str, str], stdin: str = "") -> tuple[str, list[str], int]:
    proc = subprocess.run([sys.executable, "-c", PROBE, plugin], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("RC "))
    _, rc, _, loaded = line.split(" ", 3)
    return proc.stdout, json.loads(loaded), int(rc)


def test_the_fast_path_knows_the_meta_plugins_default_cni_dir() -> None:
    assert entry.DEFAULT_CNI_DIR == DEFAULT_CNI_DIR


@pytest.mark.parametrize("plugin", ["netattach", "macvlan", "host-local"])
def test_version_loads_no_plugin(plugin: str) -> None:
    out, loaded, rc = probe(plugin, {"CNI_COMMAND": "VERSION"})
    assert rc == 0 and loaded == []
    assert json.loads(out) == {"cniVersion": CURRENT, "supportedVersions": list(ALL)}


@pytest.mark.parametrize("netns", ["", "/run/netns/natst-never-there"])
def test_del_without_cache_or_netns_loads_nothing(tmp_path: Path, netns: str) -> None:
    conf = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "netattach",
                       "kubeconfig": str(tmp_path / "kubeconfig"), "cniDir": str(tmp_path)})
    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "cid1", "CNI_IFNAME": "eth0",
           "CNI_NETNS": netns}
    out, loaded, rc = probe("netattach", env, conf)
    assert (rc, out, loaded) == (0, "", [])


def test_del_with_a_cache_takes_the_full_path(tmp_path: Path) -> None:
    """The cache names what to delete: the meta plugin runs (and reports the bad config)."""
    (tmp_path / "cid1").write_text("{}")
    conf = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "netattach",
                       "cniDir": str(tmp_path)})
    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "cid1", "CNI_IFNAME": "eth0",
           "CNI_NETNS": ""}
    _, loaded, rc = probe("netattach", env, conf)
    assert rc == 0 and "netattach.attach.meta" in loaded


def test_the_cheap_paths_cni_dir_default_is_the_meta_plugins():
    """entry.py keeps its own copy (importing the cache module would cost the cheap path)."""
    from netattach import entry
    from netattach.attach.delegate_cache import DEFAULT_CNI_DIR

    assert entry.DEFAULT_CNI_DIR == DEFAULT_CNI_DIR
