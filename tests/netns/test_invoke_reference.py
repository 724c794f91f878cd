"""Our libcni (`Invoker` + `ExecExecutor`) driving the reference Go plugins in real namespaces.

The reference plugins are Debian's containernetworking-plugins 1.1.1 in /usr/lib/cni. Each
test records what the plugins really printed (by wrapping `subprocess.run`, which
`ExecExecutor` uses) and checks that our parsed `Result`, the libcni cache, and the
namespaces agree with it. Everything lives under the per-run `netns_factory` prefix, a
temporary host-local `dataDir` and a temporary cache root.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError
from netattach.cni.invoke import ExecExecutor, Invoker, RuntimeConf
from netattach.cni.result_cache import ResultCache
from netattach.cni.types import Result

# fixtures `netns_factory` comes from tests/netns/conftest.py; its objects are typed loosely
# here so this module does not import the conftest.
NetnsFactory = Any
Netns = Any


def ip_json(*args: str, netns: str | None = None) -> Any:
    cmd = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []

CNI_BIN = "/usr/lib/cni"
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not all(os.access(f"{CNI_BIN}/{p}", os.X_OK)
                               for p in ("host-local", "macvlan", "bridge", "tuning")),
                       reason="reference plugins not installed in /usr/lib/cni"),
]


@dataclass(frozen=True)
class Call:
    plugin: str
    command: str
    stdin: dict[str, Any]
    stdout: bytes
    returncode: int

    @property
    def output(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


class Recorder:
    """Wraps subprocess.run to keep every reference plugin execution (stdin, raw stdout)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._run = subprocess.run

    def __call__(self, argv: Any, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
        proc = self._run(argv, *args, **kwargs)
        if isinstance(argv, list) and str(argv[0]).startswith(CNI_BIN + "/"):
            env = kwargs.get("env") or {}
            self.calls.append(Call(os.path.basename(argv[0]), env.get("CNI_COMMAND", ""),
                                   json.loads(kwargs["input"]), proc.stdout, proc.returncode))
        return proc

    def of(self, command: str) -> list[Call]:
        return [c for c in self.calls if c.command == command]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr("netattach.cni.invoke.subprocess.run", rec)
    return rec


@pytest.fixture
def invoker(tmp_path: Path) -> Invoker:
    return Invoker(path=(CNI_BIN,), executor=ExecExecutor(timeout=30),
                   cache=ResultCache(tmp_path / "cache"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "host-local"


@pytest.fixture
def master(netns_factory: NetnsFactory) -> Iterator[str]:
    """A veth end in the root namespace (peer parked in its own namespace): macvlan's master."""
    peer = netns_factory.make_netns("peer")
    root_end, _ = netns_factory.make_veth(None, peer)
    yield root_end


def addresses(ns: Netns, ifname: str) -> list[str]:
    links = ip_json("addr", "show", "dev", ifname, netns=ns.name)
    return [f"{a['local']}/{a['prefixlen']}" for link in links for a in link["addr_info"]]


def link(ns: Netns, ifname: str) -> dict[str, Any] | None:
    proc = subprocess.run(["ip", "-n", ns.name, "-j", "link", "show", "dev", ifname],
                          capture_output=True, text=True, check=False)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def ip_files(data_dir: Path, net: str) -> set[str]:
    directory = data_dir / net
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir()
            if p.name != "lock" and not p.name.startswith("last_reserved_ip")}


def assert_model_round_trips(raw: Any) -> None:
    """Our Result model reads and writes back exactly what the Go plugin printed."""
    assert Result.from_json(raw).to_json() == raw


# --------------------------------------------------------------------------------------
# macvlan + host-local, one plugin, in several versions
# --------------------------------------------------------------------------------------

def macvlan_conflist(version: str, master: str, data_dir: Path, net: str) -> NetConfList:
    return NetConfList.from_bytes(json.dumps({
        "cniVersion": version, "name": net,
        "plugins": [{
            "type": "macvlan", "master": master, "mode": "bridge",
            "ipam": {"type": "host-local", "dataDir": str(data_dir),
                     "ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10",
                                  "gateway": "192.0.2.1"}],
                                [{"subnet": "2001:db8:1::/64"}]],
                     # with "gw": without it the Go plugin routes via the range gateway
                     # and then its own CHECK cannot find a gateway-less route
                     "routes": [{"dst": "203.0.113.0/24", "gw": "192.0.2.1"}]},
        }],
    }).encode())


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_macvlan_host_local_add_check_del(netns_factory: NetnsFactory, master: str,
                                          invoker: Invoker, recorder: Recorder,
                                          data_dir: Path, version: str) -> None:
    pod = netns_factory.make_netns("pod")
    net = f"{netns_factory.prefix}mv"
    conflist = macvlan_conflist(version, master, data_dir, net)
    rt = RuntimeConf("natinv-c1", pod.path, "net1",
                     args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "p1")))

    result = invoker.add(conflist, rt)

    (call,) = recorder.of("ADD")
    assert (call.plugin, call.returncode) == ("macvlan", 0)
    raw = json.loads(call.stdout)
    assert raw["cniVersion"] == version
    assert_model_round_trips(raw)
    assert result.to_json() == raw
    # the config the plugin got: ours plus the injected name/cniVersion, nothing else
    assert call.stdin == {**conflist.plugins[0], "name": net, "cniVersion": version}

    # the interface exists in the pod namespace with the allocated addresses and MAC
    v4 = next(str(ip.address) for ip in result.ips if ip.address.version == 4)
    v6 = next(str(ip.address) for ip in result.ips if ip.address.version == 6)
    assert v4 == "192.0.2.10/24" and v6.startswith("2001:db8:1::")
    got = addresses(pod, "net1")
    assert v4 in got and v6 in got
    (iface,) = [i for i in result.interfaces if i.name == "net1"]
    assert iface.sandbox == pod.path
    assert link(pod, "net1")["address"] == iface.mac
    assert ip_files(data_dir, net) == {"192.0.2.10", v6.split("/")[0]}

    # libcni's cache file
    cache_file = invoker.cache.root / "results" / f"{net}-natinv-c1-net1"
    cached = json.loads(cache_file.read_text())
    assert cached["kind"] == "cniCacheV1"
    assert base64.b64decode(cached["config"]) == conflist.source
    assert (cached["containerId"], cached["ifName"], cached["networkName"]) == \
        ("natinv-c1", "net1", net)
    assert cached["netns"] == pod.path
    assert cached["cniArgs"] == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "p1"]]
    assert cached["result"] == raw

    # CHECK: 0.4.0+ only, with the cached result as prevResult
    recorder.clear()
    if version == "0.3.1":
        with pytest.raises(CNIError) as err:
            invoker.check(conflist, rt)
        assert err.value.code == 1
        assert recorder.calls == []
    else:
        invoker.check(conflist, rt)
        (check,) = recorder.of("CHECK")
        assert check.returncode == 0 and check.stdin["prevResult"] == raw

    # DEL: prevResult is the cached result from 0.4.0 on; everything goes away
    recorder.clear()
    invoker.delete(conflist, rt)
    (delete,) = recorder.of("DEL")
    assert delete.returncode == 0
    if version == "0.3.1":
        assert "prevResult" not in delete.stdin
    else:
        assert delete.stdin["prevResult"] == raw
    assert link(pod, "net1") is None
    assert ip_files(data_dir, net) == set()
    assert not cache_file.exists()

    # DEL again: idempotent
    invoker.delete(conflist, rt)


def test_host_local_alone_matches_a_direct_run(netns_factory: NetnsFactory, invoker: Invoker,
                                               recorder: Recorder, tmp_path: Path) -> None:
    """host-local as the only plugin: our result equals the bytes a direct exec prints
    for the same request in a twin data dir."""
    pod = netns_factory.make_netns("pod")
    net = f"{netns_factory.prefix}hl"

    def conflist(data_dir: Path) -> NetConfList:
        return NetConfList.from_bytes(json.dumps({
            "cniVersion": "1.0.0", "name": net,
            "plugins": [{"type": "host-local", "ipam": {
                "type": "host-local", "dataDir": str(data_dir),
                "ranges": [[{"subnet": "198.51.100.0/25"}], [{"subnet": "2001:db8:7::/64"}]],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "2001:db8:7::fe"}]}}],
        }).encode())

    ours = conflist(tmp_path / "ours")
    result = invoker.add(ours, RuntimeConf("natinv-c2", pod.path, "eth0"))

    twin = conflist(tmp_path / "twin")
    stdin = Invoker.build_config(twin.plugins[0], net, "1.0.0", None,
                                 RuntimeConf("natinv-c2", pod.path, "eth0"))
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "natinv-c2", "CNI_NETNS": pod.path,
           "CNI_IFNAME": "eth0", "CNI_PATH": CNI_BIN, "PATH": os.environ.get("PATH", "")}
    direct = subprocess.run([f"{CNI_BIN}/host-local"], input=json.dumps(stdin).encode(), env=env,
                            capture_output=True, check=True)
    raw = json.loads(direct.stdout)
    assert_model_round_trips(raw)
    assert result.to_json() == raw
    assert json.loads(recorder.of("ADD")[0].stdout) == raw
    assert [str(ip.address) for ip in result.ips] == ["198.51.100.2/25", "2001:db8:7::2/64"]

    invoker.delete(ours, RuntimeConf("natinv-c2", pod.path, "eth0"))
    assert ip_files(tmp_path / "ours", net) == set()


# --------------------------------------------------------------------------------------
# bridge -> tuning chain
# --------------------------------------------------------------------------------------

TUNED_MAC = "02:00:5e:10:00:42"


@pytest.fixture
def chain(netns_factory: NetnsFactory, data_dir: Path, tmp_path: Path
          ) -> tuple[NetConfList, str, str]:
    bridge = netns_factory.link_name("br")
    netns_factory.track_root_link(bridge)  # removed at teardown whatever happens
    net = f"{netns_factory.prefix}chain"
    conflist = NetConfList.from_bytes(json.dumps({
        "cniVersion": "1.0.0", "name": net,
        "plugins": [
            {"type": "bridge", "bridge": bridge,
             "ipam": {"type": "host-local", "dataDir": str(data_dir),
                      "ranges": [[{"subnet": "203.0.113.0/24", "gateway": "203.0.113.1"}]]}},
            {"type": "tuning", "mac": TUNED_MAC, "dataDir": str(tmp_path / "tuning"),
             "sysctl": {"net.ipv4.conf.eth0.arp_filter": "1"}},
        ],
    }).encode())
    return conflist, net, bridge


def sysctl(ns: Netns, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")
    return subprocess.run(["ip", "netns", "exec", ns.name, "cat", path], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_bridge_tuning_chain(netns_factory: NetnsFactory, invoker: Invoker, recorder: Recorder,
                             data_dir: Path, chain: tuple[NetConfList, str, str]) -> None:
    conflist, net, bridge = chain
    pod = netns_factory.make_netns("pod")
    rt = RuntimeConf("natinv-c3", pod.path, "eth0")
    assert sysctl(pod, "net.ipv4.conf.all.arp_filter") == "0"

    result = invoker.add(conflist, rt)

    adds = recorder.of("ADD")
    assert [c.plugin for c in adds] == ["bridge", "tuning"]
    assert all(c.returncode == 0 for c in adds)
    bridge_raw, tuning_raw = (json.loads(c.stdout) for c in adds)
    assert_model_round_trips(bridge_raw)
    assert_model_round_trips(tuning_raw)
    # tuning received bridge's result as prevResult, and the chain's result is tuning's
    assert "prevResult" not in adds[0].stdin
    assert adds[1].stdin["prevResult"] == bridge_raw
    assert result.to_json() == tuning_raw

    # tuning's work is visible: the MAC in the result and on the link, the sysctl in the ns
    (eth0,) = [i for i in result.interfaces if i.name == "eth0"]
    assert eth0.mac == TUNED_MAC and eth0.sandbox == pod.path
    bridge_eth0 = [i for i in bridge_raw["interfaces"] if i["name"] == "eth0"][0]
    assert bridge_eth0["mac"] != TUNED_MAC
    assert link(pod, "eth0")["address"] == TUNED_MAC
    assert sysctl(pod, "net.ipv4.conf.eth0.arp_filter") == "1"
    assert "203.0.113.2/24" in addresses(pod, "eth0")
    host_links = ip_json("link", "show", "master", bridge)
    assert len(host_links) == 1  # the host end of the veth is enslaved to our bridge
    assert ip_files(data_dir, net) == {"203.0.113.2"}

    # CHECK passes, each plugin gets the cached (final) result as prevResult
    recorder.clear()
    invoker.check(conflist, rt)
    checks = recorder.of("CHECK")
    assert [c.plugin for c in checks] == ["bridge", "tuning"]
    assert all(c.stdin["prevResult"] == tuning_raw for c in checks)

    # GC with the attachment listed keeps it
    recorder.clear()
    invoker.gc(conflist, [("natinv-c3", "eth0")])
    assert recorder.calls == []  # 1.0.0: no GC verb is sent, nothing stale to DEL
    assert ip_files(data_dir, net) == {"203.0.113.2"}
    assert link(pod, "eth0") is not None
    assert invoker.cache.read(net, "natinv-c3", "eth0") is not None

    # CHECK fails once the interface is gone
    subprocess.run(["ip", "-n", pod.name, "link", "del", "eth0"], check=True)
    with pytest.raises(CNIError):
        invoker.check(conflist, rt)

    # GC with an empty valid list: the stale attachment is DELeted (tuning, then bridge,
    # with the cached result), so host-local's IP file and the cache entry disappear.
    recorder.clear()
    invoker.gc(conflist, [])
    dels = recorder.of("DEL")
    assert [c.plugin for c in dels] == ["tuning", "bridge"]
    assert all(c.returncode == 0 and c.stdin["prevResult"] == tuning_raw for c in dels)
    assert ip_files(data_dir, net) == set()
    assert invoker.cache.read(net, "natinv-c3", "eth0") is None
    assert list(invoker.cache.entries(net)) == []


def test_bridge_tuning_del_runs_in_reverse(netns_factory: NetnsFactory, invoker: Invoker,
                                           recorder: Recorder, data_dir: Path,
                                           chain: tuple[NetConfList, str, str]) -> None:
    conflist, net, bridge = chain
    pod = netns_factory.make_netns("pod")
    rt = RuntimeConf("natinv-c4", pod.path, "eth0")
    result = invoker.add(conflist, rt)
    final = json.loads(recorder.of("ADD")[-1].stdout)
    assert result.to_json() == final

    recorder.clear()
    invoker.delete(conflist, rt)
    dels = recorder.of("DEL")
    assert [c.plugin for c in dels] == ["tuning", "bridge"]
    assert all(c.returncode == 0 for c in dels)
    assert all(c.stdin["prevResult"] == final for c in dels)
    assert link(pod, "eth0") is None
    assert ip_json("link", "show", "master", bridge) == []
    assert ip_files(data_dir, net) == set()
    assert invoker.cache.read(net, "natinv-c4", "eth0") is None

    # a second DEL (no cache any more, so no prevResult) still succeeds
    recorder.clear()
    invoker.delete(conflist, rt)
    assert [c.plugin for c in recorder.of("DEL")] == ["tuning", "bridge"]
    assert all("prevResult" not in c.stdin for c in recorder.of("DEL"))
