"""MetaConfig: the meta plugin's own keys (Multus v4's), defaults and validation."""

import pytest

from netattach.attach.config import MetaConfig
from netattach.cni.config import NetConf
from netattach.cni.errors import CNIError, Code


def load(**raw):
    return MetaConfig.from_netconf(NetConf.from_json(
        {"cniVersion": "1.0.0", "name": "netattach", "type": "netattach", **raw}))


def test_defaults():
    cfg = load(clusterNetwork="cluster")
    assert (cfg.name, cfg.cni_version, cfg.cluster_network) == ("netattach", "1.0.0", "cluster")
    assert cfg.default_networks == () and cfg.delegates == ()
    assert (cfg.kubeconfig, cfg.conf_dir, cfg.cni_dir, cfg.bin_dir) == (
        "", "/etc/cni/multus/net.d", "/var/lib/cni/multus", "/opt/cni/bin")
    assert cfg.namespace_isolation is False
    assert cfg.global_namespaces == ("default",)
    assert cfg.system_namespaces == ("kube-system",)
    assert cfg.multus_namespace == "kube-system"
    assert (cfg.readiness_indicator_file, cfg.retry_delete_on_error, cfg.log_file,
            cfg.log_level, cfg.log_to_stderr) == ("", False, "", "", True)
    assert dict(cfg.runtime_config) == {}


def test_every_key_read():
    cfg = load(clusterNetwork="/etc/cni/net.d", defaultNetworks=["a", "b"],
               kubeconfig="/etc/k", confDir="/c", cniDir="/d", binDir="/b",
               namespaceIsolation=True, globalNamespaces=["shared"],
               systemNamespaces=["kube-system", "infra"], multusNamespace="multus",
               readinessindicatorfile="/run/ready", retryDeleteOnError=True, logFile="/l",
               logLevel="debug", logToStderr=False,
               runtimeConfig={"portMappings": [{"hostPort": 80}]})
    assert (cfg.cluster_network, cfg.default_networks, cfg.kubeconfig, cfg.conf_dir,
            cfg.cni_dir, cfg.bin_dir, cfg.namespace_isolation, cfg.global_namespaces,
            cfg.system_namespaces, cfg.multus_namespace, cfg.readiness_indicator_file,
            cfg.retry_delete_on_error, cfg.log_file, cfg.log_level, cfg.log_to_stderr) == (
        "/etc/cni/net.d", ("a", "b"), "/etc/k", "/c", "/d", "/b", True, ("shared",),
        ("kube-system", "infra"), "multus", "/run/ready", True, "/l", "debug", False)
    assert dict(cfg.runtime_config) == {"portMappings": [{"hostPort": 80}]}


@pytest.mark.parametrize("value,expected", [
    ("default,shared", ("default", "shared")),
    (" default , shared ,, ", ("default", "shared")),
    ("", ()),
    (["x"], ("x",)),
    ([], ()),
    (None, ("default",)),  # null is absent
])
def test_global_namespaces_list_or_comma_string(value, expected):
    assert load(clusterNetwork="c", globalNamespaces=value).global_namespaces == expected


@pytest.mark.parametrize("key,value,expected", [
    ("clusterNetwork", 5, "string"),
    ("namespaceIsolation", "true", "boolean"),
    ("namespaceIsolation", 1, "boolean"),
    ("retryDeleteOnError", "yes", "boolean"),
    ("logToStderr", 0, "boolean"),
    ("confDir", ["/c"], "string"),
    ("kubeconfig", True, "string"),
    ("globalNamespaces", 5, "array or string"),
    ("defaultNetworks", {"a": 1}, "array or string"),
    ("delegates", {"type": "bridge"}, "array"),
])
def test_wrong_types_refused_naming_the_key(key, value, expected):
    raw = {"clusterNetwork": "c", key: value}
    with pytest.raises(CNIError) as e:
        load(**raw)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG == 7
    assert e.value.msg == f"netattach config: field {key!r} has the wrong type"
    assert e.value.details.startswith(f"{key} must be a {expected}, got ")


@pytest.mark.parametrize("key,value,problem", [
    ("globalNamespaces", ["a", 1], "globalNamespaces must be a list of strings"),
    ("systemNamespaces", [None], "systemNamespaces must be a list of strings"),
    ("defaultNetworks", [["a"]], "defaultNetworks must be a list of strings"),
    ("delegates", [{"type": "bridge", "name": "x"}, "bridge"],
     "every delegate must be a CNI config object"),
])
def test_invalid_values_refused_naming_the_key(key, value, problem):
    raw = {"clusterNetwork": "c", key: value}
    with pytest.raises(CNIError) as e:
        load(**raw)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == f"netattach config: {key} is invalid: {problem}"
    assert e.value.details.startswith("got ")


@pytest.mark.parametrize("key", ["clusterNetwork", "kubeconfig", "confDir", "cniDir", "binDir",
                                 "multusNamespace", "readinessindicatorfile", "logFile",
                                 "chrootDir"])
def test_a_path_or_name_with_a_nul_is_a_config_error(key):
    """Found by the fuzz suite: `"cniDir": "\\u0000"` was ValueError, "this is a bug"."""
    raw = {"clusterNetwork": "c", key: "/var/lib/\0x"}
    with pytest.raises(CNIError) as e:
        load(**raw)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == f"netattach config: {key} is invalid: it contains a NUL character"


def test_delegates_parsed_into_conflists():
    cfg = load(delegates=[
        {"cniVersion": "0.3.1", "name": "cbr0", "type": "flannel", "delegate": {"x": 1}},
        {"cniVersion": "1.0.0", "name": "chain", "plugins": [{"type": "bridge"},
                                                             {"type": "tuning"}]}])
    first, second = cfg.delegates
    assert (first.name, first.cni_version, [p["type"] for p in first.plugins]) == \
        ("cbr0", "0.3.1", ["flannel"])
    assert first.plugins[0]["delegate"] == {"x": 1}
    assert (second.name, [p["type"] for p in second.plugins]) == ("chain", ["bridge", "tuning"])


def test_a_broken_delegate_is_refused():
    with pytest.raises(CNIError) as e:
        load(delegates=[{"cniVersion": "1.0.0", "type": "bridge"}])
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == "missing network name"


@pytest.mark.parametrize("raw", [{}, {"clusterNetwork": ""}, {"delegates": []},
                                 {"clusterNetwork": None, "delegates": None}])
def test_needs_a_cluster_network(raw):
    with pytest.raises(CNIError) as e:
        load(**raw)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == "at least one delegate/clusterNetwork must be specified"
    assert "clusterNetwork" in e.value.details
