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
