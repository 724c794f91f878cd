"""bridge plugin on real namespaces: in process, as the installed executable, and against
the reference Go plugin (/usr/lib/cni/bridge) as an oracle.

A "node" netns plays the host (bridge, host veths, nftables); "pod" namespaces play the
containers. In process, the plugin runs on a thread inside the node netns; as an
executable, under `ip netns exec NODE`. Everything lives in namespaces the fixtures
create, so nothing touches the machine's own links or nftables ruleset.
The helpers at the top are shared with test_plugin_tuning.py / test_plugin_host_device.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from netattach.builtins import load_plugin
from netattach.cni.errors import CNIError
from netattach.cni.request import request_from_env
from netattach.cni.skel import dispatch
from netattach.cni.types import Result
from netattach.linux import run_in_netns
from netattach.node.binaries import install_bin

pytestmark = pytest.mark.root

GO_PLUGINS = "/usr/lib/cni"


# -- helpers (shared) -------------------------------------------------------------------------
def cni_env(command: str, netns: str, ifname: str = "eth0", container_id: str = "ctr1",
            args: str = "", path: str = GO_PLUGINS) -> dict[str, str]:
    return {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
            "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": path}


def call(plugin_type: str, command: str, conf: dict[str, Any], *, host: Any | None,
         netns: str, ifname: str = "eth0", container_id: str = "ctr1",
         args: str = "") -> Result | None:
    """In process; `host` is the TestNetns that plays the host (None: the test's own)."""
    env = cni_env(command, netns, ifname, container_id, args)

    def go() -> Result | None:
        req = request_from_env(env, json.dumps(conf).encode())
        return dispatch(load_plugin(plugin_type), req, env)

    return go() if host is None else run_in_netns(host.path, go)


def exec_plugin(exe: str | Path, command: str, conf: dict[str, Any], *, host: Any | None,
                netns: str, ifname: str = "eth0", container_id: str = "ctr1",
                args: str = "", path: str = GO_PLUGINS) -> tuple[int, Any]:
    """An executable plugin (inside `host` via ip netns exec): (exit code, JSON or None)."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           **cni_env(command, netns, ifname, container_id, args, path)}
    cmd = [str(exe)] if host is None else ["ip", "netns", "exec", host.name, str(exe)]
    proc = subprocess.run(cmd, input=json.dumps(conf).encode(), env=env, capture_output=True,
                          timeout=60, check=False)
    out = proc.stdout.decode().strip()
    return proc.returncode, (json.loads(out) if out else None)


def run(*cmd: str, netns: str | None = None, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    full = ["ip", "netns", "exec", netns, *cmd] if netns else list(cmd)
    return subprocess.run(full, capture_output=True, text=True, check=check, timeout=60)


def nft_ruleset(netns: str) -> list[dict[str, Any]]:
    out = run("nft", "-j", "list", "ruleset", netns=netns).stdout
    return json.loads(out).get("nftables", []) if out.strip() else []


def nft_rules(netns: str) -> list[dict[str, Any]]:
    return [o["rule"] for o in nft_ruleset(netns) if "rule" in o]


def nft_chains(netns: str) -> list[str]:
    return [o["chain"]["name"] for o in nft_ruleset(netns) if "chain" in o]


def ping(src_netns: str, dst: str) -> bool:
    return run("ping", "-c", "1", "-W", "2", dst, netns=src_netns, check=False).returncode == 0


def ip_j(netns: str, *args: str) -> list[dict[str, Any]]:
    out = run("ip", "-n", netns, "-j", *args).stdout
    return json.loads(out) if out.strip() else []


def link(netns: str, name: str) -> dict[str, Any] | None:
    found = [lk for lk in ip_j(netns, "-d", "link", "show") if lk["ifname"] == name]
    return found[0] if found else None


def addrs(netns: str, name: str, family: str = "inet") -> list[str]:
    lk = [x for x in ip_j(netns, "addr", "show", "dev", name)]
    return sorted(f"{a['local']}/{a['prefixlen']}" for x in lk for a in x["addr_info"]
                  if a["family"] == family)


def routes(netns: str, family: str = "-4") -> list[tuple[str, str | None, str]]:
    return sorted((r["dst"], r.get("gateway"), r.get("dev", ""))
                  for r in ip_j(netns, family, "route", "show"))


def hostlocal_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file()
                  and not p.name.startswith(("lock", "last_reserved_ip")))


@pytest.fixture(scope="module")
def bindir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cni-bin")
    install_bin(d)
    return d


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def node(netns_factory):  # noqa: ANN001 - pytest fixture
    return netns_factory.make_netns("node")


@pytest.fixture
def brname(netns_factory) -> str:  # noqa: ANN001
    return netns_factory.link_name("br")


def bridge_conf(brname: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "brtest", "type": "bridge",
                            "bridge": brname,
                            "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                                     "dataDir": str(data_dir)}}
    conf.update(extra)
    return conf


# -- in process ---------------------------------------------------------------------------------
def test_two_pods_gateway_and_ping(netns_factory, node, brname, tmp_path) -> None:
    pod1, pod2 = netns_factory.make_netns("pod"), netns_factory.make_netns("pod")
    conf = bridge_conf(brname, tmp_path, isDefaultGateway=True)
    r1 = call("bridge", "ADD", conf, host=node, netns=pod1.path, container_id="c1")
    r2 = call("bridge", "ADD", conf, host=node, netns=pod2.path, container_id="c2")
    assert r1 is not None and r2 is not None
    j1 = r1.to_json("1.0.0")
    assert [i["name"] for i in j1["interfaces"]][0::2] == [brname, "eth0"]
    assert j1["interfaces"][2]["sandbox"] == pod1.path
    assert j1["ips"] == [{"interface": 2, "address": "192.0.2.2/24", "gateway": "192.0.2.1"}]
    assert j1["routes"] == [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]
    # the gateway is on the bridge, forwarding is on (in the node netns only)
    assert addrs(node.name, brname) == ["192.0.2.1/24"]
    assert run("cat", "/proc/sys/net/ipv4/ip_forward", netns=node.name).stdout.strip() == "1"
    assert ("default", "192.0.2.1", "eth0") in routes(pod1.name)
    host_veth = link(node.name, j1["interfaces"][1]["name"])
    assert host_veth is not None and host_veth["master"] == brname
    assert link(pod1.name, "eth0")["address"] == j1["interfaces"][2]["mac"]
    assert ping(pod1.name, "192.0.2.3") and ping(pod2.name, "192.0.2.2")
    assert ping(pod1.name, "192.0.2.1")
    # CHECK passes with the ADD result
    call("bridge", "CHECK", {**conf, "prevResult": j1}, host=node, netns=pod1.path,
         container_id="c1")
    # DEL, twice
    for _ in range(2):
        call("bridge", "DEL", conf, host=node, netns=pod1.path, container_id="c1")
    assert link(pod1.name, "eth0") is None
    assert link(node.name, j1["interfaces"][1]["name"]) is None
    assert hostlocal_files(tmp_path) == ["192.0.2.3"]


def test_hairpin_and_promisc(netns_factory, node, brname, tmp_path) -> None:
    pod = netns_factory.make_netns("pod")
    r = call("bridge", "ADD", bridge_conf(brname, tmp_path, hairpinMode=True), host=node,
             netns=pod.path)
    hv = link(node.name, r.interfaces[1].name)
    assert hv["linkinfo"]["info_slave_data"]["hairpin"] is True
    pod2 = netns_factory.make_netns("pod")
    br2 = netns_factory.link_name("br")
    call("bridge", "ADD", bridge_conf(br2, tmp_path / "b", promiscMode=True), host=node,
         netns=pod2.path)
    assert "PROMISC" in link(node.name, br2)["flags"]


def test_check_fails_when_address_removed(netns_factory, node, brname, tmp_path) -> None:
    pod = netns_factory.make_netns("pod")
    conf = bridge_conf(brname, tmp_path)
    r = call("bridge", "ADD", conf, host=node, netns=pod.path)
    run("ip", "-n", pod.name, "addr", "del", "192.0.2.2/24", "dev", "eth0")
    with pytest.raises(CNIError) as err:
        call("bridge", "CHECK", {**conf, "prevResult": r.to_json("1.0.0")}, host=node,
             netns=pod.path)
    assert "Failed to match addr 192.0.2.2/24 on interface eth0" in err.value.msg


def test_failed_add_leaves_nothing(netns_factory, node, brname, tmp_path) -> None:
    """The gateway conflicts with an address already on the bridge: ADD fails after veth,
    macspoofchk, IPAM and must undo all of them."""
    pod = netns_factory.make_netns("pod")
    run("ip", "-n", node.name, "link", "add", brname, "type", "bridge")
    run("ip", "-n", node.name, "addr", "add", "203.0.113.1/24", "dev", brname)
    conf = bridge_conf(brname, tmp_path, isGateway=True, ipMasq=True, macspoofchk=True)
    with pytest.raises(CNIError) as err:
        call("bridge", "ADD", conf, host=node, netns=pod.path)
    assert "already has an IP address different from 192.0.2.1/24" in err.value.msg
    assert [lk["ifname"] for lk in ip_j(node.name, "link", "show")] == ["lo", brname]
    assert link(pod.name, "eth0") is None
    assert not [r for r in nft_rules(node.name) if "masquerade" in json.dumps(r)
                or r.get("comment", "").startswith("macspoofchk")]
    assert not [c for c in nft_chains(node.name) if c.startswith("cni-br-iface-")]
    assert hostlocal_files(tmp_path) == []
    # forceAddress replaces the conflicting address
    call("bridge", "ADD", {**conf, "forceAddress": True}, host=node, netns=pod.path)
    assert addrs(node.name, brname) == ["192.0.2.1/24"]


def test_bridge_name_taken_by_other_kind(netns_factory, node, tmp_path) -> None:
    pod = netns_factory.make_netns("pod")
    name, _ = netns_factory.make_veth(node, pod)
    with pytest.raises(CNIError) as err:
        call("bridge", "ADD", bridge_conf(name, tmp_path), host=node, netns=pod.path,
             ifname="net1")
    assert "already exists but is not a bridge" in err.value.msg


def test_l2_only_and_mac_precedence(netns_factory, node, brname) -> None:
    pod = netns_factory.make_netns("pod")
    conf = {"cniVersion": "1.0.0", "name": "l2", "type": "bridge", "bridge": brname,
            "args": {"cni": {"mac": "02:00:5e:00:53:02"}},
            "runtimeConfig": {"mac": "02:00:5e:00:53:03"}}
    r = call("bridge", "ADD", conf, host=node, netns=pod.path,
             args="IgnoreUnknown=1;MAC=02:00:5e:00:53:01")
    assert r.interfaces[2].mac == "02:00:5e:00:53:03"
    assert link(pod.name, "eth0")["address"] == "02:00:5e:00:53:03"
    assert "UP" in link(pod.name, "eth0")["flags"] and not r.ips


# -- as the installed executable, with nftables ------------------------------------------------
def test_exec_ipmasq_macspoofchk_and_del_after_netns_gone(netns_factory, node, brname,
                                                           tmp_path, bindir) -> None:
    pod1, pod2 = netns_factory.make_netns("pod"), netns_factory.make_netns("pod")
    conf = bridge_conf(brname, tmp_path, isGateway=True, ipMasq=True, macspoofchk=True)
    rc, r1 = exec_plugin(bindir / "bridge", "ADD", conf, host=node, netns=pod1.path,
                         container_id="c1", path=str(bindir))
    assert rc == 0, r1
    rc, r2 = exec_plugin(bindir / "bridge", "ADD", conf, host=node, netns=pod2.path,
                         container_id="c2", path=str(bindir))
    assert rc == 0, r2
    rules = nft_rules(node.name)
    masq = [r for r in rules if r["table"] == "cni_plugins_masquerade"
            and r["chain"] == "masq_checks"]
    assert len(masq) == 2 and any("id: c1" in r["comment"] for r in masq)
    assert "ip saddr 192.0.2.2 ip daddr != 192.0.2.0/24 masquerade" in \
        run("nft", "list", "table", "inet", "cni_plugins_masquerade", netns=node.name).stdout
    spoof = [r for r in rules if r.get("comment") == "macspoofchk-c1-eth0"]
    assert len(spoof) == 4
    assert ping(pod1.name, "192.0.2.3")
    # a spoofed source MAC is dropped by the bridge
    run("ip", "-n", pod1.name, "neigh", "flush", "all")
    run("ip", "-n", pod2.name, "neigh", "flush", "all")
    run("ip", "-n", pod1.name, "link", "set", "eth0", "address", "02:00:5e:00:53:99")
    assert not ping(pod1.name, "192.0.2.3")
    # CHECK fails now (MAC changed)
    rc, err = exec_plugin(bindir / "bridge", "CHECK", {**conf, "prevResult": r1}, host=node,
                          netns=pod1.path, container_id="c1", path=str(bindir))
    assert rc == 1 and "Mac" in err["msg"]
    # DEL c1 normally: only c1's rules go
    rc, _ = exec_plugin(bindir / "bridge", "DEL", conf, host=node, netns=pod1.path,
                        container_id="c1", path=str(bindir))
    assert rc == 0
    rules = nft_rules(node.name)
    assert not [r for r in rules if r.get("comment", "").endswith(("id: c1", "-c1-eth0"))]
    assert [r for r in rules if "id: c2" in r.get("comment", "")]
    assert not [c for c in nft_chains(node.name) if c.startswith("cni-br-iface-c1-")]
    # pod2's netns disappears before DEL: rules and the IP still go
    run("ip", "netns", "del", pod2.name)
    for _ in range(2):
        rc, out = exec_plugin(bindir / "bridge", "DEL", {**conf, "prevResult": r2}, host=node,
                              netns=pod2.path, container_id="c2", path=str(bindir))
        assert rc == 0, out
    rules = nft_rules(node.name)
    assert not [r for r in rules if r.get("comment", "").endswith(("id: c2", "-c2-eth0"))]
    assert not [c for c in nft_chains(node.name) if c.startswith("cni-br-iface-")]
    assert hostlocal_files(tmp_path) == []


def test_exec_status_and_version(node, brname, tmp_path, bindir) -> None:
    conf = bridge_conf(brname, tmp_path, cniVersion="1.1.0")
    rc, out = exec_plugin(bindir / "bridge", "STATUS", conf, host=node, netns="",
                          path=str(bindir))
    assert rc == 0, out


# -- differential against /usr/lib/cni/bridge ----------------------------------------------------
def _normalise(result: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(result))
    for i, iface in enumerate(out.get("interfaces", [])):
        iface.pop("mac", None)
        if i == 1:
            iface["name"] = "<veth>"
        if iface.get("sandbox"):
            iface["sandbox"] = "<pod>"
    return out


def _pod_view(node: Any, pod: Any, brname: str) -> dict[str, Any]:
    eth0 = link(pod.name, "eth0")
    br = link(node.name, brname)
    return {"eth0_kind": eth0["linkinfo"]["info_kind"], "eth0_mtu": eth0["mtu"],
            "eth0_up": "UP" in eth0["flags"], "eth0_addrs": addrs(pod.name, "eth0"),
            "routes": routes(pod.name), "br_kind": br["linkinfo"]["info_kind"],
            "br_addrs": addrs(node.name, brname), "br_mtu": br["mtu"]}


@pytest.mark.parametrize("extra", [
    {"isGateway": True, "mtu": 1400},
    {"isDefaultGateway": True, "hairpinMode": True},
    {"ipam": None},
])
def test_differential_vs_reference(netns_factory, tmp_path, bindir, extra) -> None:
    views, results = [], []
    for exe, path in ((f"{GO_PLUGINS}/bridge", GO_PLUGINS), (bindir / "bridge", str(bindir))):
        node = netns_factory.make_netns("node")
        pod = netns_factory.make_netns("pod")
        conf = bridge_conf("cnitest0", tmp_path / Path(str(exe)).parent.name, **extra)
        if conf.get("ipam") is None:
            conf.pop("ipam")
        rc, out = exec_plugin(exe, "ADD", conf, host=node, netns=pod.path, path=path)
        assert rc == 0, (exe, out)
        results.append(_normalise(out))
        views.append(_pod_view(node, pod, "cnitest0"))
        rc, out = exec_plugin(exe, "DEL", conf, host=node, netns=pod.path, path=path)
        assert rc == 0, (exe, out)
        assert link(pod.name, "eth0") is None
    assert results[0] == results[1]
    assert views[0] == views[1]


@pytest.mark.parametrize("extra", [
    {"hairpinMode": True, "promiscMode": True},
    {"vlan": 5000},
    {"vlan": -1},
])
def test_differential_errors(netns_factory, tmp_path, bindir, extra) -> None:
    outs = []
    for exe, path in ((f"{GO_PLUGINS}/bridge", GO_PLUGINS), (bindir / "bridge", str(bindir))):
        node = netns_factory.make_netns("node")
        pod = netns_factory.make_netns("pod")
        rc, out = exec_plugin(exe, "ADD", bridge_conf("cnitest0", tmp_path, **extra),
                              host=node, netns=pod.path, path=path)
        assert rc == 1
        # Debian's 1.1.1 ends the hairpin/promisc message with '.'; upstream no longer does
        outs.append((out["code"], out["msg"].rstrip(".")))
        assert link(pod.name, "eth0") is None
    assert outs[0] == outs[1]


def test_vlan_config_errors(node, brname, tmp_path) -> None:
    cases = [
        ({"vlan": 10, "vlanTrunk": [{"id": 20}]}, "cannot set vlan and vlanTrunk at the same time"),
        ({"vlanTrunk": [{"minID": 0, "maxID": 5}]}, "incorrect trunk minID parameter"),
        ({"vlanTrunk": [{"minID": 5}]},
         "minID and maxID should be configured simultaneously, maxID is missing"),
        ({"vlanTrunk": [{"minID": 9, "maxID": 5}]},
         "minID is greater than maxID in trunk parameter"),
        ({"vlanTrunk": [{"id": 4095}]}, "incorrect trunk id parameter"),
    ]
    for extra, msg in cases:
        with pytest.raises(CNIError) as err:
            call("bridge", "ADD", bridge_conf(brname, tmp_path, **extra), host=node,
                 netns="/proc/1/ns/net")
        assert err.value.msg == msg and err.value.code == 999



@pytest.mark.parametrize("name", ["br\0x", "a/b", "sixteen-bytes-xx"])
def test_a_bridge_name_the_kernel_refuses_fails_add_and_not_del(netns_factory, node, name,
                                                                 tmp_path) -> None:
    """Found by the fuzz runs: `"bridge": "b\\u0000r"` was a ValueError, "this is a bug".
    ADD refuses it before anything is made; DEL has nothing to remove and succeeds."""
    pod = netns_factory.make_netns("pod")
    conf = bridge_conf(name, tmp_path)
    with pytest.raises(CNIError) as err:
        call("bridge", "ADD", conf, host=node, netns=pod.path)
    assert err.value.msg.startswith('invalid "bridge": interface name ') and err.value.code == 999
    assert link(pod.name, "eth0") is None and hostlocal_files(tmp_path) == []
    assert call("bridge", "DEL", conf, host=node, netns=pod.path) is None
