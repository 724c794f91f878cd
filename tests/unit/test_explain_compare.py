"""netattach.explain.compare on synthetic inputs: the findings the e2e tests cannot stage
cheaply (network-status that lies, a changed annotation, a replaced interface, a stale
sandbox of an earlier pod), the exit-code rules, and the table."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from netattach.attach.config import MetaConfig
from netattach.attach.delegate_cache import Delegate, PodAttachments
from netattach.attach.networks import as_conflist
from netattach.cni.config import NetConf
from netattach.cni.result_cache import CachedAttachment
from netattach.doctor.findings import Finding as DoctorFinding
from netattach.explain.compare import explain
from netattach.explain.model import (
    ExplainInputError,
    ExplainOptions,
    Gathered,
    LinkView,
    NetnsView,
    Planned,
    SandboxCache,
)
from netattach.explain.report import render_text, table
from netattach.kube.models import Pod
from netattach.kube.network_status import NetworkStatus

NETNS = "/run/netns/pod-a"
CID = "c0ffee" * 6
UID = "uid-1"
MAC1 = "02:00:00:00:00:01"


def _cfg() -> MetaConfig:
    return MetaConfig.from_netconf(NetConf.from_json({
        "cniVersion": "1.0.0", "name": "netattach", "type": "netattach",
        "clusterNetwork": "/etc/cni/net.d/10-x.conflist", "cniDir": "/var/lib/cni/multus"}))


def _delegate(name: str, ifname: str, master: str = "nic1", default: bool = False
              ) -> Delegate:
    net = name.rpartition("/")[2]
    conf = ({"cniVersion": "1.0.0", "name": net, "type": "ptp"} if default else
            {"cniVersion": "1.0.0", "name": net, "type": "macvlan", "master": master,
             "ipam": {"type": "static"}})
    return Delegate(name=name, conflist=as_conflist(conf), ifname=ifname, is_default=default)


ETH0 = _delegate("cluster", "eth0", default=True)
NET1 = _delegate("default/net-a", "net1")


def _result(ifname: str, ip: str, mac: str) -> CachedAttachment:
    return CachedAttachment(ifname.join("nn"), CID, ifname, b"", result={
        "cniVersion": "1.0.0",
        "interfaces": [{"name": ifname, "mac": mac, "sandbox": NETNS}],
        "ips": [{"address": ip, "interface": 0}]})


def _gathered(**changes) -> Gathered:
    """A healthy pod: eth0 (ptp) and net1 (macvlan on nic1), everything matching."""
    att = PodAttachments(CID, NETNS, "default", "pod-a", UID, (ETH0, NET1))
    sandbox = SandboxCache(att, f"/var/lib/cni/multus/{CID}", 1.0, True)
    g = Gathered(
        namespace="default", name="pod-a", cfg=_cfg(), config_source="/etc/x.conflist",
        api="https://api", pod=Pod("default", "pod-a", UID, "node-1"), pod_found=True,
        cache_count=1, sandboxes=(sandbox,), chosen=sandbox,
        planned=(Planned(ETH0, "file"), Planned(NET1)),
        results={"eth0": _result("eth0", "203.0.113.5/24", "02:00:00:00:00:0e"),
                 "net1": _result("net1", "192.0.2.5/24", MAC1)},
        netns=NetnsView(NETNS, True, (
            LinkView("lo", "", "00:00:00:00:00:00", 65536, True, "UNKNOWN", ("127.0.0.1/8",)),
            LinkView("eth0", "veth", "02:00:00:00:00:0e", 1500, True, "UP",
                     ("203.0.113.5/24",)),
            LinkView("net1", "macvlan", MAC1, 1500, True, "UP", ("192.0.2.5/24",)))),
        node={"nic1": LinkView("nic1", "veth", "02:aa:00:00:00:01", 1500, True, "UP")},
        status=(NetworkStatus("cluster", "eth0", ("203.0.113.5",), "02:00:00:00:00:0e",
                              default=True),
                NetworkStatus("default/net-a", "net1", ("192.0.2.5",), MAC1)))
    return replace(g, **changes)


def _ids(e) -> list[str]:
    return [f.id for f in e.findings]


def test_a_healthy_pod_matches():
    e = explain(_gathered())
    assert e.findings == () and e.exit_code == 0
    assert [(r.interface, r.cache, r.in_pod, r.node_state, r.status) for r in e.rows] == [
        ("eth0", "ok", "up", "-", "ok"), ("net1", "ok", "up", "ok", "ok")]


def test_network_status_that_lies_is_a_mismatch():
    g = _gathered()
    status = (g.status[0], replace(g.status[1], mac="02:00:00:00:00:99", ips=("192.0.2.9",)),
              NetworkStatus("default/gone", "net2", ("192.0.2.7",)))
    e = explain(replace(g, status=status))
    assert _ids(e) == ["status-differs", "status-extra"]
    differs = e.findings[0]
    assert differs.interfaces == ("net1",) and differs.severity == "warning"
    assert "ips: network-status ['192.0.2.9'], result cache ['192.0.2.5']" in differs.evidence
    assert e.rows[1].status == "differs" and e.exit_code == 1


def test_no_network_status_is_one_finding_for_the_pod():
    e = explain(_gathered(status=None))
    [f] = e.findings
    assert (f.id, f.interfaces) == ("status-missing", ("eth0", "net1"))
    assert "k8s.v1.cni.cncf.io/network-status: absent" in f.evidence


def test_a_changed_annotation():
    net1b = _delegate("default/net-b", "net1", master="nic2")
    net2 = _delegate("default/net-c", "net2")
    e = explain(_gathered(planned=(Planned(ETH0, "file"), Planned(net1b), Planned(net2))))
    assert _ids(e) == ["attachment-differs", "not-attached"]
    assert e.findings[0].title == ("net1 is default/net-b in the pod's annotations, but "
                                   "default/net-a was attached as net1")
    e = explain(_gathered(planned=(Planned(ETH0, "file"),)))
    assert _ids(e) == ["not-in-annotation"] and e.exit_code == 1


def test_a_replaced_interface_and_a_lost_address():
    g = _gathered()
    links = (*g.netns.links[:2], LinkView("net1", "veth", "02:00:00:00:00:77", 1500, True,
                                          "UP", ()))
    e = explain(replace(g, netns=replace(g.netns, links=links)))
    assert _ids(e) == ["address-missing", "interface-kind", "mac-differs"]
    assert e.findings[0].fix[0] == "ip -n pod-a addr add 192.0.2.5/24 dev net1"


def test_a_master_that_went_down_or_away():
    e = explain(_gathered(node={"nic1": replace(_gathered().node["nic1"], admin_up=False)}))
    assert _ids(e) == ["node-device-down"] and e.rows[1].node_state == "down"
    assert e.findings[0].fix == ("ip link set nic1 up, and make it permanent in the host's "
                                 "network config",)
    e = explain(_gathered(node={"nic1": None}))
    assert _ids(e) == ["node-device-missing"] and e.findings[0].reason == "MasterMissing"


def test_a_sandbox_of_an_earlier_pod_with_the_same_name():
    old = _gathered().chosen
    old = replace(old, attachments=replace(old.attachments, pod_uid="uid-0"),
                  netns_exists=False)
    e = explain(_gathered(sandboxes=(old,), chosen=None, results={}, netns=None))
    assert _ids(e) == ["never-added", "stale-sandbox"]
    stale = e.findings[1]
    assert "it records pod UID uid-0, the pod in the API has UID uid-1: a previous pod of " \
           "the same name" in stale.evidence
    assert stale.fix[0].startswith(f"remove the sandbox with the runtime: crictl stopp {CID[:13]}")
    assert [r.cache for r in e.rows] == ["none", "none"]


def test_preflight_warnings_and_notes_do_not_fail_explain():
    warning = DoctorFinding("duplicate-address-node", "warning", "192.0.2.5 is on eth9 too",
                            ("x",), ("y",), "default/net-a", "DuplicateAddress")
    e = explain(_gathered(preflight=(warning,)))
    assert _ids(e) == ["duplicate-address-node"] and e.exit_code == 0
    assert e.findings[0].source == "preflight" and e.findings[0].interfaces == ("net1",)
    assert e.rows[1].problems == ("duplicate-address-node",)
    error = replace(warning, severity="error")
    assert explain(_gathered(preflight=(error,))).exit_code == 1
    cache_only = explain(_gathered(pod=None, pod_found=None, status=None,
                                   api="", api_note="--no-api"))
    assert _ids(cache_only) == ["cache-only"] and cache_only.exit_code == 0
    assert [r.status for r in cache_only.rows] == ["unknown", "unknown"]


def test_the_table_lines_up_like_kubectl():
    e = explain(_gathered(node={"nic1": None}))
    lines = table(e.rows)
    assert re.split(r"\s{2,}", lines[0]) == ["NETWORK", "INTERFACE", "TYPE", "NAD", "CACHE",
                                     "IN POD", "NODE", "STATUS", "PROBLEM"]
    starts = [line.index("eth0") if "eth0" in line else line.index("net1")
              for line in lines[1:]]
    assert starts == [lines[0].index("INTERFACE")] * 2
    assert lines[2].split() == ["default/net-a", "net1", "macvlan", "found", "ok", "up",
                                "missing", "ok", "node-device-missing"]
    text = render_text(e)
    assert "ERROR   node-device-missing" in text
    assert text.rstrip().endswith("1 problem(s): 1 error(s), 0 mismatch warning(s)")


@pytest.mark.parametrize(("pod", "namespace", "ref"), [
    ("web", "", ("default", "web")), ("prod/web", "", ("prod", "web")),
    ("web", "prod", ("prod", "web")), ("prod/web", "prod", ("prod", "web"))])
def test_pod_references(pod, namespace, ref):
    assert ExplainOptions(pod, namespace).pod_ref() == ref


@pytest.mark.parametrize(("pod", "namespace", "says"), [
    ("prod/web", "dev", "names namespace prod but -n says dev"),
    ("../x", "", "invalid namespace '..'"), ("Web", "", "invalid pod name 'Web'")])
def test_bad_pod_references(pod, namespace, says):
    with pytest.raises(ExplainInputError, match=says):
        ExplainOptions(pod, namespace).pod_ref()
