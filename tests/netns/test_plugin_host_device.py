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
