"""Never a pod without its networks: netattach stays in the runtime's path while the daemon
is away (upgrade, OOM kill, node reboot order).

The daemon generates `00-netattach.conflist` next to the cluster network's conflist, and
each CNI call here is made the way a runtime makes it: the first config file of the
directory, read anew for every attempt, its plugin's config on stdin.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from tests.daemon_support import wait_for
from tests.e2e.conftest import E2E, Sandbox

GENERATED = "00-netattach.conflist"


def _runtime_config(confdir: Path) -> dict[str, Any]:
    """What libcni passes for the directory's first conflist (one plugin: the shim)."""
    first = sorted(p for p in confdir.iterdir() if p.suffix in (".conf", ".conflist"))[0]
    assert first.name == GENERATED, f"the runtime would use {first.name}"
    conflist = json.loads(first.read_text())
    [plugin] = conflist["plugins"]
    return {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}


def _runtime_call(e2e: E2E, command: str, pod: Sandbox) -> tuple[int, Any]:
    return e2e.run_cni(command, pod, config=_runtime_config(e2e.confdir))


@pytest.mark.parametrize("e2e", ["thick"], indirect=True)
def test_pod_added_while_the_daemon_is_away_waits_for_it(e2e: E2E) -> None:
    assert e2e.daemon is not None
    e2e.reconfigure_daemon({
        "cniConfigDir": str(e2e.confdir), "cniDir": str(e2e.cni_dir),
        "confDir": str(e2e.confdir), "binDir": str(e2e.bindir),
        "shimConfig": {"daemonConnectTimeout": 0.5}})
    generated = e2e.confdir / GENERATED
    assert wait_for(generated.exists)
    e2e.add_nad("mv", e2e.macvlan_conf("mv"))
    pod = e2e.sandbox("during-upgrade", networks=[{"name": "mv", "ips": ["198.51.100.9/24"]}])
    written = generated.read_bytes()

    assert e2e.daemon.kill(signal.SIGTERM) == 0
    rc, out = _runtime_call(e2e, "ADD", pod)

    # retryable, nothing attached, and netattach is still the runtime's network
    assert rc == 1 and out["code"] == 11, out
    assert "not running or not reachable" in out["msg"]
    assert generated.read_bytes() == written
    assert e2e.links(pod.netns) == {"lo"}
    assert e2e.cluster_allocations() == {} and e2e.delegate_caches() == []

    e2e.daemon.launch()  # the DaemonSet's new pod
    rc, out = _runtime_call(e2e, "ADD", pod)  # the runtime's retry

    assert rc == 0, (out, e2e.logs()[-3000:])
    assert e2e.links(pod.netns) == {"lo", "eth0", "net1"}
    assert e2e.addresses(pod.netns, "net1") == ["198.51.100.9/24"]
    [eth0_ip] = e2e.addresses(pod.netns, "eth0")
    assert [ip["address"] for ip in out["ips"]] == [eth0_ip]
    assert [(s["name"], s["interface"]) for s in e2e.network_status(pod)] == [
        ("e2e-cluster", "eth0"), ("default/mv", "net1")]

    # DEL while the daemon is away: also retryable (delOnDaemonDown: error), then done
    e2e.daemon.kill(signal.SIGKILL)  # an OOM kill this time: a stale socket is left
    rc, out = _runtime_call(e2e, "DEL", pod)
    assert rc == 1 and out["code"] == 11, out
    assert e2e.links(pod.netns) == {"lo", "eth0", "net1"}
    e2e.daemon.launch()
    rc, out = _runtime_call(e2e, "DEL", pod)
    assert (rc, out) == (0, None), e2e.logs()[-3000:]
    e2e.assert_nothing_left(pod)
    assert generated.read_bytes() == written
