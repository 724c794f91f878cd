"""sandbox status / exec / ping: looking into a running sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import TextIO

from . import netns
from .model import SandboxError, load_scenario
from .state import PodState, SandboxState, existing
from .topology import Names


def find(name: str | None) -> SandboxState:
    names = existing()
    if name is None:
        if len(names) != 1:
            raise SandboxError("no sandbox is running; start one with: netattach sandbox up -f "
                               "examples/vlan-multi" if not names else
                               f"several sandboxes exist ({', '.join(names)}); pass --name")
        name = names[0]
    state = SandboxState.load(name)
    if state is None:
        raise SandboxError(f"no sandbox named {name!r} (running: {', '.join(names) or 'none'})")
    return state


def _vlan_of(state: SandboxState, network: str) -> str:
    if "/" not in network:
        return ""
    ns, name = network.split("/", 1)
    try:
        scenario = load_scenario(state.sources)
    except SandboxError:
        return ""
    nad = scenario.nad(ns, name)
    if nad is None:
        return ""
    ids = [str(p["vlanId"]) for p in nad.plugins() if p.get("type") == "vlan" and "vlanId" in p]
    return ",".join(ids)


def status(state: SandboxState, out: TextIO = sys.stdout) -> None:
    """A pods x networks table: interface, IPs, MAC, VLAN."""
    rows = [("POD", "NETWORK", "INTERFACE", "IPS", "MAC", "VLAN")]
    for key, pod in state.pods.items():
        if not pod.ready:
            rows.append((key, "-", "-", "-", "-", "-"))
            rows.append(("", f"not running: {pod.error.splitlines()[0][:90]}", "", "", "", ""))
            continue
        for entry in pod.network_status:
            rows.append((key, entry.get("name", ""), entry.get("interface", ""),
                         ",".join(entry.get("ips", [])), entry.get("mac", ""),
                         _vlan_of(state, entry.get("name", ""))))
            key = ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def find_pod(state: SandboxState, pod: str) -> PodState:
    """The pod named NAME or NAMESPACE/NAME."""
    matches = [p for k, p in state.pods.items() if pod in (k, p.name)]
    if not matches:
        raise SandboxError(f"no pod {pod!r} in sandbox {state.name} (pods: "
                           f"{', '.join(state.pods) or 'none'})")
    return matches[0]


def pod_netns(state: SandboxState, pod: str) -> str:
    return find_pod(state, pod).netns.rsplit("/", 1)[-1]


def explain(state: SandboxState, pod: str, args: Sequence[str] = (),
            out: TextIO = sys.stdout) -> tuple[int, str]:
    """`netattach explain` on a sandbox pod, run in the node namespace against the sandbox's
    API server (started for it), its meta config and cniDir. Returns (exit code, output)."""
    from . import lifecycle, runtime

    ps = find_pod(state, pod)
    config = state.directory / runtime.META_CONFIG
    if not config.exists():
        lifecycle.write_meta_config(state)
    with lifecycle.api_running(state) as kubeconfig:
        argv = [sys.executable, "-m", "netattach", "explain", f"{ps.namespace}/{ps.name}",
                "--kubeconfig", str(kubeconfig), "--config", str(config), *args]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        proc = subprocess.run(netns.exec_in(Names(state.prefix).node, argv), env=env,
                              capture_output=True, text=True, check=False)
    out.write(proc.stdout)
    out.flush()
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    return proc.returncode, proc.stdout


def exec_(state: SandboxState, pod: str, argv: Sequence[str]) -> int:
    """Run a command inside the pod's network namespace, as `kubectl exec` would."""
    if not argv:
        raise SandboxError("nothing to run: netattach sandbox exec POD -- CMD [ARGS]")
    return subprocess.run(netns.exec_in(pod_netns(state, pod), argv), check=False).returncode


def ping(state: SandboxState, pod: str, address: str, peer: str | None = None,
         count: int = 3) -> int:
    """Ping `address` from the pod, or from a peer host (`--from PEER`) to the pod."""
    where = Names(state.prefix).peer(peer) if peer else pod_netns(state, pod)
    if peer and where not in state.namespaces:
        raise SandboxError(f"no peer {peer!r} in sandbox {state.name}")
    argv = ["ping", "-c", str(count), "-W", "1", "-i", "0.2", address]
    return subprocess.run(netns.exec_in(where, argv), check=False).returncode
