"""Helpers to drive CNI plugins in tests: in process (dispatch) or as executables.

Loaded by path from tests (tests/ has no packages): see `load_plugin_helpers()` users.
The "host" namespace of a plugin is a test "node" netns: in process the call runs on a
thread inside it (`run_in_netns`), as an executable under `ip netns exec NODE`.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netattach.cni.errors import CNIError
from netattach.cni.request import request_from_env
from netattach.cni.skel import Plugin, dispatch
from netattach.cni.types import Result
from netattach.linux import run_in_netns

GO_CNI_DIR = "/usr/lib/cni"


def netconf(plugin_type: str, *, version: str = "1.0.0", name: str = "testnet",
            **fields: Any) -> dict[str, Any]:
    """A network config dict for `plugin_type` with the given extra keys."""
    return {"cniVersion": version, "name": name, "type": plugin_type, **fields}


def static_ipam(*addresses: str, routes: list[dict[str, str]] | None = None,
                gateway: str | None = None) -> dict[str, Any]:
    addrs: list[dict[str, str]] = []
    for a in addresses:
        addrs.append({"address": a, **({"gateway": gateway} if gateway else {})})
    out: dict[str, Any] = {"type": "static", "addresses": addrs}
    if routes:
        out["routes"] = routes
    return out


def cni_env(command: str, *, netns: str, ifname: str, container_id: str, args: str = "",
            cni_path: str = GO_CNI_DIR) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
            "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": cni_path}


@dataclass
class Outcome:
    """What a CNI call produced: rc 0 + result JSON, or rc 1 + error JSON."""

    rc: int
    out: dict[str, Any] | None
    stderr: str = ""

    @property
    def code(self) -> int | None:
        return None if self.out is None or self.rc == 0 else self.out.get("code")

    @property
    def msg(self) -> str:
        return "" if self.out is None else str(self.out.get("msg", ""))

    @property
    def details(self) -> str:
        return "" if self.out is None else str(self.out.get("details", ""))

    def ok(self) -> dict[str, Any] | None:
        assert self.rc == 0, f"plugin failed: {self.out} {self.stderr}"
        return self.out


def call_inproc(plugin: Plugin, command: str, conf: dict[str, Any], *, netns: str,
                ifname: str, container_id: str = "ctr1", args: str = "",
                host_netns: str | None = None) -> Outcome:
    """dispatch() a request like `run` would, inside `host_netns` if given."""
    env = cni_env(command, netns=netns, ifname=ifname, container_id=container_id, args=args)
    version = conf.get("cniVersion", "")

    def go() -> Outcome:
        try:
            request = request_from_env(env, json.dumps(conf).encode())
            result = dispatch(plugin, request, env)
        except CNIError as e:
            return Outcome(1, e.to_json())
        out = result.to_json(version) if isinstance(result, Result) else None
        return Outcome(0, out)

    return run_in_netns(host_netns, go) if host_netns else go()


def call_exec(binary: str | Path, command: str, conf: dict[str, Any], *, netns: str,
              ifname: str, container_id: str = "ctr1", args: str = "",
              host_netns_name: str | None = None, cni_path: str = GO_CNI_DIR,
              timeout: float = 60) -> Outcome:
    """Execute a plugin like a runtime (env + stdin), under `ip netns exec` if given."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           **cni_env(command, netns=netns, ifname=ifname, container_id=container_id,
                     args=args, cni_path=cni_path)}
    argv = [str(binary)]
    if host_netns_name:
        argv = ["ip", "netns", "exec", host_netns_name, *argv]
    proc = subprocess.run(argv, input=json.dumps(conf).encode(), env=env,
                          capture_output=True, timeout=timeout)
    text = proc.stdout.decode().strip()
    out = json.loads(text) if text else None
    return Outcome(proc.returncode, out, proc.stderr.decode())


def install_netattach_bins(directory: Path) -> Path:
    """`netattach install-bin DIR` via the CLI; returns DIR."""
    import sys

    subprocess.run([sys.executable, "-m", "netattach", "install-bin", str(directory)],
                   check=True, capture_output=True)
    return directory


def strip_macs(result: dict[str, Any]) -> dict[str, Any]:
    """The result without interface MACs and sandbox paths (they differ between runs)."""
    out = json.loads(json.dumps(result))
    for iface in out.get("interfaces", []):
        iface.pop("mac", None)
        iface.pop("sandbox", None)
    return out


def ip_json(*args: str, netns: str | None = None) -> list[dict]:
    cmd = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(text) if text.strip() else []


def link_facts(netns: str, ifname: str) -> dict[str, Any]:
    """Kind, mode/id, MTU, addresses and routes of `ifname` as iproute2 reports them."""
    [dev] = ip_json("-d", "link", "show", "dev", ifname, netns=netns)
    info = dev.get("linkinfo", {})
    data = info.get("info_data", {})
    [addr] = ip_json("addr", "show", "dev", ifname, netns=netns)
    addrs = sorted(f"{a['local']}/{a['prefixlen']}" for a in addr.get("addr_info", [])
                   if a.get("scope") != "link")
    routes = sorted(json.dumps({k: r.get(k) for k in ("dst", "gateway", "dev", "scope")},
                               sort_keys=True)
                    for r in ip_json("route", "show", "table", "main", netns=netns)
                    + ip_json("-6", "route", "show", "table", "main", netns=netns)
                    if r.get("dev") == ifname and not str(r.get("dst", "")).startswith("fe80"))
    return {"kind": info.get("info_kind"), "mode": data.get("mode"), "id": data.get("id"),
            "mtu": dev.get("mtu"), "up": "UP" in dev.get("flags", []), "addrs": addrs,
            "routes": routes, "mac": dev.get("address")}


def ping(netns: str, address: str, count: int = 1, timeout: int = 2) -> bool:
    proc = subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", str(count), "-W",
                           str(timeout), address], capture_output=True)
    return proc.returncode == 0


def rename_link(netns: str, old: str, new: str) -> None:
    """Rename a link inside `netns` (down, rename, up: older kernels refuse renaming up links)."""
    for args in (("set", old, "down"), ("set", old, "name", new), ("set", new, "up")):
        subprocess.run(["ip", "-n", netns, "link", *args], check=True, capture_output=True)


def link_names(ns: Any) -> list[str]:
    """Interface names of a test namespace (as `ip link` lists them)."""
    return [lk["ifname"] for lk in ip_json("link", "show", netns=ns.name)]


@pytest.fixture(scope="module")
def bindir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """netattach's executables, installed once per module (import this fixture)."""
    return install_netattach_bins(tmp_path_factory.mktemp("cni-bin"))


def make_lab(factory: Any, peer_ip: str | None = "192.0.2.1/24") -> tuple[Any, Any, Any, str]:
    """(node, pod, peer, parent): a veth `parent` in the node to a peer holding `peer_ip`."""
    node = factory.make_netns("node")
    pod = factory.make_netns("pod")
    peer = factory.make_netns("peer")
    parent, peer_end = factory.make_veth(node, peer)
    if peer_ip:
        subprocess.run(["ip", "-n", peer.name, "addr", "add", peer_ip, "dev", peer_end],
                       check=True)
    return node, pod, peer, parent
