"""sandbox up / status / exec / ping / down.

`up` validates everything first, then builds the node, switch and peers, and attaches
each pod through the real `netattach` CNI executable; `down` removes every namespace
the state records, whatever happened before.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from netattach.linux import run_in_netns

from . import netns, runtime
from .apiserver import LocalApi
from .model import SandboxError, Scenario, load_scenario
from .state import PodState, SandboxState
from .topology import Names, build

STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"


def sandbox_name(scenario: Scenario) -> str:
    return re.sub(r"[^a-z0-9-]", "-", scenario.topology.name.lower())[:20] or "sandbox"


def _prefix(name: str) -> str:
    return "nas-" + name.replace("-", "")[:8]


class Progress:
    """One line per step, with its duration when it took more than a moment."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def step(self, text: str, fn: Callable[[], object]) -> object:
        self.out.write(f"  {text} ...")
        self.out.flush()
        start = time.monotonic()
        try:
            result = fn()
        except BaseException:
            self.out.write(" failed\n")
            raise
        took = time.monotonic() - start
        self.out.write(f" done{f' ({took:.1f} s)' if took >= 0.5 else ''}\n")
        return result

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def needs_vlan(scenario: Scenario) -> bool:
    """Whether the scenario needs 802.1Q in the kernel (VLAN NADs or VLAN switch ports)."""
    return bool(scenario.topology.vlans) or any(
        p.get("type") == "vlan" for n in scenario.nads for p in n.plugins())


def validate(scenario: Scenario) -> None:
    """Everything that can be wrong in the YAML, found before anything is created."""
    from netattach.kube.annotations import AnnotationError, parse_networks

    nics = {n.name for n in scenario.topology.nics}
    for dev in scenario.topology.devices:
        if dev.link not in nics:
            raise SandboxError(f"device {dev.name} sits on {dev.link}, which the topology's node "
                               f"does not have (NICs: {', '.join(sorted(nics))})")
    for nad in scenario.nads:
        if not nad.conf():
            raise SandboxError(f"NetworkAttachmentDefinition {nad.namespace}/{nad.name}: "
                               "spec.config is missing or not a JSON object")
        for plugin in nad.plugins():
            master = plugin.get("master")
            if master and master not in nics:
                raise SandboxError(
                    f"NetworkAttachmentDefinition {nad.namespace}/{nad.name} uses master "
                    f"{master}, which the topology's node does not have (NICs: "
                    f"{', '.join(sorted(nics))}); fix the NAD or add the NIC to the topology")
    for pod in scenario.pods:
        try:
            selections = parse_networks(pod.annotations.get(NETWORKS_ANNOTATION, ""),
                                        pod.namespace, pod.name)
        except AnnotationError as e:
            raise SandboxError(str(e)) from None
        for sel in selections:
            if scenario.nad(sel.namespace, sel.name) is None:
                raise SandboxError(
                    f"pod {pod.namespace}/{pod.name} asks for network {sel.namespace}/{sel.name}"
                    f", but no NetworkAttachmentDefinition {sel.name} in namespace "
                    f"{sel.namespace} is in {', '.join(map(str, scenario.source))}")


def _start_api(scenario: Scenario, state: SandboxState, node_ns: str) -> tuple[LocalApi, Path]:
    """The sandbox's API server in the node namespace: the scenario's NADs and pods (with the
    UIDs and network-status the state recorded); its kubeconfig."""
    api = LocalApi()
    for nad in scenario.nads:
        api.put("NetworkAttachmentDefinition", {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": nad.name, "namespace": nad.namespace},
            "spec": {"config": nad.config}})
    for pod in scenario.pods:
        existing = state.pods.get(f"{pod.namespace}/{pod.name}")
        meta = {"name": pod.name, "namespace": pod.namespace,
                "annotations": dict(pod.annotations)}
        if existing:
            meta["uid"] = existing.uid
            if existing.ready:
                meta["annotations"][STATUS_ANNOTATION] = json.dumps(existing.network_status)
        api.put("Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                        "spec": {"nodeName": scenario.topology.node_name}})
    url = run_in_netns(f"/run/netns/{node_ns}", api.serve)
    kubeconfig = state.directory / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sandbox",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox"}}]}))
    return api, kubeconfig


def _install(state: SandboxState, subnet: str) -> None:
    from netattach.node.binaries import install_bin

    d = state.directory
    install_bin(d / "bin")
    (d / "net.d").mkdir(exist_ok=True)
    (d / "multus.d").mkdir(exist_ok=True)
    (d / "net.d" / "10-default.conflist").write_text(
        json.dumps(runtime.default_network(d, subnet)))
    write_meta_config(state)


def write_meta_config(state: SandboxState) -> Path:
    """The meta config the sandbox's runtime passes, as a file (for `netattach explain`)."""
    path = state.directory / runtime.META_CONFIG
    path.write_text(json.dumps(runtime.meta_config(state.directory,
                                                   state.directory / "kubeconfig")))
    return path


@contextmanager
def api_running(state: SandboxState) -> Iterator[Path]:
    """The sandbox's API server, serving while the block runs; yields its kubeconfig."""
    api, kubeconfig = _start_api(load_scenario(state.sources), state, Names(state.prefix).node)
    try:
        yield kubeconfig
    finally:
        api.stop()


def attach_pods(scenario: Scenario, state: SandboxState, progress: Progress,
                only: Iterable[str] | None = None) -> None:
    """ADD every pod not running yet (or those in `only`), through the real CNI executable."""
    names = Names(state.prefix)
    api, kubeconfig = _start_api(scenario, state, names.node)
    config = runtime.meta_config(state.directory, kubeconfig)
    wanted = set(only) if only else None
    try:
        for pod in scenario.pods:
            key = f"{pod.namespace}/{pod.name}"
            ps = state.pods.get(key)
            if (ps and ps.ready) or (wanted is not None and pod.name not in wanted
                                      and key not in wanted):
                continue
            obj = api.get("Pod", pod.namespace, pod.name)
            assert obj is not None
            ns_name = names.pod(pod.namespace, pod.name)[:40]
            if ps is None:
                netns.add(ns_name)
                state.namespaces.append(ns_name)
                ps = PodState(pod.namespace, pod.name, f"/run/netns/{ns_name}",
                              runtime.container_id(pod.namespace, pod.name),
                              obj["metadata"]["uid"])
                state.pods[key] = ps
            else:
                ps.container_id = runtime.container_id(pod.namespace, pod.name,
                                                       int(time.time() * 1000) % 100000)
            state.save()
            result = progress.step(f"pod {key}: attaching networks", lambda ps=ps, pod=pod:
                                   runtime.call("ADD", names.node, state.directory, config,
                                                ps.netns, ps.container_id, pod.namespace,
                                                pod.name, ps.uid))
            assert isinstance(result, runtime.CniResult)
            if result.ok:
                stored = api.get("Pod", pod.namespace, pod.name) or {}
                raw = (stored.get("metadata", {}).get("annotations") or {}).get(
                    STATUS_ANNOTATION, "[]")
                ps.ready, ps.error, ps.network_status = True, "", json.loads(raw)
            else:
                ps.ready, ps.error = False, result.message
                progress.say(f"  pod {key} failed:\n    {result.message}")
                # as a runtime does after a failed ADD: DEL, so nothing stays half-attached
                runtime.call("DEL", names.node, state.directory, config, ps.netns,
                             ps.container_id, pod.namespace, pod.name, ps.uid)
            state.save()
    finally:
        api.stop()


def up(paths: list[str], out: TextIO = sys.stdout) -> SandboxState:
    """Create the sandbox described by `paths` (or retry its failed pods if it exists)."""
    scenario = load_scenario(paths)
    validate(scenario)
    name = sandbox_name(scenario)
    progress = Progress(out)
    state = SandboxState.load(name)
    if state is not None:
        progress.say(f"sandbox {name} exists: retrying pods that are not running")
        attach_pods(scenario, state, progress)
        return state
    state = SandboxState(name, _prefix(name), [str(p) for p in paths])
    state.directory.mkdir(parents=True, exist_ok=True)
    state.save()
    topo = scenario.topology
    try:
        progress.step(f"node {topo.node_name} with {len(topo.nics)} NICs, switch, "
                      f"{len(topo.peers)} peers", lambda: build(topo, Names(state.prefix),
                                                                state.namespaces))
        state.save()
        progress.step("installing netattach's CNI executables and the default network",
                      lambda: _install(state, topo.default_subnet))
        attach_pods(scenario, state, progress)
    except BaseException:
        state.save()
        down(name, out, quiet=True)
        raise
    return state


def down(name: str, out: TextIO = sys.stdout, quiet: bool = False) -> None:
    """DEL every pod, then remove every namespace and file the sandbox created."""
    state = SandboxState.load(name)
    if state is None:
        if not quiet:
            out.write(f"no sandbox named {name!r}\n")
        return
    names = Names(state.prefix)
    kubeconfig = state.directory / "kubeconfig"
    config = runtime.meta_config(state.directory, kubeconfig)
    for ps in state.pods.values():
        if netns.exists(names.node) and (state.directory / "bin" / "netattach").exists():
            runtime.call("DEL", names.node, state.directory, config, ps.netns, ps.container_id,
                         ps.namespace, ps.name, ps.uid)
    for ns in reversed(state.namespaces):
        netns.delete(ns)
    shutil.rmtree(state.directory, ignore_errors=True)
    if not quiet:
        out.write(f"sandbox {name} removed ({len(state.namespaces)} namespaces)\n")
