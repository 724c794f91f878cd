"""Worker processes of the daemon, for real (no network): a restarted worker retires the old
process, and a Kubernetes call the daemon cannot serve says why."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from netattach.daemon.config import DaemonConfig
from netattach.daemon.workers import Worker


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple] = []

    def send(self, message: tuple) -> None:
        self.messages.append(message)


def test_a_restarted_worker_reaps_the_old_process_and_stays_alive():
    wire = {**DaemonConfig().to_wire(), "has_kube": False}
    with ThreadPoolExecutor(2) as calls:
        worker = Worker(0, wire, lambda _uid: None, calls)
        worker.start()
        try:
            old = worker.proc
            os.kill(old.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while worker.alive:  # the reader sees the channel close
                assert time.monotonic() < deadline, "the dead worker was not noticed"
                time.sleep(0.01)
            worker.start()
            assert old.returncode is not None  # reaped, not a zombie
            time.sleep(0.3)  # the old reader thread has ended by now
            assert worker.alive and worker.proc.poll() is None
        finally:
            worker.stop()


def test_a_kube_call_without_credentials_names_the_fix():
    with ThreadPoolExecutor(1) as calls:
        worker = Worker(0, {}, lambda _uid: None, calls)
        worker.channel = Sent()  # type: ignore[assignment]
        worker._kube_call(1, 7, "get_pod", ("team-a", "web"))
    [(kind, cid, ok, (error, fields))] = worker.channel.messages
    assert (kind, cid, ok, error) == ("kube-reply", 1, False, "cni:CNIError")
    assert fields[0] == 7 and "no Kubernetes API credentials to answer get_pod" in fields[1]
    assert "service account" in fields[2]
