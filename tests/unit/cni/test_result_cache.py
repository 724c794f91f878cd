"""libcni-compatible result cache."""

import base64
import json
import os
import stat

from netattach.cni.result_cache import CachedAttachment, ResultCache


def test_write_read_delete(tmp_path):
    cache = ResultCache(tmp_path)
    entry = CachedAttachment("vlan100-conf", "cid1", "net1", b'{"name":"vlan100-conf"}',
                             netns="/run/netns/p", cni_args=(("K8S_POD_NAME", "p"),),
                             capability_args={"ips": ["192.0.2.211/24"]},
                             result={"cniVersion": "1.0.0", "dns": {}})
    path = cache.write(entry)
    assert path == tmp_path / "results" / "vlan100-conf-cid1-net1"
    data = json.loads(path.read_text())
    assert data["kind"] == "cniCacheV1" and data["containerId"] == "cid1"
    assert base64.b64decode(data["config"]) == b'{"name":"vlan100-conf"}'
    assert data["cniArgs"] == [["K8S_POD_NAME", "p"]]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert cache.read("vlan100-conf", "cid1", "net1") == entry
    assert [e.ifname for e in cache.entries("vlan100-conf")] == ["net1"]
    assert list(cache.entries("vlan100")) == []  # a prefix of another name is not a match
    cache.delete("vlan100-conf", "cid1", "net1")
    cache.delete("vlan100-conf", "cid1", "net1")  # idempotent
    assert cache.read("vlan100-conf", "cid1", "net1") is None


def test_corrupt_or_legacy_files_read_as_missing(tmp_path):
    cache = ResultCache(tmp_path)
    (tmp_path / "results").mkdir()
    cache.path("n", "c", "eth0").write_text("{truncated")
    cache.path("n", "d", "eth0").write_text('{"cniVersion":"0.3.1","ips":[]}')
    assert cache.read("n", "c", "eth0") is None and cache.read("n", "d", "eth0") is None
    assert list(cache.entries()) == []


def test_no_temp_files_left(tmp_path):
    cache = ResultCache(tmp_path)
    cache.write(CachedAttachment("n", "c", "eth0", b"{}"))
    assert sorted(os.listdir(tmp_path / "results")) == ["n-c-eth0"]


# -- temporary files of killed writes ---------------------------------------------------------
def _killed_writer(target):
    """A child process stuck inside write_atomically(target) (its fsync never returns)."""
    import subprocess
    import sys
    import time

    code = ("import os, sys, time\n"
            "from pathlib import Path\n"
            "from netattach import fsutil\n"
            "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(600))\n"
            "fsutil.write_atomically(Path(sys.argv[1]), b'{\"kind\": \"cniCac')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    temps = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    assert len(temps) == 1, temps
    old = time.time() - 3600
    os.utime(temps[0], (old, old))  # old enough: only its live writer protects it
    return proc, temps[0]


def test_del_removes_the_temp_file_of_a_killed_write_but_not_of_a_live_one(tmp_path):
    import signal

    cache = ResultCache(tmp_path)
    cache.write(CachedAttachment("n", "c", "eth0", b"{}"))
    proc, temp = _killed_writer(cache.path("n", "c", "eth0"))
    try:
        cache.delete("n", "c", "eth0")
        assert temp.exists()  # its writer still runs (holds the lock): never removed
        assert cache.remove_stale_temp_files("n") == 0 and temp.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    cache.delete("n", "c", "eth0")
    assert os.listdir(tmp_path / "results") == []


def test_gc_removes_stale_temp_files_of_its_network_only(tmp_path):
    import time

    from netattach.cni.config import NetConfList
    from netattach.cni.invoke import Invoker

    results = tmp_path / "results"
    results.mkdir()
    old = time.time() - 3600
    stale = [results / ".n-c1-eth0.abcd_123", results / ".n-c2-net1.zzzzzzzz"]  # unlocked
    fresh = results / ".n-c3-eth0.qwertyui"
    kept = [results / ".m-c1-eth0.abcd_123",  # another network
            results / ".n-c1-eth0.toolongsuffix", results / ".n-c1-eth0",  # not our pattern
            results / "n-c4-eth0", fresh]
    for p in stale + kept:
        p.write_text("{")
        if p is not fresh:
            os.utime(p, (old, old))
    (results / ".n-c5-eth0.linklink").symlink_to(kept[0])
    os.utime(results / ".n-c5-eth0.linklink", (old, old), follow_symlinks=False)
    conflist = NetConfList.from_bytes(json.dumps({
        "cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "nothing-runs"}]}))
    Invoker(path=(), cache=ResultCache(tmp_path)).gc(conflist, [])
    assert sorted(os.listdir(results)) == sorted([p.name for p in kept] + [".n-c5-eth0.linklink"])


def test_write_atomically_still_replaces_and_sets_the_mode(tmp_path):
    from netattach.fsutil import write_atomically

    target = tmp_path / "f"
    write_atomically(target, b"one", mode=0o640)
    write_atomically(target, b"two" * 100_000, mode=0o600)
    assert target.read_bytes() == b"two" * 100_000
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_write_atomically_fsyncs_unless_told_it_need_not(tmp_path, monkeypatch):
    """Caches are fsynced before the rename; `durable=False` (the daemon's event spool,
    which must outlive a killed daemon, not a power loss) writes the same file without."""
    from netattach import fsutil

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(fsutil.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    fsutil.write_atomically(tmp_path / "durable", b"a")
    assert len(synced) == 1
    fsutil.write_atomically(tmp_path / "volatile", b"b", durable=False)
    assert len(synced) == 1
    assert (tmp_path / "volatile").read_bytes() == b"b"
    assert sorted(os.listdir(tmp_path)) == ["durable", "volatile"]
