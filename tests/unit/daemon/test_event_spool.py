"""Events are spooled to disk until posted: a daemon killed right after an ADD returned
posts them when it starts again (issue 13: events off the request path, never lost)."""

from __future__ import annotations

import json
import threading
import time

from netattach.daemon.metrics import Metrics
from netattach.daemon.watch_cache import KubeCache, spool_event
from netattach.kube.models import Pod

POD = Pod(namespace="team-a", name="web", uid="0c1e0f6a-5b2d-4c3e-9f10-2a3b4c5d6e7f",
          resource_version="42")


class FakeClient:
    """Watches that only report synced; record_event waits for `gate`."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.posted: list[tuple] = []

    def _watch(self, *args, stop, server_timeout, on_synced):
        on_synced()
        while not stop():
            time.sleep(0.01)
        yield from ()

    list_and_watch_pods = _watch

    def list_and_watch_nads(self, *, stop, server_timeout, on_synced):
        return self._watch(stop=stop, server_timeout=server_timeout, on_synced=on_synced)

    def record_event(self, pod, type_, reason, message):
        self.gate.wait()
        self.posted.append((pod.namespace, pod.name, pod.uid, type_, reason, message))
        return True


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_event_is_spooled_until_posted(tmp_path):
    gate = threading.Event()
    client = FakeClient(gate)
    cache = KubeCache(client, "node-1", Metrics.create(), spool=tmp_path / "events")
    cache.start()
    try:
        cache.post_event(POD, "Normal", "AddedInterface", "Add net1 [192.0.2.5/24]")
        assert len(list((tmp_path / "events").iterdir())) == 1  # on disk before posting
        gate.set()
        wait_for(lambda: client.posted)
        wait_for(lambda: not list((tmp_path / "events").iterdir()))
    finally:
        gate.set()
        cache.stop()
    assert client.posted == [("team-a", "web", POD.uid, "Normal", "AddedInterface",
                              "Add net1 [192.0.2.5/24]")]


def test_a_restarted_daemon_posts_what_the_killed_one_had_not(tmp_path):
    spool = tmp_path / "events"
    stuck = threading.Event()  # the first daemon never gets to post: it is "killed"
    first = KubeCache(FakeClient(stuck), "node-1", Metrics.create(), spool=spool)
    first.start()
    first.post_event(POD, "Normal", "AddedInterface", "Add net1")
    first.post_event(POD, "Warning", "MasterDown", "master eno1 is down")
    (spool / "00000000000000000000-junk.json").write_text("{not json")
    after = FakeClient(threading.Event())
    after.gate.set()
    second = KubeCache(after, "node-1", Metrics.create(), spool=spool)
    second.start()
    try:
        wait_for(lambda: len(after.posted) == 2)
        wait_for(lambda: not list(spool.iterdir()))  # posted ones and the junk are gone
    finally:
        second.stop()
        stuck.set()
        first.stop(drain=0)
    assert [p[4] for p in after.posted] == ["AddedInterface", "MasterDown"]  # oldest first
    assert after.posted[0][:3] == ("team-a", "web", POD.uid)


def test_no_spool_dir_means_no_files_and_still_posts(tmp_path):
    client = FakeClient(threading.Event())
    client.gate.set()
    cache = KubeCache(client, "node-1", Metrics.create())
    cache.start()
    try:
        cache.post_event(POD, "Normal", "AddedInterface", "x")
        wait_for(lambda: client.posted)
    finally:
        cache.stop()
    assert list(tmp_path.iterdir()) == []


def test_spooling_an_event_does_not_fsync(tmp_path, monkeypatch):
    """The spool is for a killed daemon (the page cache keeps the file), not a power loss:
    an fsync per event would put disk latency on every ADD."""
    from netattach import fsutil

    def no_fsync(fd):
        raise AssertionError("the event spool called fsync")

    monkeypatch.setattr(fsutil.os, "fsync", no_fsync)
    path = spool_event(tmp_path / "events", POD, "Normal", "AddedInterface", "Add net1")
    assert path is not None and json.loads(path.read_bytes())["reason"] == "AddedInterface"
