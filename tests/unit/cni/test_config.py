"""Network config and conflist parsing and validation."""

import json

import pytest

from netattach.cni import CNIError, Code, NetConf, NetConfList
from netattach.cni.config import (
    loads_object,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)


def conflist(**overrides):
    base = {"cniVersion": "1.0.0", "name": "vlan100-conf",
            "plugins": [{"type": "vlan", "master": "enp16s0f0", "vlanId": 100}]}
    base.update(overrides)
    return json.dumps(base).encode()


def test_conflist_basics():
    c = NetConfList.from_bytes(conflist(disableCheck="TRUE", disableGC=True))
    assert c.name == "vlan100-conf" and c.cni_version == "1.0.0"
    assert c.disable_check and c.disable_gc
    assert c.plugins[0]["vlanId"] == 100
    assert c.source == conflist(disableCheck="TRUE", disableGC=True)


def test_conflist_cni_versions_negotiated():
    c = NetConfList.from_bytes(conflist(cniVersion="0.4.0",
                                        cniVersions=["1.0.0", "1.1.0", "9.0.0"]))
    assert c.cni_version == "1.1.0"


@pytest.mark.parametrize("overrides,fragment", [
    ({"name": None}, "invalid name type"),
    ({"name": "bad name"}, "invalid characters found in network name"),
    ({"name": ""}, "missing network name"),
    ({"plugins": []}, "no plugins in list"),
    ({"plugins": {}}, "invalid 'plugins' type"),
    ({"plugins": [{"master": "x"}]}, "missing 'type'"),
    ({"plugins": ["x"]}, "failed to parse plugin config 0"),
    ({"disableCheck": "yes"}, "disableCheck"),
    ({"cniVersions": [1]}, "cniVersions"),
])
def test_conflist_errors(overrides, fragment):
    with pytest.raises(CNIError) as e:
        NetConfList.from_bytes(conflist(**overrides))
    assert fragment in e.value.msg
    assert e.value.details  # every error says what to do


def test_conflist_without_plugins_key():
    raw = json.dumps({"cniVersion": "1.0.0", "name": "n"}).encode()
    with pytest.raises(CNIError) as e:
        NetConfList.from_bytes(raw)
    assert "no 'plugins' key" in e.value.msg


def test_conf_wrapped_into_list():
    raw = {"cniVersion": "0.3.1", "name": "n", "type": "bridge"}
    c = NetConfList.from_any_bytes(json.dumps(raw))
    assert c.name == "n" and c.cni_version == "0.3.1" and c.plugins[0]["type"] == "bridge"


def test_netconf_fields():
    raw = {"cniVersion": "1.1.0", "name": "n", "type": "macvlan",
           "capabilities": {"ips": True, "mac": False},
           "ipam": {"type": "static"}, "dns": {"nameservers": ["192.0.2.53"]},
           "runtimeConfig": {"ips": ["192.0.2.9/24"]}, "args": {"cni": {"ips": ["192.0.2.8/24"]}},
           "prevResult": {"ips": [{"address": "192.0.2.9/24"}]},
           "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]}
    c = NetConf.from_json(raw)
    assert c.ipam_type == "static" and c.capabilities["ips"] is True
    assert c.runtime_config["ips"] == ["192.0.2.9/24"]
    assert c.cni_args["ips"] == ["192.0.2.8/24"]
    assert str(c.prev_result.ips[0].address) == "192.0.2.9/24"
    assert c.prev_result.cni_version == "1.1.0"  # read at the config's version
    assert c.valid_attachments[0].container_id == "c1"
    assert c.dns.nameservers == ("192.0.2.53",)


@pytest.mark.parametrize("raw", [
    {"name": "n", "cniVersion": 1},
    {"name": "n", "capabilities": {"ips": "yes"}},
    {"name": "n", "ipam": "static"},
    {"name": "n", "ipam": {"type": 3}},
    {"name": "n", "prevResult": []},
    {"name": "n", "cni.dev/valid-attachments": [{"containerID": "c"}]},
])
def test_netconf_type_errors_are_decoding_failures(raw):
    with pytest.raises(CNIError) as e:
        NetConf.from_json(raw)
    assert e.value.code == Code.DECODING_FAILURE


def test_missing_cni_version_means_010():
    assert NetConf.from_json({"name": "n"}).cni_version == "0.1.0"


@pytest.mark.parametrize("ifname,fragment", [
    ("", "empty"), ("a" * 16, "too long"), (".", ". or .."), ("..", ". or .."),
    ("a/b", "whitespace"), ("a:b", "whitespace"), ("a b", "whitespace"), ("a\tb", "whitespace"),
    ("a\x08", "control characters"), ("\x7f", "control characters"),
])
def test_ifname_rules(ifname, fragment):
    with pytest.raises(CNIError) as e:
        validate_ifname(ifname)
    assert e.value.code == Code.INVALID_ENVIRONMENT and fragment in e.value.msg


def test_ifname_ok():
    validate_ifname("a" * 15)
    validate_ifname("net1")


def test_container_id_and_name_rules():
    with pytest.raises(CNIError) as e:
        validate_container_id("bad id")
    assert e.value.code == Code.INVALID_ENVIRONMENT and e.value.details == "bad id"
    with pytest.raises(CNIError) as e:
        validate_container_id("")
    assert e.value.code == Code.UNKNOWN_CONTAINER
    with pytest.raises(CNIError) as e:
        validate_network_name("-x")
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    validate_container_id("0123abc.def_-x")


def test_lone_surrogates_decode_as_go_has_them():
    """Go's decoder turns an unpaired \\uD800-\\uDFFF escape into U+FFFD; a pair is one
    character; an escaped backslash before "ud800" is no escape at all."""
    raw = b'{"dataDir": "/x\\ud800", "k\\udfff": ["\\ud83d\\ude00", "\\\\ud800"]}'
    assert loads_object(raw) == {"dataDir": "/x\ufffd", "k\ufffd": ["\U0001f600", "\\ud800"]}
    assert loads_object('{"a": "\ud800"}') == {"a": "\ufffd"}


def test_deep_nesting_is_a_decoding_failure():
    for raw in (b"[" * 100_000, b'{"a": ' * 5000 + b'"\\ud800"' + b"}" * 5000):
        with pytest.raises(CNIError) as e:
            loads_object(raw)
        assert e.value.code == Code.DECODING_FAILURE
