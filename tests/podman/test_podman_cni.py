"""netattach's plugins under podman's CNI backend: a real libcni client end to end.

Every container is on two networks: a bridge with host-local addresses and tuning chained
after it (eth0), and a macvlan on the node's NIC with a static address (eth1). What the
container sees, what `podman inspect` says and what is left on the node are checked
against each other.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
from tests.podman.harness import Podman

SUBNET = "198.51.100.0/24"
GATEWAY = "198.51.100.1"
MACVLAN_IPS = {"a": "192.0.2.51/24", "b": "192.0.2.52/24"}
TUNED_MTU = 1400


def bridge_network(pm: Podman) -> str:
    return pm.network("br", {
        "type": "bridge", "bridge": f"{pm.prefix}br0", "isGateway": True,
        "ipam": {"type": "host-local", "dataDir": str(pm.ipam_dir),
                 "ranges": [[{"subnet": SUBNET, "gateway": GATEWAY}]],
                 "routes": [{"dst": "0.0.0.0/0"}]},
    }, {"type": "tuning", "mtu": TUNED_MTU,
        "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}})


def macvlan_network(pm: Podman, name: str, address: str, master: str | None = None) -> str:
    return pm.network(name, {"type": "macvlan", "master": master or pm.nic, "mode": "bridge",
                             "ipam": {"type": "static", "addresses": [{"address": address}]}})


def addresses(pm: Podman, container: str) -> dict[str, list[str]]:
    """ifname -> IPv4 addresses, as the container's own `ip` prints them."""
    out = pm.exec(container, "ip", "-o", "-4", "addr", "show").stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = re.match(r"\d+:\s+(\S+)\s+inet\s+(\S+)", line)
        if m and m.group(1) != "lo":
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


def link_line(pm: Podman, container: str, ifname: str) -> str:
    return pm.exec(container, "ip", "-o", "link", "show", ifname).stdout


def mac_of(pm: Podman, container: str, ifname: str) -> str:
    m = re.search(r"link/ether (\S+)", link_line(pm, container, ifname))
    assert m, link_line(pm, container, ifname)
    return m.group(1)


def networks_of(pm: Podman, container: str) -> dict[str, Any]:
    return pm.inspect(container)["NetworkSettings"]["Networks"]


def ping(pm: Podman, container: str, address: str) -> None:
    proc = pm.exec(container, "ping", "-c", "2", "-W", "2", address, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0% packet loss" in proc.stdout, proc.stdout


@pytest.fixture
def two_containers(podman: Podman) -> tuple[Podman, str, str, str]:
    br = bridge_network(podman)
    a = podman.start("a", br, macvlan_network(podman, "mva", MACVLAN_IPS["a"]))
    b = podman.start("b", br, macvlan_network(podman, "mvb", MACVLAN_IPS["b"]))
    return podman, br, a, b


def test_two_networks_inside_the_container_and_in_inspect(two_containers) -> None:
    pm, br, a, b = two_containers
    for container, mv_key in ((a, "mva"), (b, "mvb")):
        seen = addresses(pm, container)
        assert sorted(seen) == ["eth0", "eth1"], seen
        [eth0] = seen["eth0"]
        assert ipaddress.ip_interface(eth0) in ipaddress.ip_network(SUBNET)
        assert seen["eth1"] == [MACVLAN_IPS[mv_key[-1]]]
        routes = pm.exec(container, "ip", "route").stdout
        assert f"default via {GATEWAY} dev eth0" in routes, routes
        assert "192.0.2.0/24 dev eth1" in routes, routes
        # tuning ran as the second plugin of the bridge network
        assert f"mtu {TUNED_MTU}" in link_line(pm, container, "eth0")
        assert pm.exec(container, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"
                       ).stdout.strip() == "1"
        assert "macvlan" not in link_line(pm, container, "eth0")
        # podman's view, from the results our plugins returned, matches the container's
        nets = networks_of(pm, container)
        assert sorted(nets) == sorted([br, f"{pm.prefix}{mv_key}"])
        assert f"{nets[br]['IPAddress']}/{nets[br]['IPPrefixLen']}" == eth0
        assert nets[br]["Gateway"] == GATEWAY
        assert nets[br]["MacAddress"] == mac_of(pm, container, "eth0")
        mv = nets[f"{pm.prefix}{mv_key}"]
        assert f"{mv['IPAddress']}/{mv['IPPrefixLen']}" == MACVLAN_IPS[mv_key[-1]]
        assert mv["MacAddress"] == mac_of(pm, container, "eth1")
    # host-local's store and libcni's cache hold exactly the four attachments
    assert len([x for x in pm.allocations() if x.startswith(f"{br}/")]) == 2
    assert len(pm.cached_results()) == 4


def test_ping_between_containers_on_the_bridge_and_on_macvlan(two_containers) -> None:
    pm, br, a, b = two_containers
    b_bridge = addresses(pm, b)["eth0"][0].split("/")[0]
    ping(pm, a, b_bridge)
    ping(pm, a, GATEWAY)  # the bridge's own address on the node
    ping(pm, b, MACVLAN_IPS["a"].split("/")[0])


def test_stop_releases_and_start_retakes_the_addresses(two_containers) -> None:
    pm, br, a, b = two_containers
    before = networks_of(pm, a)[br]["IPAddress"]
    pm.run("stop", "--time", "0", a)
    held = [x for x in pm.allocations() if x.startswith(f"{br}/")]
    assert held == [f"{br}/{networks_of(pm, b)[br]['IPAddress']}"]  # only b's is left
    assert not [r for r in pm.cached_results() if a_id(pm, a) in r]
    assert len(pm.container_netns()) == 1

    pm.run("start", a)
    seen = addresses(pm, a)
    after = networks_of(pm, a)[br]
    assert seen["eth0"] == [f"{after['IPAddress']}/{after['IPPrefixLen']}"]
    assert seen["eth1"] == [MACVLAN_IPS["a"]]
    assert f"{br}/{after['IPAddress']}" in pm.allocations()
    assert after["IPAddress"] != before  # host-local hands out the next free address
    ping(pm, a, addresses(pm, b)["eth0"][0].split("/")[0])


def a_id(pm: Podman, container: str) -> str:
    return str(pm.inspect(container)["Id"])


def test_missing_master_fails_cleanly(podman: Podman) -> None:
    pm = podman
    br = bridge_network(pm)
    gone = f"{pm.prefix}gone"
    bad = macvlan_network(pm, "bad", "192.0.2.60/24", master=gone)
    links_before = pm.node_links()

    proc = pm.run(*pm.run_args("bad", br, bad), check=False)

    assert proc.returncode != 0
    # what podman shows the user: our message with the culprit and the fix, once
    assert f'failed to lookup master "{gone}": Link not found' in proc.stderr, proc.stderr
    assert proc.stderr.count("fix \"master\" in the network config") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    # podman tore the bridge attachment down again: nothing is left
    assert pm.allocations() == []
    assert pm.cached_results() == []
    assert pm.container_netns() == []
    # no veth is left; the bridge device stays if podman set up the bridge network before
    # the bad one (its order is Go's map order: random), as the reference bridge plugin
    # never deletes the bridge on DEL
    assert set(pm.node_links()) - set(links_before) <= {f"{pm.prefix}br0"}, pm.node_links()


def test_rm_leaves_nothing(two_containers) -> None:
    pm, br, a, b = two_containers
    assert len(pm.container_netns()) == 2
    pm.run("rm", "--force", "--time", "0", a, b)
    assert pm.allocations() == []
    assert pm.cached_results() == []
    assert pm.container_netns() == []
    links = pm.node_links()
    assert links == sorted(["lo", pm.nic, f"{pm.prefix}br0"]), links  # no veth left
    assert json.loads(pm.run("ps", "--all", "--format", "json").stdout or "[]") == []
