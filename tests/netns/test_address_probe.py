"""The plugin-side probe (plugins.address_probe) on a fresh pod interface, as a plugin calls
it from configure_iface: before any address is on the link, with the link as it was left."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from netattach.cni.errors import CNIError
from netattach.cni.types import Interface, IPConfig, Result
from netattach.linux import netlink_session
from netattach.plugins.address_probe import OFF, ProbeSettings, probe_before_configure

pytestmark = pytest.mark.root

QUICK = ProbeSettings(True, probes=2, timeout_ms=100)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def lab(netns_factory, ip_json):
    """A pod namespace whose new interface (down, no address) is a veth to a host holding
    192.0.2.2/24 and 2001:db8::2/64; returns (pod, ifname, the holder's MAC, ip_json)."""
    pod = netns_factory.make_netns("pod")
    other = netns_factory.make_netns("other")
    mine, theirs = netns_factory.make_veth(pod, other, up=False)
    ip("-n", other.name, "link", "set", theirs, "up")
    ip("-n", other.name, "addr", "add", "192.0.2.2/24", "dev", theirs)
    ip("-n", other.name, "addr", "add", "2001:db8::2/64", "dev", theirs, "nodad")
    [link] = ip_json("link", "show", "dev", theirs, netns=other.name)
    return pod, mine, link["address"], ip_json


def result(ifname: str, *addresses: str) -> Result:
    return Result(interfaces=(Interface(ifname),),
                  ips=tuple(IPConfig(ipaddress.ip_interface(a), interface=0)
                            for a in addresses))


def state(ip_json, pod, ifname: str) -> tuple[bool, list[str]]:
    [link] = ip_json("addr", "show", "dev", ifname, netns=pod.name)
    return "UP" in link["flags"], [a["local"] for a in link["addr_info"]
                                   if a["family"] == "inet" or a["scope"] == "global"]


@pytest.mark.parametrize("address", ["192.0.2.2/24", "2001:db8::2/64"])
def test_an_address_in_use_fails_naming_address_interface_and_mac(lab, address) -> None:
    pod, ifname, mac, ip_json = lab
    with netlink_session(pod.path) as nl, pytest.raises(CNIError) as e:
        probe_before_configure(nl, ifname, result(ifname, "192.0.2.9/24", address), QUICK)
    assert e.value.code == 999
    assert e.value.msg.startswith(f"address {address} for {ifname} is already in use: {mac} "
                                  "answered ")
    assert "give this pod another address" in e.value.details and mac in e.value.details
    assert state(ip_json, pod, ifname) == (False, [])  # down again, nothing configured


def test_free_addresses_pass_and_the_link_is_left_as_it_was(lab) -> None:
    pod, ifname, _mac, ip_json = lab
    with netlink_session(pod.path) as nl:
        probe_before_configure(nl, ifname, result(ifname, "192.0.2.9/24", "2001:db8::9/64"),
                               QUICK)
        assert state(ip_json, pod, ifname) == (False, [])
        nl.set_up(ifname)
        probe_before_configure(nl, ifname, result(ifname, "192.0.2.9/24"), QUICK)
    assert state(ip_json, pod, ifname) == (True, [])


def test_off_by_default_and_other_interfaces_untouched(lab) -> None:
    pod, ifname, _mac, ip_json = lab
    with netlink_session(pod.path) as nl:
        probe_before_configure(nl, ifname, result(ifname, "192.0.2.2/24"), OFF)
        # an address of another interface of the result is not probed here
        other = Result(interfaces=(Interface("eth9"), Interface(ifname)),
                       ips=(IPConfig(ipaddress.ip_interface("192.0.2.2/24"), interface=0),))
        probe_before_configure(nl, ifname, other, QUICK)
    assert state(ip_json, pod, ifname) == (False, [])


def test_configure_iface_after_the_probe_configures_as_before(lab) -> None:
    """The order configure_iface will use: probe, then addresses, then link up."""
    from netattach.plugins.addressing import configure_iface

    pod, ifname, _mac, ip_json = lab
    res = result(ifname, "192.0.2.9/24")
    with netlink_session(pod.path) as nl:
        probe_before_configure(nl, ifname, res, QUICK)
        configure_iface(nl, ifname, res)
    assert state(ip_json, pod, ifname) == (True, ["192.0.2.9"])
