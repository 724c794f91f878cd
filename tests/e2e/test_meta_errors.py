"""Meta plugin ADD failures end to end: what fails, with which error, and what is left.

ADD either fully succeeds or leaves nothing: no pod interface, no host-local allocation,
no delegate or result cache.
"""

from __future__ import annotations

import subprocess

import pytest
from tests.e2e.conftest import MODES

NETWORKS = "k8s.v1.cni.cncf.io/networks"

BAD_ANNOTATIONS = {
    "bad-json": ('[{"name": "vlan100-conf"', "is not valid JSON"),
    "bad-name": ('[{"name": "Vlan_100"}]', "Vlan_100"),
    "bad-short-name": ("vlan100-conf, Bad_Net", "Bad_Net"),
    "bad-ip": ('[{"name": "vlan100-conf", "ips": ["192.0.2.300/24"]}]', "192.0.2.300"),
    "bad-mac": ('[{"name": "vlan100-conf", "mac": "02:00:00:zz:00:01"}]', "02:00:00:zz:00:01"),
    "long-ifname": ('[{"name": "vlan100-conf", "interface": "a-very-long-name0"}]',
                    "a-very-long-name0"),
    "long-short-ifname": ("vlan100-conf@a-very-long-name0", "a-very-long-name0"),
}


@pytest.mark.parametrize("annotation,named", BAD_ANNOTATIONS.values(), ids=BAD_ANNOTATIONS)
def test_invalid_annotation_fails_before_any_plugin(e2e, annotation, named):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf"))
    pod = e2e.sandbox("bad", annotations={NETWORKS: annotation})

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["code"] == 7, out
    assert named in out["msg"] and "default/bad" in out["msg"], out
    assert out["details"]
    e2e.assert_nothing_left(pod)
    assert not e2e.cluster_data_dir.exists()  # host-local never ran
    assert e2e.delegate_caches() == []


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_missing_nad_is_named_with_an_event(e2e):
    e2e.add_nad("present", e2e.macvlan_conf("present", ipam={}))
    pod = e2e.sandbox("lonely", networks="present, absent-net")

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert "absent-net" in out["msg"] and "namespace (default)" in out["msg"], out
    assert "kubectl get net-attach-def -n default" in out["details"]
    shown = f"{out['msg']}; {out['details']}"  # what libcni (containerd, CRI-O) prints
    assert shown.count("kubectl get net-attach-def") == 1, shown
    assert shown.count("create it") == 1, shown
    [event] = e2e.events(pod, "NoNetworkFound")
    assert "absent-net" in event
    assert not e2e.cluster_data_dir.exists()
    e2e.assert_nothing_left(pod)


@pytest.mark.parametrize("target,global_namespaces,allowed", [
    ("other/net-x", None, False),          # another team's namespace
    ("default/net-x", None, True),         # "default" is global by default
    ("other/net-x", "default,other", True),
    ("team-a/net-x", None, True),          # the pod's own namespace
])
def test_namespace_isolation(e2e, target, global_namespaces, allowed):
    for ns in ("other", "default", "team-a"):
        e2e.add_nad("net-x", e2e.macvlan_conf("net-x", ipam={}), namespace=ns)
    pod = e2e.sandbox("iso", namespace="team-a", networks=target)
    conf = e2e.meta_config(namespaceIsolation=True, globalNamespaces=global_namespaces)

    rc, out = e2e.run_cni("ADD", pod, config=conf)

    if allowed:
        assert rc == 0, (out, e2e.last_stderr)
        assert e2e.network_status(pod)[1]["name"] == target
        assert e2e.run_cni("DEL", pod, config=conf)[0] == 0
    else:
        assert rc == 1
        assert "namespace isolation enabled" in out["msg"]
        assert "pod is in namespace team-a but refers to target namespace other" in out["msg"]
        assert not e2e.cluster_data_dir.exists()
    e2e.assert_nothing_left(pod)


def test_requested_eth0_collides_with_the_cluster_network(e2e):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf"))
    pod = e2e.sandbox("clash", networks=[{"name": "vlan100-conf", "interface": "eth0",
                                          "ips": ["192.0.2.211/24"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["msg"].startswith(f"[default/clash/{pod.uid}:vlan100-conf]: error adding "
                                 'container to network "vlan100-conf": '), out
    assert "eth0" in out["msg"]
    e2e.assert_nothing_left(pod)


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_existing_net1_in_the_pod_rolls_back_and_survives(e2e):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf"))
    pod = e2e.sandbox("taken", networks=[{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]}])
    # the pod already has a net1 that netattach did not create
    subprocess.run(["ip", "-n", pod.netns.name, "link", "add", "net1", "type", "veth", "peer",
                    "name", "mine"], check=True)

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["msg"] == (f"[default/taken/{pod.uid}:vlan100-conf]: error adding container to "
                          'network "vlan100-conf": interface name net1 already exists in the pod')
    # eth0 was added, then rolled back; the pod's own net1 is not ours to delete
    assert e2e.links(pod.netns) == {"lo", "net1", "mine"}
    assert e2e.cluster_allocations() == {}
    assert e2e.delegate_caches() == [] and e2e.result_caches() == []


def test_ips_outside_the_host_local_range_fail_and_roll_back(e2e):
    data = e2e.tmp / "secondary-ipam"
    e2e.add_nad("hl-net", e2e.macvlan_conf("hl-net", ipam={
        "type": "host-local", "dataDir": str(data),
        "ranges": [[{"subnet": "198.51.100.0/24", "rangeStart": "198.51.100.10",
                     "rangeEnd": "198.51.100.20"}]]}, capabilities={"ips": True}))
    pod = e2e.sandbox("outside", networks=[{"name": "hl-net", "ips": ["198.51.100.211/24"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["msg"].startswith(f'[default/outside/{pod.uid}:hl-net]: error adding container '
                                 'to network "hl-net": '), out
    assert "198.51.100.211" in out["msg"]
    e2e.assert_nothing_left(pod, (data, "hl-net"))


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_ips_ignored_by_the_plugin_fail_and_roll_back(e2e):
    e2e.add_nad("no-ipam", e2e.macvlan_conf("no-ipam", ipam={}))
    pod = e2e.sandbox("ignored", networks=[{"name": "no-ipam", "ips": ["198.51.100.211/24"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert out["msg"].startswith(f'[default/ignored/{pod.uid}:no-ipam]: error adding container '
                                 'to network "no-ipam": requested ips 198.51.100.211/24'), out
    assert "macvlan" in out["details"], out
    e2e.assert_nothing_left(pod)


def test_default_route_ecmp_is_refused(e2e):
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf"))
    e2e.add_nad("vlan200-conf", e2e.macvlan_conf("vlan200-conf", master=1))
    pod = e2e.sandbox("ecmp", networks=[
        {"name": "vlan100-conf", "ips": ["192.0.2.211/24"], "default-route": ["192.0.2.1"]},
        {"name": "vlan200-conf", "ips": ["198.51.100.211/24"],
         "default-route": ["198.51.100.1"]}])

    rc, out = e2e.run_cni("ADD", pod)

    assert rc == 1
    assert "ECMP" in out["msg"] and "192.0.2.1" in out["msg"] and "198.51.100.1" in out["msg"]
    assert not e2e.cluster_data_dir.exists()
    e2e.assert_nothing_left(pod)


def test_missing_readiness_indicator_is_try_again_later(e2e):
    pod = e2e.sandbox("early")
    conf = e2e.meta_config(readinessindicatorfile=str(e2e.tmp / "never" / "ready"))

    rc, out = e2e.run_cni("ADD", pod, config=conf, env={"NETATTACH_READINESS_TIMEOUT": "1"})

    assert rc == 1
    assert out["code"] == 11, out
    assert "readinessindicatorfile" in out["msg"] and str(e2e.tmp / "never") in out["msg"]
    e2e.assert_nothing_left(pod)
    # once the file exists, the same ADD goes through
    (e2e.tmp / "never").mkdir()
    (e2e.tmp / "never" / "ready").write_text("")
    rc, out = e2e.run_cni("ADD", pod, config=conf, env={"NETATTACH_READINESS_TIMEOUT": "1"})
    assert rc == 0, (out, e2e.last_stderr)
    assert e2e.run_cni("DEL", pod, config=conf)[0] == 0
    e2e.assert_nothing_left(pod)
