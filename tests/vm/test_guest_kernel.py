"""Kernel facts the VLAN, ipvlan and bridge plugins rely on, proven on Debian's kernel.

Run in the QEMU guest (see conftest.py). A missing feature fails these tests.
"""

from __future__ import annotations

import errno
import json
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError


class Namespaces:
    """Creates network namespaces ``<prefix><n>``; ``remove_all`` deletes every one."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: list[str] = []

    def create(self) -> str:
        from pyroute2 import netns

        name = f"{self.prefix}{len(self.names) + 1}"
        netns.create(name)
        self.names.append(name)
        return name

    def remove_all(self) -> None:
        from pyroute2 import netns

        errors = []
        for name in reversed(self.names):
            try:
                netns.remove(name)
            except OSError as exc:  # keep removing the others
                errors.append(f"{name}: {exc}")
        self.names.clear()
        assert not errors, f"could not remove namespaces: {errors}"


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    factory = Namespaces(f"nat-vm-{secrets.token_hex(3)}-")
    try:
        yield factory
    finally:
        factory.remove_all()


@contextmanager
def rtnl(ns: str) -> Iterator[IPRoute]:
    ipr = IPRoute(netns=ns)
    try:
        yield ipr
    finally:
        ipr.close()


def _index(ipr: IPRoute, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    assert found, f"{ifname} does not exist"
    return found[0]


def _linkinfo(ipr: IPRoute, ifname: str) -> tuple[str, dict[str, object]]:
    (link,) = ipr.get_links(_index(ipr, ifname))
    info = link.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND")
    data = info.get_attr("IFLA_INFO_DATA")
    attrs = dict(data["attrs"]) if data is not None else {}
    return kind, attrs


def _dummy(ipr: IPRoute, ifname: str) -> int:
    ipr.link("add", ifname=ifname, kind="dummy")
    return _index(ipr, ifname)


def _vlan(ipr: IPRoute, ifname: str, parent: int, vlan_id: int) -> None:
    ipr.link("add", ifname=ifname, kind="vlan", link=parent, vlan_id=vlan_id)


def test_vlan_on_dummy_parent(namespaces: Namespaces) -> None:
    ns = namespaces.create()
    with rtnl(ns) as ipr:
        parent = _dummy(ipr, "parent0")
        ipr.link("set", index=parent, state="up")
        _vlan(ipr, "parent0.100", parent, 100)
        ipr.link("set", index=_index(ipr, "parent0.100"), state="up")
        kind, data = _linkinfo(ipr, "parent0.100")
    assert kind == "vlan"
    assert data["IFLA_VLAN_ID"] == 100


def test_duplicate_vlan_id_on_one_parent_is_eexist_even_after_move(
    namespaces: Namespaces,
) -> None:
    node, pod = namespaces.create(), namespaces.create()
    with rtnl(node) as ipr:
        parent = _dummy(ipr, "parent0")
        _vlan(ipr, "first", parent, 100)
        with pytest.raises(NetlinkError) as before:
            _vlan(ipr, "second", parent, 100)
        assert before.value.code == errno.EEXIST

        ipr.link("set", index=_index(ipr, "first"), net_ns_fd=pod)
        assert not ipr.link_lookup(ifname="first")
        with pytest.raises(NetlinkError) as after:
            _vlan(ipr, "second", parent, 100)
        assert after.value.code == errno.EEXIST
        assert not ipr.link_lookup(ifname="second")
    with rtnl(pod) as ipr:
        kind, data = _linkinfo(ipr, "first")
    assert (kind, data["IFLA_VLAN_ID"]) == ("vlan", 100)


def test_same_vlan_id_on_another_parent_works(namespaces: Namespaces) -> None:
    ns = namespaces.create()
    with rtnl(ns) as ipr:
        first, second = _dummy(ipr, "parent0"), _dummy(ipr, "parent1")
        _vlan(ipr, "parent0.100", first, 100)
        _vlan(ipr, "parent1.100", second, 100)
        ids = [_linkinfo(ipr, name)[1]["IFLA_VLAN_ID"] for name in ("parent0.100", "parent1.100")]
    assert ids == [100, 100]


def test_ipvlan_on_dummy_parent(namespaces: Namespaces) -> None:
    ns = namespaces.create()
    with rtnl(ns) as ipr:
        parent = _dummy(ipr, "parent0")
        ipr.link("add", ifname="ipvl0", kind="ipvlan", link=parent)
        kind, _ = _linkinfo(ipr, "ipvl0")
    assert kind == "ipvlan"
    # pyroute2 0.9.7 does not encode IFLA_IPVLAN_MODE reliably: use iproute2 for modes.
    for mode in ("l2", "l3", "l3s"):
        subprocess.run(
            ["ip", "-n", ns, "link", "add", f"ipvl-{mode}", "link", "parent0",
             "type", "ipvlan", "mode", mode],
            check=True, capture_output=True, text=True,
        )
        (shown,) = json.loads(
            subprocess.run(["ip", "-n", ns, "-j", "-d", "link", "show", f"ipvl-{mode}"],
                           check=True, capture_output=True, text=True).stdout
        )
        assert shown["linkinfo"]["info_kind"] == "ipvlan"
        assert shown["linkinfo"]["info_data"]["mode"] == mode


def test_bridge_vlan_filtering_can_be_enabled(namespaces: Namespaces) -> None:
    ns = namespaces.create()
    with rtnl(ns) as ipr:
        ipr.link("add", ifname="br0", kind="bridge")
        assert _linkinfo(ipr, "br0")[1]["IFLA_BR_VLAN_FILTERING"] == 0
        ipr.link("set", index=_index(ipr, "br0"), kind="bridge", br_vlan_filtering=1)
        kind, data = _linkinfo(ipr, "br0")
    assert kind == "bridge"
    assert data["IFLA_BR_VLAN_FILTERING"] == 1


def test_namespaces_are_unique_and_removed(namespaces: Namespaces) -> None:
    from pyroute2 import netns

    created = [namespaces.create(), namespaces.create()]
    assert all(name.startswith("nat-vm-") for name in created)
    assert set(created) <= set(netns.listnetns())
    namespaces.remove_all()
    assert not set(created) & set(netns.listnetns())
