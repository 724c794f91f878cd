"""plan_attachments: which networks a pod gets, in what order, under which names, asking what."""

import json

import pytest

from netattach.attach.plan import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORKS_ANNOTATION,
    NetworkNotFound,
    plan_attachments,
)
from netattach.cni.errors import CNIError, Code
from netattach.kube.models import Pod

from .support import meta_config, meta_request, nad_config

BASE_ARGS = [("IgnoreUnknown", "true"), ("K8S_POD_NAMESPACE", "team-a"), ("K8S_POD_NAME", "web"),
             ("K8S_POD_INFRA_CONTAINER_ID", "cid-1"), ("K8S_POD_UID", "uid-1")]


def pod(networks="", namespace="team-a", **annotations):
    if networks:
        annotations[NETWORKS_ANNOTATION] = networks
    return Pod(namespace, "web", "uid-1", annotations=annotations)


def plan(nads, networks="", conf=None, namespace="team-a", ifname="eth0", cni_args=None,
         **annotations):
    request = meta_request(conf, ifname=ifname, **({} if cni_args is None else
                                                   {"cni_args": cni_args}))
    return plan_attachments(meta_config(conf), request, pod(networks, namespace, **annotations),
                            nads)


def names(att):
    return [(d.name, d.network, d.ifname) for d in att.delegates]


def refused(nads, networks="", **kw) -> CNIError:
    with pytest.raises(CNIError) as e:
        plan(nads, networks, **kw)
    assert e.value.details  # every refusal says what to do
    return e.value


# -- interface names -----------------------------------------------------------------------

@pytest.mark.parametrize("default_networks,networks,expected", [
    ((), "", [("kube-system/cluster", "cluster-net", "eth0")]),
    ((), "net-a", [("kube-system/cluster", "cluster-net", "eth0"),
                   ("team-a/net-a", "a-net", "net1")]),
    # defaultNetworks come first: the first annotation network is net3
    (("dflt-1", "dflt-2"), "net-a", [("kube-system/cluster", "cluster-net", "eth0"),
                                     ("kube-system/dflt-1", "dflt-1-net", "net1"),
                                     ("kube-system/dflt-2", "dflt-2-net", "net2"),
                                     ("team-a/net-a", "a-net", "net3")]),
    # a named interface still uses up its position (Multus's how-to-use example)
    ((), "net-a@macvlan1,net-b", [("kube-system/cluster", "cluster-net", "eth0"),
                                  ("team-a/net-a", "a-net", "macvlan1"),
                                  ("team-a/net-b", "b-net", "net2")]),
    # the same NAD twice: two attachments
    ((), "net-a,net-a", [("kube-system/cluster", "cluster-net", "eth0"),
                         ("team-a/net-a", "a-net", "net1"), ("team-a/net-a", "a-net", "net2")]),
    ((), json.dumps([{"name": "net-b", "interface": "ext0"}, {"name": "net-x",
                                                               "namespace": "team-b"}]),
     [("kube-system/cluster", "cluster-net", "eth0"), ("team-a/net-b", "b-net", "ext0"),
      ("team-b/net-x", "x-net", "net2")]),
    # the legacy "interfaceRequest" key names the interface too
    ((), json.dumps([{"name": "net-a", "interfaceRequest": "legacy1"}]),
     [("kube-system/cluster", "cluster-net", "eth0"), ("team-a/net-a", "a-net", "legacy1")]),
])
def test_interface_names(nads, default_networks, networks, expected):
    att = plan(nads, networks, conf={"defaultNetworks": list(default_networks)})
    assert names(att) == expected
    assert [d.is_default for d in att.delegates] == [True] + [False] * (len(expected) - 1)


def test_cluster_network_is_cni_ifname(nads):
    att = plan(nads, "net-a", ifname="eth9")
    assert [d.ifname for d in att.delegates] == ["eth9", "net1"]


def test_attachments_carry_the_sandbox_and_pod(nads):
    att = plan(nads, "net-a")
    assert (att.container_id, att.netns, att.pod_namespace, att.pod_name, att.pod_uid) == \
        ("cid-1", "/run/netns/pod-1", "team-a", "web", "uid-1")


def test_system_namespace_pods_get_no_default_networks(nads):
    att = plan(nads, conf={"defaultNetworks": ["dflt-1"]}, namespace="kube-system",
               cni_args="K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=web;K8S_POD_UID=uid-1")
    assert [d.name for d in att.delegates] == ["kube-system/cluster"]
    att = plan(nads, conf={"defaultNetworks": ["dflt-1"], "systemNamespaces": ["other"]},
               namespace="kube-system")
    assert [d.name for d in att.delegates] == ["kube-system/cluster", "kube-system/dflt-1"]


def test_default_network_annotation_replaces_the_cluster_network(nads):
    att = plan(nads, "net-a", **{DEFAULT_NETWORK_ANNOTATION: "alt-cluster"})
    assert names(att) == [("kube-system/alt-cluster", "alt-net", "eth0"),
                          ("team-a/net-a", "a-net", "net1")]
    assert att.delegates[0].is_default


def test_default_network_annotation_missing_nad(nads):
    with pytest.raises(NetworkNotFound) as e:
        plan(nads, **{DEFAULT_NETWORK_ANNOTATION: "gone"})
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert "(gone) in namespace (kube-system)" in e.value.msg


# -- where the cluster network comes from --------------------------------------------------

def test_cluster_network_from_conf_dir_when_no_nad(nads, tmp_path):
    (tmp_path / "10-flannel.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "flannel"}]}))
    att = plan(nads, conf={"clusterNetwork": "cbr0", "confDir": str(tmp_path)})
    assert names(att) == [("cbr0", "cbr0", "eth0")]
    assert ("kube-system", "cbr0") in nads.asked  # the NAD is tried first


def test_cluster_network_from_a_file_path(nads, tmp_path):
    path = tmp_path / "10-calico.conf"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "k8s-pod-network",
                                "type": "calico"}))
    att = plan(nads, conf={"clusterNetwork": str(path)})
    assert names(att) == [("k8s-pod-network", "k8s-pod-network", "eth0")]
    assert [p["type"] for p in att.delegates[0].conflist.plugins] == ["calico"]
    assert nads.asked == []  # a path is never a NAD


def test_cluster_network_not_found(nads, tmp_path):
    err = refused(nads, conf={"clusterNetwork": "nowhere", "confDir": str(tmp_path)})
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert "cannot find network 'nowhere'" in err.msg
    assert "kube-system" in err.details and str(tmp_path) in err.details


def test_legacy_delegates_first_is_cluster_others_numbered(nads):
    conf = {"clusterNetwork": "", "delegates": [
        {"cniVersion": "1.0.0", "name": "first", "type": "bridge"},
        {"cniVersion": "1.0.0", "name": "second", "type": "macvlan"}]}
    att = plan(nads, "net-a", conf=conf)
    assert names(att) == [("first", "first", "eth0"), ("second", "second", "net1"),
                          ("team-a/net-a", "a-net", "net2")]


# -- namespace isolation --------------------------------------------------------------------

@pytest.mark.parametrize("isolation,global_namespaces,networks,allowed", [
    (False, None, "team-b/net-x", True),
    (True, None, "net-a", True),                      # the pod's own namespace
    (True, None, "team-a/net-a", True),
    (True, None, "default/net-d", True),              # "default" is global by default
    (True, None, "team-b/net-x", False),
    (True, ["shared"], "shared/net-s", True),
    (True, ["shared"], "default/net-d", False),       # the list replaces the default
    (True, "default, shared", "shared/net-s", True),  # Multus's comma-string form
    (True, "default, shared", "default/net-d", True),
    (True, "default, shared", "team-b/net-x", False),
])
def test_namespace_isolation(nads, isolation, global_namespaces, networks, allowed):
    conf = {"namespaceIsolation": isolation}
    if global_namespaces is not None:
        conf["globalNamespaces"] = global_namespaces
    if allowed:
        att = plan(nads, networks, conf=conf)
        assert len(att.delegates) == 2
        return
    err = refused(nads, networks, conf=conf)
    target = networks.split("/")[0]
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg == (f"team-a/web: namespace isolation enabled, annotation violates permission, "
                       f"pod is in namespace team-a but refers to target namespace {target}")
    assert f"list {target} in globalNamespaces" in err.details
    assert (target, networks.split("/")[1]) not in nads.asked  # refused before it is read


# -- default-route ---------------------------------------------------------------------------

@pytest.mark.parametrize("selections,family,listed", [
    ([{"name": "net-a", "default-route": ["192.0.2.1"]},
      {"name": "net-b", "default-route": ["192.0.2.254"]}],
     4, "192.0.2.1 (team-a/net-a), 192.0.2.254 (team-a/net-b)"),
    ([{"name": "net-a", "default-route": ["192.0.2.1", "198.51.100.1"]}],
     4, "192.0.2.1 (team-a/net-a), 198.51.100.1 (team-a/net-a)"),
    ([{"name": "net-a", "default-route": ["2001:db8::1"]},
      {"name": "net-b", "default-route": ["2001:db8:1::1", "192.0.2.1"]}],
     6, "2001:db8::1 (team-a/net-a), 2001:db8:1::1 (team-a/net-b)"),
])
def test_ecmp_refused(nads, selections, family, listed):
    err = refused(nads, json.dumps(selections))
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg == (f"team-a/web: netattach does not support ECMP for default-route: "
                       f"IPv{family} gateways {listed}")


def test_one_gateway_per_family_accepted(nads):
    att = plan(nads, json.dumps([{"name": "net-a", "default-route": ["192.0.2.1"]},
                                 {"name": "net-b", "default-route": ["2001:db8::1"]},
                                 {"name": "net-a", "default-route": []}, {"name": "net-b"}]))
    assert [d.default_route for d in att.delegates] == \
        [None, ("192.0.2.1",), ("2001:db8::1",), (), None]


# -- cni-args --------------------------------------------------------------------------------

def two_plugin_nad(nads, first_args):
    first = {"type": "macvlan", "master": "eth0"}
    if first_args is not None:
        first["args"] = first_args
    nads.nads[("team-a", "chain")] = json.dumps(
        {"cniVersion": "1.0.0", "name": "chain-net", "plugins": [first, {"type": "tuning"}]})


def test_cni_args_merged_into_every_plugin_annotation_wins(nads):
    two_plugin_nad(nads, {"cni": {"x": "nad", "y": "nad"}, "other": 1})
    att = plan(nads, json.dumps([{"name": "chain", "cni-args": {"x": "pod", "z": [1, 2]}}]))
    cluster, chain = att.delegates
    assert [dict(p).get("args") for p in chain.conflist.plugins] == [
        {"cni": {"x": "pod", "y": "nad", "z": [1, 2]}, "other": 1},
        {"cni": {"x": "pod", "z": [1, 2]}}]
    assert chain.conflist.name == "chain-net"
    assert [dict(p).get("master") for p in chain.conflist.plugins] == ["eth0", None]
    assert "args" not in cluster.conflist.plugins[0]  # only the annotated network


def test_no_cni_args_leaves_the_conflist_alone(nads):
    two_plugin_nad(nads, None)
    _, chain = plan(nads, json.dumps([{"name": "chain", "cni-args": {}}])).delegates
    assert ["args" in p for p in chain.conflist.plugins] == [False, False]


@pytest.mark.parametrize("bad_args", ["text", [1], {"cni": "text"}, {"cni": [1]}])
def test_cni_args_refused_when_plugin_args_is_not_an_object(nads, bad_args):
    two_plugin_nad(nads, bad_args)
    err = refused(nads, json.dumps([{"name": "chain", "cni-args": {"x": "pod"}}]))
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg == ("network 'chain-net': cannot add the annotation's cni-args: plugin "
                       "'macvlan' has \"args\" that is not an object with a \"cni\" object")


# -- what the pod asks for --------------------------------------------------------------------

def test_requests_become_capability_args_and_cni_args(nads):
    att = plan(nads, json.dumps([{
        "name": "net-a", "ips": ["192.0.2.5/24", "2001:db8::5/64"], "mac": "02:00:00:00:00:05",
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1000, "egressBurst": 20},
        "infiniband-guid": "00:11:22:33:44:55:66:77", "deviceID": "0000:03:00.1"}]))
    cluster, d = att.delegates
    assert dict(d.capability_args) == {
        "ips": ["192.0.2.5/24", "2001:db8::5/64"], "mac": "02:00:00:00:00:05",
        "infinibandGUID": "00:11:22:33:44:55:66:77", "deviceID": "0000:03:00.1",
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1000, "ingressBurst": 0, "egressRate": 0,
                      "egressBurst": 20}}
    assert list(d.cni_args) == BASE_ARGS + [("IP", "192.0.2.5/24,2001:db8::5/64"),
                                            ("MAC", "02:00:00:00:00:05")]
    assert d.requested_ips == ("192.0.2.5/24", "2001:db8::5/64")
    # the cluster network asks for nothing of that
    assert dict(cluster.capability_args) == {} and list(cluster.cni_args) == BASE_ARGS
    assert cluster.requested_ips == ()


def test_no_requests_no_capability_args(nads):
    _, d = plan(nads, "net-a").delegates
    assert dict(d.capability_args) == {} and list(d.cni_args) == BASE_ARGS
    assert d.requested_ips == () and d.default_route is None


def test_runtime_config_goes_to_the_cluster_network_without_pod_annotations(nads):
    conf = {"runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 8080}],
                              "io.kubernetes.cri.pod-annotations": {"a": "b"}}}
    cluster, d = plan(nads, "net-a", conf=conf).delegates
    assert dict(cluster.capability_args) == {
        "portMappings": [{"hostPort": 80, "containerPort": 8080}]}
    assert dict(d.capability_args) == {}


def test_runtime_cni_args_passed_on_pod_keys_from_the_pod(nads):
    args = ("IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=uid-1;"
            "K8S_POD_INFRA_CONTAINER_ID=stale;FOO=bar")
    cluster, d = plan(nads, "net-a", cni_args=args).delegates
    assert list(cluster.cni_args) == BASE_ARGS + [("FOO", "bar")]
    assert list(d.cni_args) == BASE_ARGS + [("FOO", "bar")]


def test_without_a_pod_only_the_cluster_network(nads):
    request = meta_request()
    att = plan_attachments(meta_config(), request, None, nads)
    assert names(att) == [("kube-system/cluster", "cluster-net", "eth0")]
    assert (att.pod_namespace, att.pod_name, att.pod_uid) == ("", "", "")
    assert list(att.delegates[0].cni_args) == [
        ("IgnoreUnknown", "true"), ("K8S_POD_NAMESPACE", "team-a"), ("K8S_POD_NAME", "web"),
        ("K8S_POD_UID", "uid-1")]


# -- NADs that are not there, or have no config ----------------------------------------------

def test_missing_nad_is_network_not_found(nads):
    with pytest.raises(NetworkNotFound) as e:
        plan(nads, "net-a,nope")
    err = e.value
    assert isinstance(err, CNIError) and err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg.startswith("team-a/web: cannot find a network-attachment-definition (nope) "
                              "in namespace (team-a): ")
    assert "kubectl get net-attach-def -n team-a" in err.details


def test_nad_without_config_found_in_conf_dir(nads, tmp_path):
    nads.nads[("team-a", "net-e")] = ""
    (tmp_path / "20-e.conf").write_text(nad_config("net-e", "host-device", device="eth5"))
    (tmp_path / "10-other.conf").write_text(nad_config("other", "bridge"))
    _, d = plan(nads, "net-e", conf={"confDir": str(tmp_path)}).delegates
    assert (d.name, d.network, d.ifname) == ("team-a/net-e", "net-e", "net1")
    assert dict(d.conflist.plugins[0])["device"] == "eth5"


def test_nad_without_config_and_no_file(nads, tmp_path):
    nads.nads[("team-a", "net-e")] = "  "
    err = refused(nads, "net-e", conf={"confDir": str(tmp_path)})
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg == (f"NetworkAttachmentDefinition team-a/net-e has no spec.config and no "
                       f'file in {tmp_path} has "name": "net-e"')


def test_nad_with_broken_config(nads):
    nads.nads[("team-a", "net-e")] = '{"cniVersion": "1.0.0", "name": '
    err = refused(nads, "net-e")
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg.startswith("NetworkAttachmentDefinition team-a/net-e: spec.config is not a "
                              "JSON object: ")
    assert "kubectl edit net-attach-def -n team-a net-e" in err.details


def test_nad_config_without_name_gets_the_nad_name(nads):
    nads.nads[("team-a", "net-e")] = json.dumps({"cniVersion": "1.0.0", "type": "macvlan"})
    _, d = plan(nads, "net-e").delegates
    assert d.network == "net-e"


def test_annotation_without_api(nads):
    request = meta_request()
    with pytest.raises(CNIError) as e:
        plan_attachments(meta_config({"clusterNetwork": "", "delegates": [
            {"cniVersion": "1.0.0", "name": "first", "type": "bridge"}]}), request,
            pod("net-a"), None)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == "team-a/web: network team-a/net-a needs the Kubernetes API"


def test_bad_annotation_refused(nads):
    err = refused(nads, "net-a,Bad_Name")
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert NETWORKS_ANNOTATION in err.msg and "element 2" in err.msg
    assert err.details == "fix the pod's annotation; nothing was attached"
    assert nads.asked == []  # refused before any NAD is read


# -- one name per interface --------------------------------------------------------------------

@pytest.mark.parametrize("networks,network,ifname,first,second", [
    ("net-a@net2,net-b", "b-net", "net2", "team-a/net-a", "team-a/net-b"),
    ("net-a@eth0", "a-net", "eth0", "kube-system/cluster", "team-a/net-a"),
    ("net-a@ext0,net-b@ext0", "b-net", "ext0", "team-a/net-a", "team-a/net-b"),
])
def test_duplicate_interface_names_refused(nads, networks, network, ifname, first, second):
    err = refused(nads, networks)
    assert err.code == Code.INVALID_NETWORK_CONFIG
    assert err.msg == (f'[team-a/web/uid-1:{network}]: error adding container to network '
                       f'"{network}": interface name {ifname} is requested twice ({first} and '
                       f"{second})")
