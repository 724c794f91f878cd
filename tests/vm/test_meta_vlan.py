"""The field report, exactly, through the installed `netattach` executable (needs 802.1Q).

Two NADs `vlan100-conf` / `vlan200-conf` of `"type": "vlan"` on the node's two trunk NICs,
static IPAM, and the pod's JSON annotation asking for 192.0.2.211/24 and 198.51.100.211/24.
A "switch" namespace carries VLAN 100 and 200 on the trunks, with the peers 192.0.2.200/24
and 198.51.100.200/24. Runs in the guest: `python -m netattach.guest run -- ... tests/vm`.
One test only, because Python is ~20x slower in the guest.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.e2e.conftest import e2e, e2e_bindir, netns_prefix  # noqa: F401 (fixtures)

pytestmark = pytest.mark.root

FIELD_REPORT = [{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]},
                {"name": "vlan200-conf", "ips": ["198.51.100.211/24"]}]


def _switch_vlan(e2e, trunk: str, vlan: int, peer: str) -> None:  # noqa: F811
    sub = f"{trunk}.{vlan}"
    ns = e2e.switch.name
    for cmd in (["link", "add", "link", trunk, "name", sub, "type", "vlan", "id", str(vlan)],
                ["addr", "add", peer, "dev", sub], ["link", "set", sub, "up"]):
        subprocess.run(["ip", "-n", ns, *cmd], check=True, capture_output=True)


def _ping(e2e, pod, address: str) -> subprocess.CompletedProcess:  # noqa: F811
    return subprocess.run(["ip", "netns", "exec", pod.netns.name, "ping", "-c", "1", "-W", "5",
                           address], capture_output=True, text=True)


def test_field_report_vlan_pod_reaches_both_vlans(e2e):  # noqa: F811
    _switch_vlan(e2e, "trunk1", 100, "192.0.2.200/24")
    _switch_vlan(e2e, "trunk2", 200, "198.51.100.200/24")
    for name, nic, vlan in (("vlan100-conf", "nic1", 100), ("vlan200-conf", "nic2", 200)):
        e2e.add_nad(name, {"cniVersion": "0.3.1", "name": name, "type": "vlan",
                           "master": nic, "vlanId": vlan, "ipam": {"type": "static"}})
    pod = e2e.sandbox("vlan-multi", networks=json.dumps(FIELD_REPORT))

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 0, (out, e2e.last_stderr)
    assert e2e.links(pod.netns) == {"lo", "eth0", "net1", "net2"}
    assert e2e.addresses(pod.netns, "net1") == ["192.0.2.211/24"]
    assert e2e.addresses(pod.netns, "net2") == ["198.51.100.211/24"]
    for address in ("192.0.2.200", "198.51.100.200"):
        ping = _ping(e2e, pod, address)
        assert ping.returncode == 0, (address, ping.stdout, ping.stderr)
    [eth0_ip] = e2e.addresses(pod.netns, "eth0")
    assert e2e.network_status(pod) == [
        {"name": "e2e-cluster", "interface": "eth0", "ips": [eth0_ip.split("/")[0]],
         "mac": e2e.mac(pod.netns, "eth0"), "default": True, "dns": {}},
        {"name": "default/vlan100-conf", "interface": "net1", "ips": ["192.0.2.211"],
         "mac": e2e.mac(pod.netns, "net1"), "dns": {}},
        {"name": "default/vlan200-conf", "interface": "net2", "ips": ["198.51.100.211"],
         "mac": e2e.mac(pod.netns, "net2"), "dns": {}},
    ]

    rc, out = e2e.run_cni("DEL", pod)
    assert (rc, out) == (0, None), e2e.last_stderr
    e2e.assert_nothing_left(pod)
    # the VLAN links went with the pod; the trunks stay
    assert e2e.links(e2e.node) == {"lo", "nic1", "nic2"}
