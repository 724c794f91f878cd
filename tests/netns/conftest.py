"""Fixtures for tests on real network namespaces (root only).

`netns_factory` creates namespaces and veths with a per-run unique prefix
(`natst-<4 hex>-`) and removes them in a finalizer even if the test fails.
Usage::

    def test_x(netns_factory):
        node = netns_factory.make_netns("node")        # NetnsRef(name, path)
        pod = netns_factory.make_netns("pod")
        a, b = netns_factory.make_veth(node, pod)      # (name in node, name in pod)
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

NETNS_DIR = "/run/netns"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def ip_json(*args: str, netns: str | None = None) -> list[dict]:
    """Run `ip [-n netns] -j <args>` and return the parsed JSON (iproute2 as the oracle)."""
    cmd = ["-n", netns] if netns else []
    out = _ip(*cmd, "-j", *args).stdout
    return json.loads(out) if out.strip() else []


@dataclass(frozen=True)
class TestNetns:
    """A namespace created for a test: `name` for `ip -n`, `path` for netattach.linux."""

    name: str
    path: str


class NetnsFactory:
    """Creates namespaces/veths named `<prefix>...`; `cleanup()` removes all of them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._count = 0
        self._namespaces: list[TestNetns] = []
        self._root_links: list[str] = []

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}{self._count}"

    def make_netns(self, hint: str = "ns") -> TestNetns:
        """Create a namespace `<prefix><hint><n>` with lo up."""
        name = self._name(hint)
        _ip("netns", "add", name)
        ns = TestNetns(name, os.path.join(NETNS_DIR, name))
        self._namespaces.append(ns)
        _ip("-n", name, "link", "set", "lo", "up")
        return ns

    def link_name(self, hint: str = "v") -> str:
        """A fresh link name under the run prefix (<= 15 bytes)."""
        name = self._name(hint)
        assert len(name) <= 15, name
        return name

    def make_veth(self, ns_a: TestNetns | None, ns_b: TestNetns | None, *,
                  name_a: str | None = None, name_b: str | None = None,
                  up: bool = True) -> tuple[str, str]:
        """Create a veth pair with one end in ns_a and the other in ns_b (None = root ns)."""
        a = name_a or self.link_name("va")
        b = name_b or self.link_name("vb")
        # create in the root namespace under the prefix, then move: cleanup can always find
        # leftovers by prefix.
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        for ns, name in ((ns_a, a), (ns_b, b)):
            if ns is not None:
                _ip("link", "set", name, "netns", ns.name)
            else:
                self._root_links.append(name)
            if up:
                _ip(*(["-n", ns.name] if ns else []), "link", "set", name, "up")
        return a, b

    def track_root_link(self, name: str) -> None:
        """Remember a link created in the root namespace by the test, for cleanup."""
        self._root_links.append(name)

    def cleanup(self) -> None:
        """Delete every namespace and root link of this run, plus any prefix leftovers."""
        for name in self._root_links:
            _ip("link", "del", name, check=False)
        for ns in self._namespaces:
            _ip("netns", "del", ns.name, check=False)
        # leftovers with our prefix (e.g. a test created links itself)
        for ns_name in os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) else []:
            if ns_name.startswith(self.prefix):
                _ip("netns", "del", ns_name, check=False)
        for link in ip_json("link", "show"):
            if link.get("ifname", "").startswith(self.prefix):
                _ip("link", "del", link["ifname"], check=False)


@pytest.fixture(scope="session")
def netns_prefix() -> str:
    """Unique prefix for this test run: natst-<4 hex>-."""
    return f"natst-{os.urandom(2).hex()}-"


@pytest.fixture
def netns_factory(netns_prefix: str) -> Iterator[NetnsFactory]:
    """Factory for namespaces and veths, torn down after the test whatever the outcome."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    factory = NetnsFactory(netns_prefix)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def node_and_pod(netns_factory: NetnsFactory) -> tuple[TestNetns, TestNetns, str]:
    """A 'node' namespace with an up veth end `parent` (peer in a third namespace) and an
    empty 'pod' namespace. Returns (node, pod, parent_name)."""
    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    peer = netns_factory.make_netns("peer")
    parent, _ = netns_factory.make_veth(node, peer)
    return node, pod, parent


@pytest.fixture(name="ip_json")
def ip_json_fixture():
    """The `ip_json(*args, netns=...)` helper as a fixture (tests/ has no packages)."""
    return ip_json


from tests.netns.plugin_helpers import bindir  # noqa: E402,F401 - installed executables
