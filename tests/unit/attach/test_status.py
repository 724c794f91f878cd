"""network-status entries from delegate results, and their publication on the pod."""

import json
import logging

import pytest

from netattach.attach.delegate_cache import Delegate, PodAttachments
from netattach.attach.status import clear_status, publish_status, statuses_for
from netattach.cni.config import NetConfList
from netattach.cni.types import Result
from netattach.kube.errors import Unreachable
from netattach.kube.models import Pod
from netattach.kube.network_status import DNS, NetworkStatus

NETNS = "/run/netns/pod-1"


def delegate(name="team-a/net-a", ifname="net1", is_default=False):
    conflist = NetConfList.from_object({"cniVersion": "1.0.0", "name": "a-net",
                                        "plugins": [{"type": "bridge"}]})
    return Delegate(name, conflist, ifname, is_default=is_default)


def result(**data):
    return Result.from_json({"cniVersion": "1.0.0", **data})


DNS_JSON = {"nameservers": ["192.0.2.53"], "domain": "example.test", "search": ["a.test"],
            "options": ["ndots:2"]}
STATUS_DNS = DNS(("192.0.2.53",), "example.test", ("a.test",), ("ndots:2",))


@pytest.mark.parametrize("data,is_default,expected", [
    # bridge: host-side interfaces have no sandbox; IPs go by interface index
    ({"interfaces": [{"name": "cni0", "mac": "02:00:00:00:00:01"},
                     {"name": "veth1", "mac": "02:00:00:00:00:02"},
                     {"name": "net1", "mac": "02:00:00:00:00:03", "mtu": 1400,
                      "sandbox": NETNS}],
      "ips": [{"address": "192.0.2.5/24", "gateway": "192.0.2.1", "interface": 2},
              {"address": "2001:db8::5/64", "interface": 2},
              {"address": "198.51.100.9/24", "interface": 0}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}, {"dst": "203.0.113.0/24",
                                                          "gw": "192.0.2.254"},
                 {"dst": "::/0", "gw": "2001:db8::1"}],
      "dns": DNS_JSON},
     False,
     [NetworkStatus("team-a/net-a", "net1", ("192.0.2.5", "2001:db8::5"), "02:00:00:00:00:03",
                    1400, False, STATUS_DNS, ("192.0.2.1", "2001:db8::1"))]),
    # two sandbox interfaces: one entry each, IPs by index
    ({"interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": NETNS},
                     {"name": "net1b", "mac": "02:00:00:00:00:02", "sandbox": NETNS}],
      "ips": [{"address": "192.0.2.5/24", "interface": 1},
              {"address": "192.0.2.6/24", "interface": 0},
              {"address": "192.0.2.7/24"}]},  # no index and two interfaces: nobody's
     True,
     [NetworkStatus("team-a/net-a", "net1", ("192.0.2.6",), "02:00:00:00:00:01", default=True),
      NetworkStatus("team-a/net-a", "net1b", ("192.0.2.5",), "02:00:00:00:00:02",
                    default=True)]),
    # one sandbox interface: IPs without an index are its own
    ({"interfaces": [{"name": "net1", "sandbox": NETNS}],
      "ips": [{"address": "192.0.2.5/24"}]},
     False, [NetworkStatus("team-a/net-a", "net1", ("192.0.2.5",))]),
    # no sandbox interface (an IPAM-only result): one entry under the delegate's name
    ({"ips": [{"address": "192.0.2.5/24"}, {"address": "2001:db8::5/64"}],
      "routes": [{"dst": "0.0.0.0/0"}, {"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]},
     True, [NetworkStatus("team-a/net-a", "net1", ("192.0.2.5", "2001:db8::5"), default=True,
                          gateway=("192.0.2.1",))]),
    ({}, False, [NetworkStatus("team-a/net-a", "net1")]),
])
def test_statuses_for(data, is_default, expected):
    assert statuses_for(delegate(is_default=is_default), result(**data)) == expected


class FakeKube:
    """The two writes publish_status makes; set_network_status may fail."""

    def __init__(self, fail=False):
        self.fail = fail
        self.statuses = []
        self.events = []

    def set_network_status(self, namespace, name, uid, status_json):
        if self.fail:
            raise Unreachable("pod team-a/web: connection refused", obj="team-a/web")
        self.statuses.append((namespace, name, uid, json.loads(status_json)))
        return True

    def record_event(self, pod, type_, reason, message):
        self.events.append((pod.name, type_, reason, message))
        return True


POD = Pod("team-a", "web", "uid-1")
ATT = PodAttachments("cid-1", NETNS, "team-a", "web", "uid-1", (
    delegate("cluster-net", "eth0", True), delegate("team-a/net-a", "net1")))
RESULTS = [result(interfaces=[{"name": "eth0", "sandbox": NETNS}],
                  ips=[{"address": "10.244.0.5/24", "interface": 0}]),
           result()]  # an attachment with nothing to show: no event


def test_publish_status_writes_every_entry_and_one_event_per_attachment():
    kube = FakeKube()
    publish_status(kube, POD, ATT, RESULTS)
    assert kube.statuses == [("team-a", "web", "uid-1", [
        {"name": "cluster-net", "interface": "eth0", "ips": ["10.244.0.5"], "default": True,
         "dns": {}},
        {"name": "team-a/net-a", "interface": "net1", "dns": {}}])]
    assert kube.events == [("web", "Normal", "AddedInterface",
                            "Add eth0 [10.244.0.5/24] from cluster-net")]


def test_publish_status_of_a_static_pod_uses_the_mirror_pods_uid():
    """CNI_ARGS of a static pod carry the kubelet's UID; the precondition must be the UID
    of the pod object the API has, or every write is a conflict."""
    kube = FakeKube()
    publish_status(kube, Pod("team-a", "web", "mirror-uid"), ATT, RESULTS)
    assert [s[2] for s in kube.statuses] == ["mirror-uid"]


def test_publish_status_api_failure_is_logged_not_raised(caplog):
    kube = FakeKube(fail=True)
    with caplog.at_level(logging.ERROR, logger="netattach"):
        publish_status(kube, POD, ATT, RESULTS)
    assert kube.events == []
    assert "cannot write network-status of team-a/web: pod team-a/web: connection refused" \
        in caplog.text


def test_clear_status():
    kube = FakeKube()
    clear_status(kube, POD)
    assert kube.statuses == [("team-a", "web", "uid-1", [])]
    clear_status(FakeKube(fail=True), POD)  # a failure only warns
