"""The static IPAM plugin in process: every address source and its precedence."""

import json

import pytest

from netattach.cni import CNIError, Command, request_from_env
from netattach.ipam.static import StaticIPAM

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x",
       "CNI_IFNAME": "net1"}


def request(ipam, command="ADD", env_args="", version="1.0.0", **extra):
    conf = {"cniVersion": version, "name": "vlan100-conf", "type": "vlan", "ipam": ipam, **extra}
    env = {**ENV, "CNI_COMMAND": command, "CNI_ARGS": env_args}
    return request_from_env(env, json.dumps(conf).encode())


def addresses(result):
    return [(str(i.address), str(i.gateway) if i.gateway else None) for i in result.ips]


BASE = {"type": "static", "addresses": [{"address": "192.0.2.211/24", "gateway": "192.0.2.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}],
        "dns": {"nameservers": ["192.0.2.53"], "search": ["example.test"]}}


def test_config_addresses_routes_dns():
    r = StaticIPAM().add(request(BASE))
    assert addresses(r) == [("192.0.2.211/24", "192.0.2.1")]
    assert str(r.routes[0].dst) == "0.0.0.0/0" and str(r.routes[0].gw) == "192.0.2.1"
    assert r.dns.nameservers == ("192.0.2.53",) and r.interfaces == ()


def test_cni_args_ip_appends_and_gateway_applies():
    r = StaticIPAM().add(request(BASE, env_args="IgnoreUnknown=1;K8S_POD_NAME=p;"
                                            "IP=198.51.100.5/24,2001:db8::5/64;"
                                            "GATEWAY=198.51.100.1"))
    assert addresses(r) == [("192.0.2.211/24", "192.0.2.1"), ("198.51.100.5/24", "198.51.100.1"),
                            ("2001:db8::5/64", None)]


def test_args_cni_ips_replace_then_runtime_config_replaces():
    r = StaticIPAM().add(request(BASE, args={"cni": {"ips": ["203.0.113.7/24"]}}))
    assert addresses(r) == [("203.0.113.7/24", None)]
    r = StaticIPAM().add(request(BASE, args={"cni": {"ips": ["203.0.113.7/24"]}},
                                 runtimeConfig={"ips": ["203.0.113.8/24"]}))
    assert addresses(r) == [("203.0.113.8/24", None)]


@pytest.mark.parametrize("ipam,args,fragment", [
    ({"type": "static", "addresses": [{"address": "192.0.2.211"}]}, "",
     "expected to be in CIDR notation"),
    (BASE, "IP=192.0.2.9", "expected to be in CIDR notation"),
    (BASE, "K8S_POD_NAME=p", "unknown args"),
    ({"type": "static", "addresses": [{"address": "192.0.2.2/24", "gateway": "x"}]}, "",
     "invalid gateway"),
    ({"type": "static", "routes": [{"dst": "nope"}]}, "", "route dst"),
])
def test_errors_name_the_value_and_the_fix(ipam, args, fragment):
    with pytest.raises(CNIError) as e:
        StaticIPAM().add(request(ipam, env_args=args))
    assert fragment in e.value.msg and e.value.details and e.value.code == 999


def test_missing_ipam():
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "static"}
    with pytest.raises(CNIError) as e:
        StaticIPAM().add(request_from_env(ENV, json.dumps(conf).encode()))
    assert e.value.msg == "IPAM config missing 'ipam' key"


def test_one_address_per_family_before_030():
    two = {"type": "static", "addresses": [{"address": "192.0.2.2/24"},
                                           {"address": "192.0.2.3/24"}]}
    with pytest.raises(CNIError) as e:
        StaticIPAM().add(request(two, version="0.2.0"))
    assert "does not support more than 1 address per family" in e.value.msg
    assert len(StaticIPAM().add(request(two, version="0.3.0")).ips) == 2


def test_check_compares_gateways():
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "192.0.2.211/24", "gateway": "192.0.2.1"}]}
    StaticIPAM().check(request(BASE, command="CHECK", prevResult=prev))
    prev["ips"][0]["gateway"] = "192.0.2.254"
    with pytest.raises(CNIError) as e:
        StaticIPAM().check(request(BASE, command="CHECK", prevResult=prev))
    assert "Failed to match addr 192.0.2.211 on interface net1" in e.value.msg
    with pytest.raises(CNIError) as e:
        StaticIPAM().check(request(BASE, command="CHECK"))
    assert e.value.msg == "Required prevResult missing"


def test_del_is_stateless():
    assert StaticIPAM().delete(request(BASE, command="DEL")) is None
    assert request(BASE, command="DEL").command is Command.DEL


def test_routes_that_are_not_a_list_are_a_plugin_error():
    # found by the skeleton fuzzer: "routes": 1 used to raise TypeError (code 999, "a bug")
    with pytest.raises(CNIError) as e:
        StaticIPAM().add(request({"type": "static", "routes": 1}))
    assert "ipam.routes must be a list" in e.value.msg and "0.0.0.0/0" in e.value.details
