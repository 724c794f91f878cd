"""The daemon's bounds on requests: Admission (running + queued) and one lock per container."""

import threading
import time

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.daemon.service import Admission, Busy, KeyedLocks

WAIT = 10.0  # seconds a thread may take to reach a point; only a failing test waits this long


def wait_until(condition, what):
    """Poll `condition` (not an assertion on time: it fails only if it never happens)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


# -- Admission -------------------------------------------------------------------------------

@pytest.mark.parametrize("running,queued", [(1, 0), (1, 1), (2, 3)])
def test_admits_running_plus_queued_then_refuses(running, queued):
    admission = Admission(running, queued)
    held = [admission.admit() for _ in range(running + queued)]
    for i, ctx in enumerate(held, start=1):
        ctx.__enter__()
        assert admission.pending == i
    with pytest.raises(Busy) as e, admission.admit():
        pass
    err = e.value
    assert isinstance(err, CNIError) and err.code == Code.TRY_AGAIN_LATER == 11
    assert err.msg == f"netattach daemon is busy: {running + queued} CNI requests in flight"
    assert err.details.startswith(f"the limit is maxInFlight={running} running + "
                                  f"maxQueued={queued} waiting; ")
    assert admission.pending == running + queued  # the refused one was never counted
    for ctx in reversed(held):
        ctx.__exit__(None, None, None)
    assert admission.pending == 0
    with admission.admit():  # room again
        assert admission.pending == 1
    assert admission.pending == 0


def test_pending_back_to_zero_when_the_request_fails():
    admission = Admission(1, 0)
    with pytest.raises(RuntimeError), admission.admit():
        raise RuntimeError("boom")
    assert admission.pending == 0


def test_wait_idle():
    admission = Admission(1, 1)
    assert admission.wait_idle(0) is True  # nothing in flight
    inside, release = threading.Event(), threading.Event()

    def request():
        with admission.admit():
            inside.set()
            release.wait(WAIT)

    worker = threading.Thread(target=request)
    worker.start()
    assert inside.wait(WAIT)
    assert admission.wait_idle(0) is False  # one in flight, no time to wait
    release.set()
    assert admission.wait_idle(WAIT) is True
    assert admission.pending == 0
    worker.join(WAIT)


def test_slots_let_running_requests_run_together():
    admission = Admission(2, 0)
    both = threading.Barrier(2, timeout=WAIT)
    errors = []

    def request():
        try:
            with admission.slot():
                both.wait()  # only passes if both are inside their slot at once
        except threading.BrokenBarrierError as e:
            errors.append(e)

    workers = [threading.Thread(target=request) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(WAIT)
    assert errors == []


# -- KeyedLocks ------------------------------------------------------------------------------

def users(locks, key):
    entry = locks._locks.get(key)
    return entry[1] if entry else 0


def test_same_key_serialised_and_dict_drained():
    locks = KeyedLocks()
    order = []
    second_in = threading.Event()

    def second():
        with locks.hold("cid-1"):
            order.append("second in")
            second_in.set()

    with locks.hold("cid-1"):
        order.append("first in")
        worker = threading.Thread(target=second)
        worker.start()
        wait_until(lambda: users(locks, "cid-1") == 2, "the second holder to queue")
        assert not second_in.is_set()  # it waits for us
        order.append("first out")
    assert second_in.wait(WAIT)
    worker.join(WAIT)
    assert order == ["first in", "first out", "second in"]
    assert locks._locks == {}


def test_different_keys_run_in_parallel():
    locks = KeyedLocks()
    both = threading.Barrier(3, timeout=WAIT)
    errors = []

    def hold(key):
        try:
            with locks.hold(key):
                both.wait()  # all three inside at once, or the barrier breaks
        except threading.BrokenBarrierError as e:
            errors.append(e)

    workers = [threading.Thread(target=hold, args=(k,)) for k in ("cid-1", "cid-2", "cid-3")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(WAIT)
    assert errors == []
    assert locks._locks == {}


def test_lock_released_and_dropped_when_the_holder_raises():
    locks = KeyedLocks()
    with pytest.raises(ValueError), locks.hold("cid-1"):
        raise ValueError("boom")
    assert locks._locks == {}
    with locks.hold("cid-1"):  # not left locked
        assert users(locks, "cid-1") == 1

