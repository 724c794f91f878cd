"""Meta plugin after ADD, end to end: default-route, DEL in bad weather, CHECK, GC, STATUS."""

from __future__ import annotations

import subprocess

import pytest
from tests.e2e.conftest import MODES

FIELD_REPORT = [{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]},
                {"name": "vlan200-conf", "ips": ["198.51.100.211/24"]}]


@pytest.fixture
def nads(e2e):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf", master=0))
    e2e.add_nad("vlan200-conf", e2e.macvlan_conf("vlan200-conf", master=1))
    return e2e


def _added(e2e, name, networks=FIELD_REPORT, **kw):
    pod = e2e.sandbox(name, networks=networks)
    rc, out = e2e.run_cni("ADD", pod, **kw)
    assert rc == 0, (out, e2e.last_stderr)
    return pod


# -- default-route ---------------------------------------------------------------------------
@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_default_route_moves_to_net1(nads):
    e2e = nads
    pod = _added(e2e, "gw", [{"name": "vlan200-conf", "ips": ["198.51.100.211/24"],
                              "default-route": ["198.51.100.1"]}])

    assert e2e.default_routes(pod.netns) == [("198.51.100.1", "net1")]
    status = e2e.network_status(pod)
    assert status[1]["interface"] == "net1" and status[1]["gateway"] == ["198.51.100.1"]
    assert "gateway" not in status[0]
    # the cached results were adjusted: CHECK agrees with what is in the pod
    rc, out = e2e.run_cni("CHECK", pod)
    assert (rc, out) == (0, None), (out, e2e.last_stderr)
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


def test_unreachable_default_route_gateway_fails_and_rolls_back(nads):
    e2e = nads
    pod = e2e.sandbox("badgw", networks=[{"name": "vlan100-conf", "ips": ["192.0.2.211/24"],
                                          "default-route": ["198.51.100.1"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["msg"].startswith(f'[default/badgw/{pod.uid}:vlan100-conf]: error adding '
                                 'container to network "vlan100-conf": cannot set the default '
                                 'route of net1 via 198.51.100.1'), out
    assert "192.0.2.211/24" in out["details"]
    e2e.assert_nothing_left(pod)


def test_without_default_route_the_cluster_keeps_it(nads):
    e2e = nads
    pod = _added(e2e, "nogw")
    assert e2e.default_routes(pod.netns) == [("203.0.113.1", "eth0")]
    assert e2e.run_cni("DEL", pod)[0] == 0


# -- DEL -------------------------------------------------------------------------------------
@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_del_with_the_api_down(nads):
    e2e = nads
    pod = _added(e2e, "down")
    e2e.srv.set_unreachable(True)

    for _ in range(2):  # DEL twice: the second finds nothing and still succeeds
        rc, out = e2e.run_cni("DEL", pod)
        assert (rc, out) == (0, None), e2e.last_stderr
    e2e.assert_nothing_left(pod)


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_del_after_the_pod_and_nads_are_deleted(nads):
    e2e = nads
    pod = _added(e2e, "deleted")
    e2e.api.delete_pod(pod.name)
    e2e.api.delete_nad("vlan100-conf")
    e2e.api.delete_nad("vlan200-conf")

    rc, out = e2e.run_cni("DEL", pod)

    assert (rc, out) == (0, None), e2e.last_stderr
    e2e.assert_nothing_left(pod)
    assert e2e.run_cni("DEL", pod)[0] == 0


def test_del_without_cache_recomputes_from_the_api(nads):
    e2e = nads
    pod = _added(e2e, "nocache")
    (e2e.cni_dir / pod.container_id).unlink()

    rc, out = e2e.run_cni("DEL", pod)

    assert (rc, out) == (0, None), e2e.last_stderr
    e2e.assert_nothing_left(pod)


def test_del_without_cache_and_without_pod_succeeds_and_says_why(nads):
    e2e = nads
    pod = e2e.sandbox("never", in_api=False)

    rc, out = e2e.run_cni("DEL", pod)

    assert (rc, out) == (0, None)
    assert "cannot properly delete" in e2e.last_stderr
    assert pod.container_id in e2e.last_stderr


def test_del_after_the_netns_is_gone(nads):
    e2e = nads
    pod = _added(e2e, "nsgone")
    subprocess.run(["ip", "netns", "del", pod.netns.name], check=True)

    rc, out = e2e.run_cni("DEL", pod)

    assert (rc, out) == (0, None), e2e.last_stderr
    assert e2e.cluster_allocations() == {}
    assert e2e.delegate_caches() == [] and e2e.result_caches() == []
    # ptp's host-side veth went with the namespace; nothing else of the pod is in the node
    assert e2e.links(e2e.node) == {"lo", "nic1", "nic2"}


# -- CHECK -----------------------------------------------------------------------------------
@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_check_passes_then_names_the_missing_interface(nads):
    e2e = nads
    pod = _added(e2e, "checked")
    rc, out = e2e.run_cni("CHECK", pod)
    assert (rc, out) == (0, None), (out, e2e.last_stderr)

    subprocess.run(["ip", "-n", pod.netns.name, "link", "del", "net1"], check=True)
    rc, out = e2e.run_cni("CHECK", pod)

    assert rc == 1
    assert "net1" in out["msg"] and "vlan100-conf" in out["msg"], out
    assert e2e.run_cni("DEL", pod)[0] == 0
    e2e.assert_nothing_left(pod)


# -- GC --------------------------------------------------------------------------------------
@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_gc_removes_stale_attachments_and_frees_secondary_ips(e2e):
    data = e2e.tmp / "secondary-ipam"
    e2e.add_nad("hl-net", e2e.macvlan_conf("hl-net", version="1.1.0", ipam={
        "type": "host-local", "dataDir": str(data),
        "ranges": [[{"subnet": "198.51.100.0/24", "rangeStart": "198.51.100.10",
                     "rangeEnd": "198.51.100.20"}]]}))
    keep = _added(e2e, "keep", "hl-net")
    stale = _added(e2e, "stale", "hl-net")
    [kept_ip] = [ip for ip, owner in e2e.allocations(data, "hl-net").items()
                 if owner.startswith(keep.container_id)]
    assert len(e2e.allocations(data, "hl-net")) == 2
    # the runtime lost the stale sandbox (its netns is gone, DEL never came)
    subprocess.run(["ip", "netns", "del", stale.netns.name], check=True)
    conf = e2e.meta_config(cniVersion="1.1.0", **{"cni.dev/valid-attachments": [
        {"containerID": keep.container_id, "ifname": "eth0"}]})

    rc, out = e2e.run_cni("GC", keep, config=conf)

    assert (rc, out) == (0, None), (out, e2e.last_stderr)
    assert e2e.delegate_caches() == [keep.container_id]
    assert e2e.allocations(data, "hl-net") == {kept_ip: f"{keep.container_id}\r\nnet1"}
    assert [owner.split()[0] for owner in e2e.cluster_allocations().values()] == [
        keep.container_id]
    assert all(stale.container_id not in c for c in e2e.result_caches())
    # the valid pod is untouched
    assert e2e.addresses(keep.netns, "net1") == [f"{kept_ip}/24"]
    rc, out = e2e.run_cni("CHECK", keep, config=conf)
    assert (rc, out) == (0, None), (out, e2e.last_stderr)


def test_status_passes_with_the_cluster_network_ready(nads):
    e2e = nads
    pod = e2e.sandbox("status")
    rc, out = e2e.run_cni("STATUS", pod, config=e2e.meta_config(cniVersion="1.1.0"))
    assert (rc, out) == (0, None), (out, e2e.last_stderr)


# -- DEL and network-status (as Multus thin's CmdDel) -----------------------------------------
@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_del_clears_network_status_while_the_pod_and_netns_exist(nads):
    e2e = nads
    pod = _added(e2e, "cleared")
    assert [s["interface"] for s in e2e.network_status(pod)] == ["eth0", "net1", "net2"]

    rc, out = e2e.run_cni("DEL", pod)

    assert (rc, out) == (0, None), e2e.last_stderr
    assert e2e.network_status(pod) == []
    e2e.assert_nothing_left(pod)


def test_del_keeps_network_status_of_a_terminating_pod_or_without_netns(nads):
    e2e = nads
    going = _added(e2e, "going")
    obj = e2e.api.pod("going")
    obj["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    from tests.kubeapi.server import PODS

    e2e.api.server.update(PODS, obj)
    assert e2e.run_cni("DEL", going)[0] == 0
    assert [s["interface"] for s in e2e.network_status(going)] == ["eth0", "net1", "net2"]

    gone = _added(e2e, "netns-gone")
    assert e2e.run_cni("DEL", gone, netns="")[0] == 0  # the runtime's second DEL
    assert [s["interface"] for s in e2e.network_status(gone)] == ["eth0", "net1", "net2"]


# -- a repeated ADD ----------------------------------------------------------------------------
def test_failed_repeated_add_keeps_the_first_adds_plan_for_del(nads):
    e2e = nads
    pod = _added(e2e, "twice")
    plan = e2e.cni_dir / pod.container_id
    first = plan.read_bytes()
    obj = e2e.api.pod("twice")  # the second ADD would plan only net1
    obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "vlan100-conf"
    from tests.kubeapi.server import PODS

    e2e.api.server.update(PODS, obj)

    rc, out = e2e.run_cni("ADD", pod)  # same container: its interfaces are already there

    assert rc != 0, out
    assert "eth0" in out["msg"] + out.get("details", ""), out
    assert plan.read_bytes() == first  # the failed ADD's rollback put the first plan back
    assert [s["interface"] for s in e2e.network_status(pod)] == ["eth0", "net1", "net2"]
    assert e2e.run_cni("DEL", pod)[0] == 0, e2e.last_stderr
    e2e.assert_nothing_left(pod)
