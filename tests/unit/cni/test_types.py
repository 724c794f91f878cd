"""Result conversion between every CNI version, as libcni's types/020, 040 and 100 do."""

import ipaddress

import pytest

from netattach.cni import CNIError, Code, Result
from netattach.cni.types import DNS, Interface, IPConfig, Route
from netattach.cni.version import ALL, negotiate

FULL = Result(
    cni_version="1.1.0",
    interfaces=(Interface("br0", "aa:bb:cc:dd:ee:01"),
                Interface("net1", "aa:bb:cc:dd:ee:02", mtu=1400, sandbox="/run/netns/p",
                          socket_path="/s", pci_id="0000:01:00.0")),
    ips=(IPConfig(ipaddress.ip_interface("192.0.2.10/24"), ipaddress.ip_address("192.0.2.1"), 1),
         IPConfig(ipaddress.ip_interface("192.0.2.11/24"), None, 1),
         IPConfig(ipaddress.ip_interface("2001:db8::10/64"), ipaddress.ip_address("2001:db8::1"),
                  0)),
    routes=(Route(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("192.0.2.1")),
            Route(ipaddress.ip_network("198.51.100.0/24"), None, mtu=1300, priority=5, table=100,
                  scope=0),
            Route(ipaddress.ip_network("::/0"), ipaddress.ip_address("2001:db8::1"))),
    dns=DNS(("192.0.2.53",), "example.test", ("example.test",), ("ndots:2",)),
)


def test_v1_json_shape():
    out = FULL.to_json("1.1.0")
    assert out["cniVersion"] == "1.1.0"
    assert out["interfaces"][1] == {"name": "net1", "mac": "aa:bb:cc:dd:ee:02", "mtu": 1400,
                                    "sandbox": "/run/netns/p", "socketPath": "/s",
                                    "pciID": "0000:01:00.0"}
    assert out["ips"][0] == {"interface": 1, "address": "192.0.2.10/24", "gateway": "192.0.2.1"}
    assert out["ips"][2]["interface"] == 0  # a pointer in Go: 0 is emitted
    assert out["routes"][1] == {"dst": "198.51.100.0/24", "mtu": 1300, "priority": 5,
                                "table": 100, "scope": 0}
    assert out["dns"] == {"nameservers": ["192.0.2.53"], "domain": "example.test",
                          "search": ["example.test"], "options": ["ndots:2"]}


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_04x_adds_ip_version_and_drops_new_interface_fields(version):
    out = FULL.to_json(version)
    assert [ip["version"] for ip in out["ips"]] == ["4", "4", "6"]
    assert out["interfaces"][1] == {"name": "net1", "mac": "aa:bb:cc:dd:ee:02",
                                    "sandbox": "/run/netns/p"}
    assert Result.from_json(out).ips == FULL.ips


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_legacy_keeps_first_ip_per_family_and_splits_routes(version):
    out = FULL.to_json(version)
    assert out == {
        "cniVersion": version,
        "ip4": {"ip": "192.0.2.10/24", "gateway": "192.0.2.1",
                "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}, {"dst": "198.51.100.0/24"}]},
        "ip6": {"ip": "2001:db8::10/64", "gateway": "2001:db8::1",
                "routes": [{"dst": "::/0", "gw": "2001:db8::1"}]},
        "dns": FULL.dns.to_json(),
    }
    back = Result.from_json(out)
    assert [str(i.address) for i in back.ips] == ["192.0.2.10/24", "2001:db8::10/64"]
    assert back.interfaces == ()
    assert all(i.interface is None for i in back.ips)


def test_legacy_drops_routes_of_a_family_without_address():
    r = Result(ips=(IPConfig(ipaddress.ip_interface("192.0.2.5/24")),),
               routes=(Route(ipaddress.ip_network("::/0")),))
    assert r.to_json("0.2.0") == {"cniVersion": "0.2.0", "ip4": {"ip": "192.0.2.5/24"}, "dns": {}}


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_legacy_without_ips_fails(version):
    l2_only = Result(interfaces=(Interface("net1"),))
    with pytest.raises(CNIError) as e:
        l2_only.to_json(version)
    assert e.value.msg == "cannot convert: no valid IP addresses"
    assert "0.3.0" in e.value.details


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_round_trip_between_all_versions(src, dst):
    r = FULL.convert(src).convert(dst)
    assert r.cni_version == dst
    assert r.dns == FULL.dns
    first4 = next(i for i in FULL.ips if i.address.version == 4)
    assert r.ips[0].address == first4.address


def test_dns_always_present_even_when_empty():
    # Go's omitempty never omits a struct: "dns": {} is always printed.
    assert Result().to_json("1.0.0") == {"cniVersion": "1.0.0", "dns": {}}


def test_address_keeps_host_bits_route_dst_masks_them():
    r = Result.from_json({"cniVersion": "1.0.0", "ips": [{"address": "192.0.2.77/24"}],
                          "routes": [{"dst": "198.51.100.9/24"}]})
    assert str(r.ips[0].address) == "192.0.2.77/24"
    assert str(r.routes[0].dst) == "198.51.100.0/24"


@pytest.mark.parametrize("data,fragment", [
    ({"cniVersion": "1.0.0", "ips": [{"address": "192.0.2.7"}]}, "CIDR"),
    ({"cniVersion": "1.0.0", "ips": [{"address": "300.0.0.1/24"}]}, "CIDR"),
    ({"cniVersion": "1.0.0", "ips": "x"}, "JSON list"),
    ({"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0", "gw": "nope"}]}, "IPv4 or IPv6"),
    ({"cniVersion": "1.0.0", "dns": {"nameservers": "192.0.2.53"}}, "list of strings"),
    ({"cniVersion": "1.0.0", "interfaces": [{"name": 5}]}, "string"),
])
def test_bad_results_give_code_6_with_a_reason(data, fragment):
    with pytest.raises(CNIError) as e:
        Result.from_json(data)
    assert e.value.code == Code.DECODING_FAILURE
    assert fragment in e.value.details


def test_unknown_result_version():
    with pytest.raises(CNIError) as e:
        Result.from_json({"cniVersion": "0.5.0"})
    assert e.value.code == Code.INCOMPATIBLE_VERSION


def test_missing_version_means_010():
    r = Result.from_json({"ip4": {"ip": "192.0.2.3/24"}})
    assert r.cni_version == "0.1.0" and str(r.ips[0].address) == "192.0.2.3/24"


@pytest.mark.parametrize("cni_version,versions,expected", [
    ("0.4.0", None, "0.4.0"),
    ("2.0.0", None, "2.0.0"),  # used as written without cniVersions, as libcni does
    ("0.4.0", ["1.0.0", "1.1.0", "2.0.0"], "1.1.0"),
    (None, ["0.3.1", "1.0.0"], "1.0.0"),
    ("1.1.0", ["0.3.1"], "1.1.0"),
    (None, None, "0.1.0"),
])
def test_version_negotiation(cni_version, versions, expected):
    assert negotiate(cni_version, versions) == expected


def test_negotiation_rejects_garbage():
    with pytest.raises(CNIError) as e:
        negotiate("1.0.0", ["one"])
    assert e.value.code == Code.DECODING_FAILURE
