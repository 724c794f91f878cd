"""host-device plugin on real namespaces. The "host" is a node netns; the device is a
veth end the test creates there (never a real device of the machine).

What the kernel does when a pod netns dies with the device inside: a physical device
returns to the initial netns, but a veth is destroyed together with its peer. So DEL
after the netns is gone has nothing to move back and must simply succeed.
"""

from __future__ import annotations

import importlib.util
import sys
import time
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
bindir = h.bindir


def _setup(netns_factory: Any) -> tuple[Any, Any, str, str]:
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    dev = netns_factory.link_name("hd")
    peer = netns_factory.link_name("hp")
    h.run("ip", "-n", node.name, "link", "add", dev, "type", "veth", "peer", "name", peer)
    h.run("ip", "-n", node.name, "link", "set", dev, "up")
    return node, pod, dev, peer


def _conf(**extra: Any) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "hdnet", "type": "host-device", **extra}


STATIC = {"type": "static", "addresses": [{"address": "203.0.113.5/24"}],
          "routes": [{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}]}


def test_move_in_and_out_with_static_ipam(netns_factory) -> None:
    node, pod, dev, _ = _setup(netns_factory)
    mac = h.link(node.name, dev)["address"]
    conf = _conf(device=dev, ipam=STATIC)
    r = h.call("host-device", "ADD", conf, host=node, netns=pod.path, ifname="net1")
    j = r.to_json("1.0.0")
    assert j["interfaces"] == [{"name": "net1", "mac": mac, "sandbox": pod.path}]
    assert j["ips"] == [{"interface": 0, "address": "203.0.113.5/24"}]
    assert h.link(node.name, dev) is None
    net1 = h.link(pod.name, "net1")
    assert net1["ifalias"] == dev and "UP" in net1["flags"]
    assert h.addrs(pod.name, "net1") == ["203.0.113.5/24"]
    assert ("198.51.100.0/24", "203.0.113.1", "net1") in h.routes(pod.name)
    h.call("host-device", "CHECK", {**conf, "prevResult": j}, host=node, netns=pod.path,
           ifname="net1")
    h.call("host-device", "DEL", conf, host=node, netns=pod.path, ifname="net1")
    back = h.link(node.name, dev)
    assert back is not None and back["address"] == mac and not back.get("ifalias")
    assert h.link(pod.name, "net1") is None
    # already gone from the pod: DEL succeeds and touches nothing
    h.call("host-device", "DEL", conf, host=node, netns=pod.path, ifname="net1")
    assert h.link(node.name, dev) is not None


def test_l2_by_hwaddr_executable(netns_factory, bindir) -> None:
    node, pod, dev, _ = _setup(netns_factory)
    mac = h.link(node.name, dev)["address"]
    conf = _conf(hwaddr=mac.upper())
    rc, out = h.exec_plugin(bindir / "host-device", "ADD", conf, host=node, netns=pod.path,
                            ifname="net1", path=str(bindir))
    assert rc == 0, out
    assert out["interfaces"][0]["name"] == "net1" and "ips" not in out
    rc, out = h.exec_plugin(bindir / "host-device", "DEL", conf, host=node, netns=pod.path,
                            ifname="net1", path=str(bindir))
    assert rc == 0, out
    assert h.link(node.name, dev) is not None


def test_del_after_netns_gone_veth_is_destroyed(netns_factory) -> None:
    node, pod, dev, peer = _setup(netns_factory)
    conf = _conf(device=dev)
    h.call("host-device", "ADD", conf, host=node, netns=pod.path, ifname="net1")
    h.run("ip", "netns", "del", pod.name)
    # the kernel destroys a veth (and its peer) with its namespace; it never comes back
    deadline = time.monotonic() + 5
    while h.link(node.name, peer) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert h.link(node.name, peer) is None and h.link(node.name, dev) is None
    for _ in range(2):
        h.call("host-device", "DEL", conf, host=node, netns=pod.path, ifname="net1")


def test_failed_add_moves_device_back(netns_factory) -> None:
    node, pod, dev, _ = _setup(netns_factory)
    bad = {"type": "static", "addresses": [{"address": "203.0.113.5/24"}],
           "routes": [{"dst": "198.51.100.0/24", "gw": "192.0.2.1"}]}  # unreachable gw
    with pytest.raises(CNIError):
        h.call("host-device", "ADD", _conf(device=dev, ipam=bad), host=node, netns=pod.path,
               ifname="net1")
    back = h.link(node.name, dev)
    assert back is not None and not back.get("ifalias") and "UP" in back["flags"]
    assert h.link(pod.name, "net1") is None


@pytest.mark.parametrize("extra", [{}, {"device": "x", "hwaddr": "02:00:5e:00:53:01"}])
def test_pick_exactly_one(netns_factory, extra) -> None:
    node, pod, _, _ = _setup(netns_factory)
    with pytest.raises(CNIError) as err:
        h.call("host-device", "ADD", _conf(**extra), host=node, netns=pod.path, ifname="net1")
    assert err.value.msg == 'specify either "device", "hwaddr", "kernelpath" or "pciBusID"'


def test_missing_device_and_unknown_device_id(netns_factory) -> None:
    node, pod, _, _ = _setup(netns_factory)
    with pytest.raises(CNIError) as err:
        h.call("host-device", "ADD", _conf(device="natst-nosuch"), host=node, netns=pod.path,
               ifname="net1")
    assert "failed to find host device" in err.value.msg
    with pytest.raises(CNIError) as err:
        h.call("host-device", "ADD", _conf(runtimeConfig={"deviceID": "0000:ff:1f.7"}),
               host=node, netns=pod.path, ifname="net1")
    assert err.value.msg == "runtime config DeviceID 0000:ff:1f.7 not found or unsupported"


def _node_with_default_route(netns_factory: Any, family: int) -> tuple[Any, Any, str]:
    """A node whose default route goes out through a veth `ens1` (to a "gw" namespace)."""
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    gw = netns_factory.make_netns("gw")
    a, b = netns_factory.make_veth(node, gw)
    h.run("ip", "-n", node.name, "link", "set", a, "down")
    h.run("ip", "-n", node.name, "link", "set", a, "name", "ens1")  # sorts before "lo"
    h.run("ip", "-n", node.name, "link", "set", "ens1", "up")
    if family == 4:
        h.run("ip", "-n", gw.name, "addr", "add", "192.0.2.1/24", "dev", b)
        h.run("ip", "-n", node.name, "addr", "add", "192.0.2.2/24", "dev", "ens1")
        h.run("ip", "-n", node.name, "route", "add", "default", "via", "192.0.2.1")
    else:
        h.run("ip", "-n", node.name, "addr", "add", "2001:db8::2/64", "dev", "ens1", "nodad")
        h.run("ip", "-n", node.name, "-6", "route", "add", "default", "dev", "ens1")
    return node, pod, "ens1"


def _default_routes(node: Any) -> list[str]:
    return [f"{r.get('dst')} {r.get('dev')}" for fam in ("-4", "-6")
            for r in h.ip_j(node.name, fam, "route", "show", "default")]


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("pick", ["device", "hwaddr", "kernelpath", "pciBusID"])
def test_default_route_nic_is_refused_however_it_is_named(netns_factory, bindir, tmp_path,
                                                          monkeypatch, family, pick) -> None:
    """Resolve first, then refuse: the NIC stays in the node with its default route."""
    node, pod, nic = _node_with_default_route(netns_factory, family)
    routes = _default_routes(node)
    assert routes == [f"default {nic}"]
    mac = h.link(node.name, nic)["address"]
    value = {"device": nic, "hwaddr": mac.upper(), "kernelpath": "/sys/devices/virtual",
             "pciBusID": "0000:00:1f.6"}[pick]
    conf = _conf(**{pick: value}, ipam=STATIC)
    if pick == "kernelpath":
        # the executable under `ip netns exec`: /sys is the node's, whose virtual devices
        # are [ens1, lo, ...]; the first one present is the one host-device takes
        rc, out = h.exec_plugin(bindir / "host-device", "ADD", conf, host=node,
                                netns=pod.path, ifname="net1", path=str(bindir))
        assert rc == 1, out
        code, msg, details = out["code"], out["msg"], out["details"]
    else:
        if pick == "pciBusID":  # a PCI device whose netdev is the veth (fake sysfs tree)
            import netattach.plugins.host_device as hd

            (tmp_path / "pci" / value / "net" / nic).mkdir(parents=True)
            monkeypatch.setattr(hd, "SYS_PCI", str(tmp_path / "pci"))
        with pytest.raises(CNIError) as err:
            h.call("host-device", "ADD", conf, host=node, netns=pod.path, ifname="net1")
        code, msg, details = err.value.code, err.value.msg, err.value.details
    assert code == 7
    assert f'"{pick}": "{value if pick != "hwaddr" else mac}"' in msg, msg
    assert f"is {nic}, the interface of this node's IPv{family} default route" in msg
    assert '"allowDefaultRouteInterface": true' in details
    assert h.link(node.name, nic) is not None and h.link(pod.name, "net1") is None
    assert _default_routes(node) == routes


def test_default_route_nic_when_allowed(netns_factory) -> None:
    node, pod, nic = _node_with_default_route(netns_factory, 4)
    conf = _conf(hwaddr=h.link(node.name, nic)["address"], allowDefaultRouteInterface=True)
    h.call("host-device", "ADD", conf, host=node, netns=pod.path, ifname="net1")
    assert h.link(node.name, nic) is None and h.link(pod.name, "net1") is not None
    h.call("host-device", "DEL", conf, host=node, netns=pod.path, ifname="net1")
    assert h.link(node.name, nic) is not None
