"""netattach.linux.netns on real namespaces: entry is per thread, nothing is ever created."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from netattach.cni.skel import is_own_netns
from netattach.linux import (
    NetnsNotFound,
    NetnsThread,
    NotANetns,
    current_netns_id,
    netns_id,
    open_netns,
    run_in_netns,
)
from netattach.linux.netns import THREAD_NETNS_PATH

pytestmark = pytest.mark.root


def _mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_parallel_switches_land_in_the_right_namespace(netns_factory):
    spaces = [netns_factory.make_netns("par") for _ in range(4)]
    expected = {ns.path: netns_id(ns.path) for ns in spaces}
    before = current_netns_id()
    # each job records the namespace its function ran in and the sysctl it wrote there
    def job(i: int) -> tuple[str, object, object]:
        ns = spaces[i % len(spaces)]
        seen = run_in_netns(ns.path, lambda: netns_id(THREAD_NETNS_PATH))
        return ns.path, seen, current_netns_id()

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(job, range(64)))
    assert len(results) == 64
    for path, seen, caller_after in results:
        assert seen == expected[path]
        assert caller_after == before  # the calling (pool) thread never moved
    assert current_netns_id() == before


def test_netns_thread_keeps_state_and_reraises(netns_factory):
    ns = netns_factory.make_netns("wrk")
    before = current_netns_id()
    with NetnsThread(ns.path) as worker:
        for _ in range(20):
            assert worker.call(netns_id, THREAD_NETNS_PATH) == netns_id(ns.path)
        with pytest.raises(ZeroDivisionError):
            worker.call(lambda: 1 / 0)
        assert worker.call(lambda: threading.current_thread().name) == "netns-worker"
    assert current_netns_id() == before  # the caller's thread never moved
    assert is_own_netns(THREAD_NETNS_PATH)


def test_missing_netns_raises_and_creates_nothing(netns_factory):
    missing = f"/run/netns/{netns_factory.prefix}missing"
    mounts_before = _mounts()
    listing_before = sorted(os.listdir("/run/netns"))
    with pytest.raises(NetnsNotFound):
        open_netns(missing)
    with pytest.raises(NetnsNotFound):
        run_in_netns(missing, lambda: None)
    from netattach.linux import netlink_session

    with pytest.raises(NetnsNotFound), netlink_session(missing):
        pass
    assert not os.path.exists(missing)
    assert sorted(os.listdir("/run/netns")) == listing_before
    assert _mounts() == mounts_before


def test_plain_file_is_not_a_netns(tmp_path):
    f = tmp_path / "leftover"
    f.write_text("")
    with pytest.raises(NotANetns) as err:
        open_netns(f)
    assert isinstance(err.value, NetnsNotFound)  # DEL may treat it as "gone"


@pytest.mark.parametrize(("path", "why"), [
    ("/proc/self/ns/mnt", "is a mount namespace, not a network namespace"),
    ("/proc/self/ns/pid", "is a pid namespace, not a network namespace"),
    ("/proc/self/ns", "is a directory, not a network namespace"),
    ("/" + "a" * 5000, "cannot be a network namespace: File name too long"),
    ("/proc/self/stat/x", "cannot be a network namespace: Not a directory"),
])
def test_other_namespaces_and_impossible_paths_are_not_a_netns(path, why):
    """Issue 16: these were NetnsError (code 999 "this is a bug" from the plugins)."""
    with pytest.raises(NotANetns) as err, open_netns(path):
        pass
    assert why in str(err.value)
    assert isinstance(err.value, NetnsNotFound)


@pytest.mark.parametrize(("path", "why"), [
    ("/" + "a" * 1000, "cannot be a network namespace: File name too long"),
    ("/proc/self/stat/x", "cannot be a network namespace: Not a directory"),
])
def test_impossible_paths_are_not_a_netns_with_shared_sessions_too(path, why):
    """The meta plugin's per-request session pool stat()s the path first: found by the fuzz
    suite in CI, a 1000-character CNI_NETNS there was NetnsError ("this is a bug")."""
    from netattach.linux.netlink import netlink_session, shared_sessions

    with shared_sessions(), pytest.raises(NotANetns) as err, netlink_session(path):
        pass
    assert why in str(err.value) and len(str(err.value)) < 200  # a long path is shortened


def test_is_own_netns(netns_factory):
    ns = netns_factory.make_netns("own")
    assert is_own_netns(THREAD_NETNS_PATH)
    assert not is_own_netns(ns.path)
    assert run_in_netns(ns.path, is_own_netns, ns.path)
    assert not is_own_netns("/run/netns/does-not-exist-natst")
