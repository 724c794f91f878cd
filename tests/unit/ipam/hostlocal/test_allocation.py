"""host-local ADD/DEL/CHECK/GC in process (no namespace needed for IPAM)."""

import ipaddress
import json
import os

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.cni.request import request_from_conf
from netattach.ipam.hostlocal import HostLocalIPAM

SMALL = [[{"subnet": "192.0.2.0/29"}]]  # .1 is the gateway: .2 to .6 can be handed out


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "networks"


@pytest.fixture
def ipam(data_dir):
    """call(command, container, ranges=..., ifname=..., cni_args=..., **conf) -> the result."""
    def call(command, container_id="cid-1", ranges=None, ifname="net1", cni_args="",
             version="1.1.0", ipam_extra=None, **conf):
        raw = {"cniVersion": version, "name": "hl-net", "type": "macvlan",
               "ipam": {"type": "host-local", "dataDir": str(data_dir),
                        "ranges": SMALL if ranges is None else ranges, **(ipam_extra or {})},
               **conf}
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
               "CNI_NETNS": "/run/netns/absent", "CNI_IFNAME": ifname, "CNI_ARGS": cni_args}
        request = request_from_conf(env, raw)
        plugin = HostLocalIPAM()
        return {"ADD": plugin.add, "DEL": plugin.delete, "CHECK": plugin.check,
                "GC": plugin.gc}[command](request)
    return call


def addresses(result):
    return [(str(i.address), str(i.gateway) if i.gateway else None) for i in result.ips]


def held(data_dir):
    """ip -> file content, as both implementations read the store."""
    net = data_dir / "hl-net"
    return {n: (net / n).read_bytes().decode() for n in sorted(os.listdir(net))
            if n != "lock" and not n.startswith("last_reserved_ip.")}


def refused(call, *args, **kwargs) -> CNIError:
    with pytest.raises(CNIError) as e:
        call(*args, **kwargs)
    assert e.value.code == Code.INTERNAL  # plain plugin errors, as the reference's
    assert e.value.details
    return e.value


def test_round_robin_order(ipam, data_dir):
    got = [addresses(ipam("ADD", f"cid-{n}"))[0][0] for n in range(1, 4)]
    assert got == ["192.0.2.2/29", "192.0.2.3/29", "192.0.2.4/29"]
    ipam("DEL", "cid-1")
    # a freed address is not reused until the range has been run through
    assert addresses(ipam("ADD", "cid-4")) == [("192.0.2.5/29", "192.0.2.1")]
    assert addresses(ipam("ADD", "cid-5")) == [("192.0.2.6/29", "192.0.2.1")]
    assert addresses(ipam("ADD", "cid-6")) == [("192.0.2.2/29", "192.0.2.1")]  # wrapped
    assert held(data_dir) == {"192.0.2.2": "cid-6\r\nnet1", "192.0.2.3": "cid-2\r\nnet1",
                              "192.0.2.4": "cid-3\r\nnet1", "192.0.2.5": "cid-4\r\nnet1",
                              "192.0.2.6": "cid-5\r\nnet1"}


def test_exhaustion(ipam, data_dir):
    for n in range(5):
        ipam("ADD", f"cid-{n}")
    err = refused(ipam, "ADD", "cid-9")
    assert err.msg == ("failed to allocate for range 0: no IP addresses available in range "
                       "set: 192.0.2.1-192.0.2.6")
    assert str(data_dir / "hl-net") in err.details
    assert len(held(data_dir)) == 5


def test_one_address_per_range_set_with_routes(ipam):
    result = ipam("ADD", ranges=[[{"subnet": "192.0.2.0/24", "gateway": "192.0.2.254"}],
                                 [{"subnet": "2001:db8::/64"}]],
                  ipam_extra={"routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0",
                                                                "gw": "2001:db8::fe"}]})
    assert addresses(result) == [("192.0.2.1/24", "192.0.2.254"),
                                 ("2001:db8::2/64", "2001:db8::1")]
    assert [(str(r.dst), str(r.gw) if r.gw else None) for r in result.routes] == [
        ("0.0.0.0/0", None), ("::/0", "2001:db8::fe")]
    assert result.interfaces == ()


def test_legacy_subnet_and_runtime_ip_ranges_come_first(ipam):
    result = ipam("ADD", ranges=[[{"subnet": "203.0.113.0/24"}]],
                  ipam_extra={"subnet": "198.51.100.0/24", "rangeStart": "198.51.100.50"},
                  runtimeConfig={"ipRanges": [[{"subnet": "192.0.2.0/24"}]]})
    assert [a for a, _ in addresses(result)] == ["192.0.2.2/24", "198.51.100.50/24",
                                                 "203.0.113.2/24"]


@pytest.mark.parametrize("how", [
    {"cni_args": "IgnoreUnknown=1;K8S_POD_NAME=web;IP=192.0.2.5"},
    {"cni_args": "IP=192.0.2.5/29"},
    {"args": {"cni": {"ips": ["192.0.2.5"]}}},
    {"runtimeConfig": {"ips": ["192.0.2.5/29"]}},
])
def test_requested_ip_in_range(ipam, data_dir, how):
    result = ipam("ADD", **how)
    assert addresses(result) == [("192.0.2.5/29", "192.0.2.1")]
    assert held(data_dir) == {"192.0.2.5": "cid-1\r\nnet1"}
    # the round robin goes on after a requested address (Go's Reserve records it too)
    assert addresses(ipam("ADD", "cid-2")) == [("192.0.2.6/29", "192.0.2.1")]


def test_requested_ips_go_to_their_range_sets(ipam):
    result = ipam("ADD", ranges=[[{"subnet": "192.0.2.0/24"}], [{"subnet": "2001:db8::/64"}]],
                  runtimeConfig={"ips": ["2001:db8::77/64", "192.0.2.77/24"]})
    assert [a for a, _ in addresses(result)] == ["192.0.2.77/24", "2001:db8::77/64"]


def test_same_ip_requested_twice_is_one_request(ipam):
    result = ipam("ADD", cni_args="IgnoreUnknown=true;IP=192.0.2.5/29",
                  runtimeConfig={"ips": ["192.0.2.5/29"]})
    assert addresses(result) == [("192.0.2.5/29", "192.0.2.1")]


def test_ipv4_mapped_request_is_ipv4(ipam):
    result = ipam("ADD", runtimeConfig={"ips": ["::ffff:192.0.2.5"]})
    assert addresses(result) == [("192.0.2.5/29", "192.0.2.1")]


def test_requested_gateway_refused(ipam, data_dir):
    err = refused(ipam, "ADD", cni_args="IP=192.0.2.1")
    assert err.msg == ("failed to allocate for range 0: requested ip 192.0.2.1 is subnet's "
                       "gateway")
    assert held(data_dir) == {}


def test_requested_ip_taken_names_the_holder(ipam, data_dir):
    ipam("ADD", "cid-1", cni_args="IP=192.0.2.5")
    err = refused(ipam, "ADD", "cid-2", ifname="eth0", cni_args="IP=192.0.2.5")
    assert err.msg == ("failed to allocate for range 0: requested IP address 192.0.2.5 is not "
                       "available in range set 192.0.2.1-192.0.2.6")
    assert err.details == (f"it is held by cid-1 (net1) in {data_dir / 'hl-net'}; free it "
                           "there or request another")


@pytest.mark.parametrize("requested", ["198.51.100.5", "192.0.2.7"])  # .7: the broadcast
def test_requested_ip_outside_every_range(ipam, data_dir, requested):
    err = refused(ipam, "ADD", cni_args=f"IP={requested}")
    assert err.msg == f"failed to allocate all requested IPs: {requested}"
    assert held(data_dir) == {}  # the address given to the range set is released again


def test_requested_ip_not_an_address(ipam):
    err = refused(ipam, "ADD", runtimeConfig={"ips": ["192.0.2.x"]})
    assert err.msg == "cannot understand ip: '192.0.2.x' in runtimeConfig.ips"


def test_a_failed_add_releases_only_its_own_addresses(ipam, data_dir):
    ranges = [[{"subnet": "192.0.2.0/24"}], [{"subnet": "198.51.100.0/30"}]]  # /30: one address
    ipam("ADD", "cid-1", ranges=ranges)
    before = held(data_dir)
    assert before == {"192.0.2.2": "cid-1\r\nnet1", "198.51.100.2": "cid-1\r\nnet1"}
    err = refused(ipam, "ADD", "cid-2", ranges=ranges)
    assert err.msg.startswith("failed to allocate for range 1: no IP addresses available")
    assert held(data_dir) == before


def test_duplicate_allocation_refused(ipam, data_dir):
    ipam("ADD", "cid-1")
    err = refused(ipam, "ADD", "cid-1")
    assert err.msg == ("failed to allocate for range 0: 192.0.2.2 has been allocated to cid-1, "
                       "duplicate allocation is not allowed")
    assert held(data_dir) == {"192.0.2.2": "cid-1\r\nnet1"}
    # another interface of the same container is another attachment
    assert addresses(ipam("ADD", "cid-1", ifname="net2")) == [("192.0.2.3/29", "192.0.2.1")]


def test_del_check(ipam, data_dir):
    ipam("ADD", "cid-1")
    ipam("ADD", "cid-1", ifname="net2")
    ipam("CHECK", "cid-1")
    ipam("DEL", "cid-1")
    assert held(data_dir) == {"192.0.2.3": "cid-1\r\nnet2"}
    err = refused(ipam, "CHECK", "cid-1")
    assert err.msg == "host-local: Failed to find address added by container cid-1"
    ipam("DEL", "cid-1")  # nothing to free is success
    ipam("DEL", "cid-9")


def test_gc_keeps_valid_attachments(ipam, data_dir):
    ipam("ADD", "cid-1")
    ipam("ADD", "cid-2")
    ipam("ADD", "cid-3", ifname="net2")
    ipam("ADD", "cid-3", ifname="net3")
    net = data_dir / "hl-net"
    (net / "192.0.2.6").write_text("cid-4")  # a legacy file: container id only
    ipam("GC", **{"cni.dev/valid-attachments": [
        {"containerID": "cid-1", "ifname": "net1"}, {"containerID": "cid-3", "ifname": "net3"},
        {"containerID": "cid-4", "ifname": "eth0"}]})
    assert held(data_dir) == {"192.0.2.2": "cid-1\r\nnet1", "192.0.2.5": "cid-3\r\nnet3",
                              "192.0.2.6": "cid-4"}
    ipam("GC", **{"cni.dev/valid-attachments": []})
    assert held(data_dir) == {}


def test_gc_needs_no_valid_ranges(ipam, data_dir):
    ipam("ADD", "cid-1")
    ipam("GC", ranges=[], **{"cni.dev/valid-attachments": []})
    assert held(data_dir) == {}


@pytest.mark.parametrize("conf,msg", [
    ({"ipam": None}, "IPAM config missing 'ipam' key"),
    ({"ranges": []}, "no IP ranges specified"),
    ({"ranges": [[{"subnet": "192.0.2.0/24"}], [{"subnet": "192.0.2.128/25"}]]},
     "range set 0 overlaps with 1"),
    ({"ranges": [[{"subnet": "192.0.2.0/31"}]]},
     "invalid range set 0: Network 192.0.2.0/31 too small to allocate from"),
    ({"ranges": [[{"subnet": "192.0.2.0/24"}], [{"subnet": "198.51.100.0/24"}]],
      "version": "0.2.0"}, "CNI version 0.2.0 does not support more than 1 address per family"),
])
def test_config_refused(ipam, conf, msg):
    conf = dict(conf)
    kwargs = {"version": conf.pop("version")} if "version" in conf else {}
    if "ranges" in conf:
        kwargs["ranges"] = conf.pop("ranges")
    if "ipam" in conf:
        kwargs["ipam"] = conf.pop("ipam")
    err = refused(ipam, "ADD", **kwargs)
    assert err.msg == msg


@pytest.mark.parametrize("ranges", [True, 5, "abc", {"subnet": "192.0.2.0/24"}, False])
@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_ranges_that_are_not_a_list_are_refused(ipam, ranges, command):
    """Found by the fuzz suite: `"ranges": true` was a TypeError ("this is a bug") on ADD and
    on DEL; a string or an object was read as a list of its characters or keys."""
    err = refused(ipam, command, ranges=ranges)
    assert err.msg == f"ipam.ranges must be a list of range sets, not {json.dumps(ranges)}"


@pytest.mark.parametrize("ranges", [True, [], [[{"subnet": "192.0.2.0/31"}]]])
def test_del_completes_whatever_the_ranges_say(ipam, data_dir, ranges):
    """DEL reads only the network and the store: it frees what the attachment holds even
    when the config's ranges are ones ADD refuses (a runtime repeats a failing DEL)."""
    ipam("ADD", "cid-1")
    ipam("ADD", "cid-2")
    ipam("DEL", "cid-1", ranges=ranges)
    assert [c.split("\r\n")[0] for c in held(data_dir).values()] == ["cid-2"]
    ipam("DEL", "cid-1", ranges=ranges)  # again: nothing left, still fine


def test_runtime_ip_ranges_that_are_not_a_list_are_refused(ipam):
    err = refused(ipam, "ADD", runtimeConfig={"ipRanges": 7})
    assert err.msg == "runtimeConfig.ipRanges must be a list of range sets, not 7"


def test_unknown_cni_args_refused_unless_ignored(ipam):
    err = refused(ipam, "ADD", cni_args="K8S_POD_NAME=web")
    assert err.msg == 'ARGS: unknown args ["K8S_POD_NAME=web"]'
    assert addresses(ipam("ADD", cni_args="IgnoreUnknown=1;K8S_POD_NAME=web"))


def test_resolv_conf(ipam, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
                      "domain example.test\nsearch a.test b.test\noptions ndots:2\n; x\n")
    result = ipam("ADD", ipam_extra={"resolvConf": str(resolv)})
    assert result.dns.to_json() == {"nameservers": ["192.0.2.53", "2001:db8::53"],
                                    "domain": "example.test", "search": ["a.test", "b.test"],
                                    "options": ["ndots:2"]}
    assert json.loads(json.dumps(result.to_json()))["dns"]["domain"] == "example.test"
    assert ipaddress.ip_interface(result.to_json()["ips"][0]["address"]).ip == \
        ipaddress.ip_address("192.0.2.2")
