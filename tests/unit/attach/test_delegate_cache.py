"""The delegate cache on disk: round trip, the old format, damaged files, unwritable cniDir."""

import base64
import json
import logging
import stat

import pytest

from netattach.attach.delegate_cache import KIND, Delegate, DelegateCache, PodAttachments
from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError, Code

CLUSTER = {"cniVersion": "1.0.0", "name": "cluster-net",
           "plugins": [{"type": "bridge", "bridge": "cni0"}, {"type": "tuning"}]}
SECOND = {"cniVersion": "0.4.0", "name": "a-net",
          "plugins": [{"cniVersion": "0.4.0", "name": "a-net", "type": "macvlan",
                       "args": {"cni": {"x": "pod"}}}]}


def attachments(container_id="cid-1"):
    return PodAttachments(container_id, "/run/netns/pod-1", "team-a", "web", "uid-1", (
        Delegate("kube-system/cluster", NetConfList.from_object(CLUSTER), "eth0",
                 is_default=True, capability_args={"portMappings": [{"hostPort": 80}]},
                 cni_args=(("IgnoreUnknown", "true"), ("K8S_POD_NAME", "web"))),
        Delegate("team-a/net-a", NetConfList.from_object(SECOND), "net1",
                 capability_args={"ips": ["192.0.2.5/24"]},
                 cni_args=(("IgnoreUnknown", "true"), ("IP", "192.0.2.5/24")),
                 requested_ips=("192.0.2.5/24",), default_route=()),
        Delegate("team-a/net-a", NetConfList.from_object(SECOND), "net2",
                 default_route=("192.0.2.1", "2001:db8::1")),
    ))


def summary(att):
    """Everything an entry says, as plain data."""
    return (att.container_id, att.netns, att.pod_namespace, att.pod_name, att.pod_uid,
            [(d.name, d.network, d.ifname, d.is_default, dict(d.capability_args), d.cni_args,
              d.requested_ips, d.default_route, d.conflist.to_object(),
              d.conflist.cni_version) for d in att.delegates])


@pytest.fixture
def cache(tmp_path):
    return DelegateCache(tmp_path / "multus")


def test_round_trip(cache):
    att = attachments()
    cache.save(att)
    loaded = cache.load("cid-1")
    assert loaded is not None
    assert summary(loaded) == summary(att)
    assert loaded.delegates[0].network == "cluster-net"
    assert [p["type"] for p in loaded.delegates[0].conflist.plugins] == ["bridge", "tuning"]
    assert loaded.pod_ref == "team-a/web"


def test_saved_file_is_format_2_with_readable_conflists(cache):
    cache.save(attachments())
    path = cache.path("cid-1")
    data = json.loads(path.read_bytes())
    assert data["kind"] == KIND and data["format"] == 2
    assert data["delegates"][0]["conflist"] == CLUSTER  # an object, not base64
    assert data["delegates"][1]["defaultRoute"] == [] and data["delegates"][0]["defaultRoute"] \
        is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.root.stat().st_mode) == 0o700


def test_save_replaces_and_remove_forgets(cache):
    cache.save(attachments())
    again = attachments()
    again = PodAttachments(again.container_id, "/run/netns/other", "", "", "", again.delegates[:1])
    cache.save(again)
    assert summary(cache.load("cid-1")) == summary(again)
    assert cache.load("cid-1").pod_ref == "cid-1"  # no pod: the container names it
    cache.remove("cid-1")
    assert cache.load("cid-1") is None
    cache.remove("cid-1")  # twice is fine


def format_1(att):
    """An entry as netattach wrote it before format 2: base64 conflists, no "format" key."""
    return {"kind": KIND, "containerID": att.container_id, "netns": att.netns,
            "podNamespace": att.pod_namespace, "podName": att.pod_name, "podUID": att.pod_uid,
            "delegates": [{
                "name": d.name, "network": d.network, "ifname": d.ifname,
                "default": d.is_default,
                "conflist": base64.b64encode(json.dumps(d.conflist.to_object()).encode()).decode(),
                "capabilityArgs": dict(d.capability_args),
                "cniArgs": [list(p) for p in d.cni_args],
                "requestedIPs": list(d.requested_ips),
                "defaultRoute": list(d.default_route) if d.default_route is not None else None,
            } for d in att.delegates]}


def test_format_1_still_loads(cache):
    cache.root.mkdir(parents=True)
    att = attachments()
    cache.path("cid-1").write_text(json.dumps(format_1(att)))
    loaded = cache.load("cid-1")
    assert loaded is not None
    assert summary(loaded) == summary(att)


@pytest.mark.parametrize("content", [
    b"",
    b"{",
    json.dumps({"kind": KIND, "containerID": "cid-1"}).encode()[:-7],  # truncated
    b"\xff\xfe not utf-8",
    b"[" * 100000,  # nested too deeply for the decoder
    b"null",
    b"[1, 2]",
    b'"text"',
    # foreign JSON: libcni's result cache, another tool's file
    json.dumps({"kind": "cniCacheV1", "containerId": "cid-1", "result": {}}).encode(),
    json.dumps({"containerID": "cid-1", "delegates": []}).encode(),
    # ours, but damaged
    json.dumps({"kind": KIND, "delegates": []}).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1"}).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1", "delegates": None}).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1",
                "delegates": [{"name": "x", "ifname": "eth0"}]}).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1",
                "delegates": [{"name": "x", "ifname": "eth0", "conflist": "!!not base64"}]}
               ).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1",
                "delegates": [{"name": "x", "ifname": "eth0",
                               "conflist": {"name": "x", "plugins": []}}]}).encode(),
    json.dumps({"kind": KIND, "containerID": "cid-1",
                "delegates": [{"name": "x", "ifname": "eth0", "conflist": CLUSTER,
                               "cniArgs": [["only-a-key"]]}]}).encode(),
])
def test_damaged_or_foreign_file_reads_as_none(cache, content, caplog):
    cache.root.mkdir(parents=True)
    cache.path("cid-1").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="netattach"):
        assert cache.load("cid-1") is None
    assert f"delegate cache {cache.path('cid-1')} cannot be read" in caplog.text
    assert cache.all() == []


@pytest.mark.parametrize("delegates", [[1], ["text"], [[1]], {"a": 1}])
def test_delegates_that_are_not_objects_read_as_none(cache, delegates):
    cache.root.mkdir(parents=True)
    cache.path("cid-1").write_text(json.dumps({"kind": KIND, "containerID": "cid-1",
                                               "delegates": delegates}))
    assert cache.load("cid-1") is None
    assert cache.all() == []


def test_missing_entry_and_missing_dir(cache):
    assert cache.load("cid-1") is None
    assert cache.all() == []


def test_all_skips_dotfiles_and_junk(cache):
    cache.save(attachments("cid-b"))
    cache.save(attachments("cid-a"))
    (cache.root / ".cid-c.tmp1234").write_text(json.dumps(attachments("cid-c").to_json()))
    (cache.root / "junk").write_text("not json")
    (cache.root / "cid-d").mkdir()  # a directory is not an entry
    (cache.root / "cid-d" / "x").write_text(json.dumps(attachments("cid-d").to_json()))
    # libcni keeps its results beside ours when cniDir is shared
    (cache.root / "results").mkdir()
    assert [a.container_id for a in cache.all()] == ["cid-a", "cid-b"]


def test_save_where_the_parent_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = DelegateCache(blocker / "multus")
    with pytest.raises(CNIError) as e:
        cache.save(attachments())
    assert e.value.code == Code.IO_FAILURE
    assert e.value.msg.startswith(f"cannot write the delegate cache {blocker}/multus/cid-1: ")
    assert e.value.details == (f"cniDir ({blocker}/multus) must be a directory netattach can "
                               "write (it needs root)")


def test_save_where_cni_dir_is_a_file(tmp_path):
    blocker = tmp_path / "multus"
    blocker.write_text("")
    with pytest.raises(CNIError) as e:
        DelegateCache(blocker).save(attachments())
    assert e.value.code == Code.IO_FAILURE
    assert blocker.read_text() == ""  # nothing was written over it



def test_mentioning_parses_only_entries_that_spell_an_address(cache):
    static = {"cniVersion": "1.0.0", "name": "s-net", "plugins": [{
        "type": "macvlan", "ipam": {"type": "static",
                                    "addresses": [{"address": "198.51.100.7/24"}]}}]}
    cache.save(attachments("requested"))  # asks for 192.0.2.5/24 in its annotation
    cache.save(PodAttachments("static", "/run/netns/p2", "team-a", "db", "uid-2", (
        Delegate("team-a/s-net", NetConfList.from_object(static), "net1"),)))
    cache.save(attachments("other"))
    cache.path("legacy").write_text(json.dumps({**format_1(attachments("legacy")),
                                                "containerID": "legacy"}))
    found = lambda *texts: sorted(a.container_id for a in cache.mentioning(texts))  # noqa: E731
    assert found("192.0.2.5") == ["legacy", "other", "requested"]  # base64: always parsed
    assert found("198.51.100.7") == ["legacy", "static"]
    assert found("192.0.2.55", "192.0.2.") == ["legacy"]  # a prefix is no mention
    assert found() == ["legacy"]
    assert sorted(a.container_id for a in cache.all()) == ["legacy", "other", "requested",
                                                            "static"]


def test_remove_takes_the_temp_file_of_a_killed_save_along(cache):
    import os
    import time

    cache.save(attachments("cid-1"))
    leftover = cache.root / ".cid-1.abcd1234"  # what write_atomically leaves when killed
    other = cache.root / ".cid-2.abcd1234"
    for p in (leftover, other):
        p.write_text("{")
        old = time.time() - 3600
        os.utime(p, (old, old))
    cache.remove("cid-1")
    assert sorted(p.name for p in cache.root.iterdir()) == [".cid-2.abcd1234"]
