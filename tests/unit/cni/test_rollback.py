"""rollback(): deferred undo steps run in reverse when the block raises, never on success."""

import logging

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.cni.rollback import rollback


class Steps:
    """Records what was undone, in order."""

    def __init__(self):
        self.undone = []

    def undo(self, name, **kwargs):
        self.undone.append((name, kwargs) if kwargs else name)


@pytest.mark.parametrize("error", [
    CNIError(Code.INTERNAL, "macvlan: failed"),
    OSError(17, "File exists"),
    KeyError("bug"),
    KeyboardInterrupt(),
])
def test_undo_in_reverse_on_any_exception(error):
    steps = Steps()
    with pytest.raises(type(error)) as e, rollback("macvlan ADD of net1") as undo:
        undo.defer(steps.undo, "link")
        undo.defer(steps.undo, "ipam", container="cid-1")
        undo.defer(steps.undo, "route")
        raise error
    assert e.value is error  # the original exception propagates, unchanged
    assert steps.undone == ["route", ("ipam", {"container": "cid-1"}), "link"]


def test_only_steps_deferred_before_the_failure_are_undone():
    steps = Steps()
    with pytest.raises(CNIError), rollback("ADD") as undo:
        undo.defer(steps.undo, "first")
        raise CNIError(Code.INTERNAL, "second step failed")
        undo.defer(steps.undo, "never deferred")  # noqa: B018 - unreachable on purpose
    assert steps.undone == ["first"]


def test_nothing_undone_on_success():
    steps = Steps()
    with rollback("ADD") as undo:
        undo.defer(steps.undo, "link")
        undo.defer(steps.undo, "ipam")
        value = 42
    assert value == 42
    assert steps.undone == []


def test_a_failing_undo_is_logged_and_the_others_still_run(caplog):
    steps = Steps()

    def delete_link():
        raise OSError(1, "Operation not permitted")

    def release_ip():
        raise CNIError(Code.INTERNAL, "store locked")

    original = CNIError(Code.INTERNAL, "configure failed", "fix it")
    with caplog.at_level(logging.WARNING, logger="netattach"), pytest.raises(CNIError) as e, \
            rollback("bridge ADD of eth0") as undo:
        undo.defer(steps.undo, "first")
        undo.defer(delete_link)
        undo.defer(release_ip)
        undo.defer(steps.undo, "last")
        raise original
    assert e.value is original
    assert steps.undone == ["last", "first"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "bridge ADD of eth0 failed; undoing release_ip also failed: store locked",
        "bridge ADD of eth0 failed; undoing delete_link also failed: [Errno 1] Operation not "
        "permitted"]


def test_an_undo_without_a_name_is_still_worded(caplog):
    class Callable:
        def __call__(self):
            raise RuntimeError("nope")

    with caplog.at_level(logging.WARNING, logger="netattach"), pytest.raises(ValueError), \
            rollback("ADD") as undo:
        undo.defer(Callable())
        raise ValueError("x")
    assert "ADD failed; undoing a step also failed: nope" in caplog.text


def test_nested_rollbacks_undo_the_inner_then_the_outer():
    steps = Steps()
    with pytest.raises(CNIError), rollback("meta ADD") as outer:
        outer.defer(steps.undo, "delegate 1")
        with rollback("delegate 2 ADD") as inner:
            inner.defer(steps.undo, "delegate 2 link")
        outer.defer(steps.undo, "delegate 2")
        raise CNIError(Code.INTERNAL, "delegate 3 failed")
    assert steps.undone == ["delegate 2", "delegate 1"]  # the inner block had succeeded
