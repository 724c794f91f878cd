"""default-route: which results keep, lose or get default routes."""

import ipaddress

import pytest

from netattach.attach.default_route import adjusted_result, default_gateways, wants_default_route
from netattach.attach.delegate_cache import Delegate
from netattach.cni.config import NetConfList
from netattach.cni.types import Result

CONFLIST = NetConfList.from_object({"cniVersion": "1.0.0", "name": "a-net",
                                    "plugins": [{"type": "bridge"}]})
RESULT = Result.from_json({
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "net1", "sandbox": "/run/netns/pod-1"}],
    "ips": [{"address": "192.0.2.5/24", "gateway": "192.0.2.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}, {"dst": "203.0.113.0/24",
                                                        "gw": "192.0.2.254"},
               {"dst": "::/0", "gw": "2001:db8::1"}, {"dst": "2001:db8:5::/48"}]})


def delegate(default_route):
    return Delegate("team-a/net-a", CONFLIST, "net1", default_route=default_route)


def routes(result):
    return [(str(r.dst), str(r.gw) if r.gw else None) for r in result.routes]


@pytest.mark.parametrize("default_route,any_requested,expected", [
    # nobody asked: untouched
    (None, False, [("0.0.0.0/0", "192.0.2.1"), ("203.0.113.0/24", "192.0.2.254"),
                   ("::/0", "2001:db8::1"), ("2001:db8:5::/48", None)]),
    # another attachment asked: this one loses its default routes (both families)
    (None, True, [("203.0.113.0/24", "192.0.2.254"), ("2001:db8:5::/48", None)]),
    # "default-route": [] keeps this attachment's own default routes
    ((), True, [("0.0.0.0/0", "192.0.2.1"), ("203.0.113.0/24", "192.0.2.254"),
                ("::/0", "2001:db8::1"), ("2001:db8:5::/48", None)]),
    # gateways named: they replace the default routes
    (("192.0.2.254",), True, [("203.0.113.0/24", "192.0.2.254"), ("2001:db8:5::/48", None),
                              ("0.0.0.0/0", "192.0.2.254")]),
    (("192.0.2.254", "2001:db8::fe"), True, [
        ("203.0.113.0/24", "192.0.2.254"), ("2001:db8:5::/48", None),
        ("0.0.0.0/0", "192.0.2.254"), ("::/0", "2001:db8::fe")]),
])
def test_adjusted_result(default_route, any_requested, expected):
    after = adjusted_result(delegate(default_route), RESULT, any_requested)
    assert routes(after) == expected
    assert after.ips == RESULT.ips and after.interfaces == RESULT.interfaces  # routes only


def test_default_gateways():
    assert default_gateways(RESULT) == [ipaddress.ip_address("192.0.2.1"),
                                        ipaddress.ip_address("2001:db8::1")]
    no_gw = Result.from_json({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0"},
                                                                {"dst": "192.0.2.0/24",
                                                                 "gw": "192.0.2.1"}]})
    assert default_gateways(no_gw) == []
    assert default_gateways(adjusted_result(delegate(None), RESULT, True)) == []


@pytest.mark.parametrize("asked,expected", [
    ((None, None), False), ((None, ()), True), ((("192.0.2.1",), None), True), ((), False)])
def test_wants_default_route(asked, expected):
    assert wants_default_route(tuple(delegate(a) for a in asked)) is expected
