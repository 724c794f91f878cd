"""tuning plugin on real namespaces: chained after our bridge, as the installed executable,
and against the reference Go plugin (/usr/lib/cni/tuning) as an oracle.

tuning acts only inside the pod netns; the runtime side runs in a "node" netns so a
wrong namespace would show up there, never on the machine itself.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netattach.cni.errors import CNIError

pytestmark = pytest.mark.root


def _load_bridge_helpers() -> Any:
    path = Path(__file__).with_name("test_plugin_bridge.py")
    spec = importlib.util.spec_from_file_location("_netattach_bridge_test_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


h = _load_bridge_helpers()
bindir = h.bindir  # module-scoped fixture re-exported


def _pod_with_veth(netns_factory: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A node and a pod joined by a veth whose pod end is renamed eth0; its prevResult."""
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    _, b = netns_factory.make_veth(node, pod)
    h.run("ip", "-n", pod.name, "link", "set", b, "name", "eth0")
    mac = h.link(pod.name, "eth0")["address"]
    prev = {"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "mac": mac, "sandbox": pod.path}],
            "ips": [{"interface": 0, "address": "198.51.100.10/24"}]}
    return node, pod, prev


def _tuning_conf(data_dir: Path, prev: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "tun", "type": "tuning",
                            "dataDir": str(data_dir), **extra}
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def _facts(pod: Any) -> dict[str, Any]:
    lk = h.link(pod.name, "eth0")
    return {"mac": lk["address"], "mtu": lk["mtu"], "promisc": "PROMISC" in lk["flags"],
            "allmulti": "ALLMULTI" in lk["flags"], "txqlen": lk.get("txqlen"),
            "arp_ignore": h.run("cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore",
                                netns=pod.name).stdout.strip()}


TUNING = {"mac": "02:00:5e:00:53:21", "mtu": 1280, "promisc": True, "allmulti": True,
          "sysctl": {"net.ipv4.conf.IFNAME.arp_ignore": "1"}}


def test_chained_after_bridge_executable(netns_factory, tmp_path, bindir) -> None:
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    br = netns_factory.link_name("br")
    bconf = h.bridge_conf(br, tmp_path / "hl")
    first = h.call("bridge", "ADD", bconf, host=node, netns=pod.path).to_json("1.0.0")
    node_before = h.run("cat", "/proc/sys/net/ipv4/conf/all/arp_ignore",
                        netns=node.name).stdout
    conf = _tuning_conf(tmp_path / "tun", first, **TUNING)
    rc, out = h.exec_plugin(bindir / "tuning", "ADD", conf, host=node, netns=pod.path,
                            path=str(bindir))
    assert rc == 0, out
    assert out["interfaces"][2]["mac"] == "02:00:5e:00:53:21"
    assert out["ips"] == first["ips"]
    f = _facts(pod)
    assert (f["mac"], f["mtu"], f["promisc"], f["allmulti"], f["arp_ignore"]) == \
        ("02:00:5e:00:53:21", 1280, True, True, "1")
    # only the pod's sysctl changed
    assert h.run("cat", "/proc/sys/net/ipv4/conf/all/arp_ignore",
                 netns=node.name).stdout == node_before
    assert (tmp_path / "tun" / "ctr1_eth0.json").exists()
    rc, out = h.exec_plugin(bindir / "tuning", "CHECK", {**conf, "prevResult": out},
                            host=node, netns=pod.path, path=str(bindir))
    assert rc == 0, out
    rc, _ = h.exec_plugin(bindir / "tuning", "DEL", conf, host=node, netns=pod.path,
                          path=str(bindir))
    assert rc == 0
    f = _facts(pod)
    assert (f["mac"], f["mtu"], f["promisc"], f["allmulti"]) == \
        (first["interfaces"][2]["mac"], 1500, False, False)
    assert not (tmp_path / "tun" / "ctr1_eth0.json").exists()


def test_differential_vs_reference(netns_factory, tmp_path, bindir) -> None:
    seen = []
    for exe, tag in ((f"{h.GO_PLUGINS}/tuning", "go"), (bindir / "tuning", "ours")):
        node, pod, prev = _pod_with_veth(netns_factory)
        original = _facts(pod)
        # the Go CHECK does not substitute IFNAME (ours does): spell the name out here
        conf = _tuning_conf(tmp_path / tag, prev,
                            **{**TUNING, "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}})
        rc, out = h.exec_plugin(exe, "ADD", conf, host=node, netns=pod.path)
        assert rc == 0, (tag, out)
        applied = _facts(pod)
        rc, check = h.exec_plugin(exe, "CHECK", {**conf, "prevResult": out}, host=node,
                                  netns=pod.path)
        assert rc == 0, (tag, check)
        backup = json.loads((tmp_path / tag / "ctr1_eth0.json").read_text())
        rc, _ = h.exec_plugin(exe, "DEL", conf, host=node, netns=pod.path)
        assert rc == 0
        restored = _facts(pod)
        assert {k: v for k, v in restored.items() if k != "arp_ignore"} == \
            {k: v for k, v in original.items() if k != "arp_ignore"}
        out["interfaces"][0]["sandbox"] = "<pod>"
        seen.append((out, {k: v for k, v in applied.items() if k != "txqlen"},
                     sorted(backup)))
    go, ours = seen
    assert go[0] == ours[0]
    assert go[1] == ours[1]
    assert set(go[2]) <= set(ours[2])


@pytest.mark.parametrize(("extra", "msg"), [
    ({"sysctl": {"kernel.hostname": "x"}}, "invalid net sysctl key"),
    ({"sysctl": {"net/../kernel/hostname": "x"}}, "invalid net sysctl key"),
])
def test_bad_sysctl_keys(netns_factory, tmp_path, extra, msg) -> None:
    node, pod, prev = _pod_with_veth(netns_factory)
    with pytest.raises(CNIError) as err:
        h.call("tuning", "ADD", _tuning_conf(tmp_path, prev, **extra), host=node,
               netns=pod.path)
    assert msg in err.value.msg


def test_prev_result_required_and_duplicates(netns_factory, tmp_path, bindir) -> None:
    node, pod, prev = _pod_with_veth(netns_factory)
    with pytest.raises(CNIError) as err:
        h.call("tuning", "ADD", _tuning_conf(tmp_path, None), host=node, netns=pod.path)
    assert err.value.msg == "Required prevResult missing"
    raw = ('{"cniVersion":"1.0.0","name":"t","type":"tuning","prevResult":'
           + json.dumps(prev) + ',"sysctl":{"net.ipv4.conf.IFNAME.arp_ignore":"1",'
           '"net.ipv4.conf.IFNAME.arp_ignore":"2"}}')
    # (Debian's 1.1.1 Go tuning predates the duplicate check: ours only)
    for exe in (bindir / "tuning",):
        proc = subprocess.run(["ip", "netns", "exec", node.name, str(exe)], input=raw.encode(),
                              env=h.cni_env("ADD", pod.path), capture_output=True, check=False)
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["msg"] == "duplicated sysctl keys are not allowed"


def test_mac_precedence_and_del_always_succeeds(netns_factory, tmp_path) -> None:
    node, pod, prev = _pod_with_veth(netns_factory)
    conf = _tuning_conf(tmp_path, prev, mac="02:00:5e:00:53:31",
                        runtimeConfig={"mac": "02:00:5e:00:53:33"},
                        args={"cni": {"mac": "02:00:5e:00:53:34"}})
    r = h.call("tuning", "ADD", conf, host=node, netns=pod.path,
               args="IgnoreUnknown=1;MAC=02:00:5e:00:53:32")
    assert r.interfaces[0].mac == "02:00:5e:00:53:34"
    h.run("ip", "netns", "del", pod.name)
    h.call("tuning", "DEL", conf, host=node, netns=pod.path)
    h.call("tuning", "DEL", conf, host=node, netns="")
    h.call("tuning", "DEL", {"cniVersion": "1.0.0", "name": "t", "type": "tuning",
                             "mtu": "bad"}, host=node, netns=pod.path)


def test_lo_and_gone_netns_leave_no_backup_after_del(netns_factory, tmp_path, bindir) -> None:
    """CNI_IFNAME=lo: its MTU is restored and the backup goes on DEL; its all-zero MAC could
    never be put back, so a "mac" for lo is refused before anything changes. The backup
    also goes when the pod netns is gone or DEL comes without CNI_NETNS."""
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "lo", "sandbox": pod.path}]}
    data = tmp_path / "tun"
    conf = _tuning_conf(data, prev, mac="02:00:5e:00:53:41", mtu=1280,
                        sysctl={"net.ipv4.conf.IFNAME.arp_ignore": "1"})
    rc, out = h.exec_plugin(bindir / "tuning", "ADD", conf, host=node, netns=pod.path,
                            ifname="lo")
    assert rc == 1 and out["msg"] == ('failed to set MAC of "lo": it has no MAC address of '
                                      "its own (00:00:00:00:00:00), which DEL could never put "
                                      "back"), out
    lo = h.link(pod.name, "lo")
    assert (lo["address"], lo["mtu"]) == ("00:00:00:00:00:00", 65536)
    assert h.run("cat", "/proc/sys/net/ipv4/conf/lo/arp_ignore", netns=pod.name).stdout == "0\n"
    assert not data.exists() or list(data.iterdir()) == []

    conf = _tuning_conf(data, prev, mtu=1280)
    rc, out = h.exec_plugin(bindir / "tuning", "ADD", conf, host=node, netns=pod.path,
                            ifname="lo")
    assert rc == 0, out
    assert h.link(pod.name, "lo")["mtu"] == 1280
    assert [p.name for p in data.iterdir()] == ["ctr1_lo.json"]
    rc, out = h.exec_plugin(bindir / "tuning", "DEL", conf, host=node, netns=pod.path,
                            ifname="lo")
    assert (rc, out) == (0, None)
    assert h.link(pod.name, "lo")["mtu"] == 65536
    assert list(data.iterdir()) == []

    for gone in ("no CNI_NETNS", "netns deleted"):
        conf = _tuning_conf(data, prev, mtu=1300)
        rc, out = h.exec_plugin(bindir / "tuning", "ADD", conf, host=node, netns=pod.path,
                                ifname="lo", container_id="c2")
        assert rc == 0, out
        assert [p.name for p in data.iterdir()] == ["c2_lo.json"]
        netns = ""
        if gone == "netns deleted":
            h.run("ip", "netns", "del", pod.name)
            netns = pod.path
        rc, out = h.exec_plugin(bindir / "tuning", "DEL", {**conf, "mtu": "not a number"},
                                host=node, netns=netns, ifname="lo", container_id="c2")
        assert (rc, out) == (0, None), gone
        assert list(data.iterdir()) == [], gone


def test_a_repeated_add_keeps_the_original_values_for_del(netns_factory, tmp_path,
                                                          bindir) -> None:
    """Found by tests/fuzz: ADD, ADD, DEL left txqueuelen at the tuned value, because the
    second ADD saved the first ADD's values as the backup."""
    node, pod, prev = _pod_with_veth(netns_factory)
    before = _facts(pod)
    first = _tuning_conf(tmp_path, prev, txQLen=100)
    second = _tuning_conf(tmp_path, prev, txQLen=200, mtu=1300)
    for conf in (first, second):
        rc, out = h.exec_plugin(bindir / "tuning", "ADD", conf, host=node, netns=pod.path)
        assert rc == 0, out
    assert (_facts(pod)["txqlen"], _facts(pod)["mtu"]) == (200, 1300)
    rc, out = h.exec_plugin(bindir / "tuning", "DEL", second, host=node, netns=pod.path)
    assert (rc, out) == (0, None)
    after = _facts(pod)
    assert (after["txqlen"], after["mtu"]) == (before["txqlen"], before["mtu"])
    assert list(tmp_path.iterdir()) == []
