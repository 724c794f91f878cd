"""bridge plugin vlan / vlanTrunk / preserveDefaultVlan on a vlan_filtering bridge.

Needs CONFIG_BRIDGE_VLAN_FILTERING: runs in the KVM guest (`python -m netattach.guest run --
.venv/bin/python -m pytest -q tests/vm/test_plugin_bridge_vlan.py`).
Checked with `bridge -j vlan show` inside the node netns.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.netns import test_plugin_bridge as h

pytestmark = pytest.mark.root


def port_vlans(node: str, port: str) -> dict[int, set[str]]:
    out = subprocess.run(["bridge", "-n", node, "-j", "vlan", "show", "dev", port],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out) if out.strip() else []
    vlans: dict[int, set[str]] = {}
    for entry in data:
        if entry.get("ifname") != port:
            continue
        for v in entry.get("vlans", []):
            lo, hi = v["vlan"], v.get("vlanEnd", v["vlan"])
            for vid in range(lo, hi + 1):
                vlans[vid] = set(v.get("flags", []))
    return vlans


def _add(factory: Any, tmp_path: Path, **extra: Any) -> tuple[Any, str, Any]:
    node, pod = factory.make_netns("node"), factory.make_netns("pod")
    br = "cnivl0"  # short: "<bridge>.<vlan>" must fit in 15 bytes (a fresh netns each time)
    conf = h.bridge_conf(br, tmp_path, **extra)
    result = h.call("bridge", "ADD", conf, host=node, netns=pod.path)
    return node, br, result


def test_access_vlan_keeps_default_vlan(factory, tmp_path) -> None:
    node, br, r = _add(factory, tmp_path, vlan=100)
    assert h.link(node.name, br)["linkinfo"]["info_data"]["vlan_filtering"] == 1
    vlans = port_vlans(node.name, r.interfaces[1].name)
    assert vlans[100] == {"PVID", "Egress Untagged"}
    assert 1 in vlans and "PVID" not in vlans[1]


def test_access_vlan_without_default(factory, tmp_path) -> None:
    node, _, r = _add(factory, tmp_path, vlan=100, preserveDefaultVlan=False)
    assert port_vlans(node.name, r.interfaces[1].name) == {100: {"PVID", "Egress Untagged"}}


def test_trunk(factory, tmp_path) -> None:
    node, _, r = _add(factory, tmp_path, vlanTrunk=[{"minID": 10, "maxID": 12}, {"id": 20}])
    vlans = port_vlans(node.name, r.interfaces[1].name)
    assert {10, 11, 12, 20} <= set(vlans) and all(not vlans[v] for v in (10, 11, 12, 20))
    assert vlans[1] == {"PVID", "Egress Untagged"}
    node, _, r = _add(factory, tmp_path / "b", vlanTrunk=[{"id": 30}],
                      preserveDefaultVlan=False)
    assert port_vlans(node.name, r.interfaces[1].name) == {30: set()}


def test_vlan_gateway_interface(factory, tmp_path) -> None:
    node, br, r = _add(factory, tmp_path, vlan=100, isGateway=True)
    gw_name = f"{br}.100"
    assert len(gw_name) <= 15
    assert [i.name for i in r.interfaces][-1] == gw_name and len(r.interfaces) == 4
    assert r.ips[0].interface == 2
    assert h.addrs(node.name, gw_name) == ["192.0.2.1/24"]
    assert h.addrs(node.name, br) == []
    gw_peer = [lk for lk in h.ip_j(node.name, "link", "show")
               if lk.get("master") == br and lk["ifname"] != r.interfaces[1].name]
    assert len(gw_peer) == 1
    assert port_vlans(node.name, gw_peer[0]["ifname"])[100] == {"PVID", "Egress Untagged"}
