"""k8s.v1.cni.cncf.io/networks and v1.multus-cni.io/default-network parsing (Multus v4 rules)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netattach.kube.annotations import (
    AnnotationError,
    Bandwidth,
    NetworkSelection,
    PortMapping,
    parse_default_network,
    parse_networks,
    thaw,
    validate_interface_name,
)


def parse(value: str) -> tuple[NetworkSelection, ...]:
    return parse_networks(value, "default", "vlan-multi")


def error_of(value: str) -> str:
    with pytest.raises(AnnotationError) as info:
        parse(value)
    return str(info.value)


# --- comma form ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("net-a", [("default", "net-a", None)]),
        ("other/net-a", [("other", "net-a", None)]),
        ("net-a@eth1", [("default", "net-a", "eth1")]),
        ("other/net-a@eth1", [("other", "net-a", "eth1")]),
        (
            " net-a , other / net-b @ eth2 ",
            [("default", "net-a", None), ("other", "net-b", "eth2")],
        ),
        ("net-a,net-a", [("default", "net-a", None), ("default", "net-a", None)]),
        ("0abc", [("default", "0abc", None)]),
        ("null", [("default", "null", None)]),  # no JSON character: comma form, as in Multus
        ("a@vlan100.1", [("default", "a", "vlan100.1")]),
    ],
)
def test_comma_form(value: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert [(n.namespace, n.name, n.interface) for n in parse(value)] == expected


@pytest.mark.parametrize("value", ["", "   ", "\n\t", "[]", " [ ] "])
def test_empty_selects_nothing(value: str) -> None:
    assert parse(value) == ()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Net-A", 'network name "Net-A"'),
        ("net_a", 'network name "net_a"'),
        ("-net", 'network name "-net"'),
        ("net.a", 'network name "net.a"'),
        ("NS/net", 'namespace "NS"'),
        ("a/b/c", "more than one '/'"),
        ("a@b@c", "more than one '@'"),
        ("net-a@", 'interface name "" is empty'),
        ("net-a@averyveryverylongname", "at most 15"),
        ("net-a@eth:1", "cannot contain"),
        ("net-a@..", "reserved"),
        ("net-a,,net-b", "element 2: is empty"),
        ("net-a,", "element 2: is empty"),
        ("/net-a", 'namespace ""'),
    ],
)
def test_comma_form_errors(value: str, fragment: str) -> None:
    message = error_of(value)
    assert message.startswith("pod default/vlan-multi: annotation k8s.v1.cni.cncf.io/networks")
    assert fragment in message


def test_comma_form_error_names_element_and_rule() -> None:
    message = error_of("net-a, Bad_Name")
    assert message == (
        "pod default/vlan-multi: annotation k8s.v1.cni.cncf.io/networks element 2: network "
        'name "Bad_Name" in "Bad_Name" is not valid: use lower-case letters, digits and \'-\', '
        "starting and ending with a letter or digit"
    )


# --- JSON form ----------------------------------------------------------------------


def test_field_report_annotation() -> None:
    # The blog's pod, as the YAML single-quoted scalar folds it (newlines -> spaces).
    value = (
        '[ { "name": "vlan100-conf", "ips": [ "192.168.100.211/24" ] }, { "name": '
        '"vlan200-conf", "ips": [ "192.168.200.211/24" ] } ]'
    )
    assert parse(value) == (
        NetworkSelection(name="vlan100-conf", namespace="default", ips=("192.168.100.211/24",)),
        NetworkSelection(name="vlan200-conf", namespace="default", ips=("192.168.200.211/24",)),
    )


def test_json_all_keys() -> None:
    value = json.dumps(
        [
            {
                "name": "sriov-net",
                "namespace": "net-ns",
                "interface": "eth9",
                "ips": ["10.0.0.5/24", "fd00::5", "10.1.1.1"],
                "mac": "02:00:00:00:00:05",
                "default-route": ["10.0.0.1", "fd00::1"],
                "cni-args": {"foo": {"bar": [1, 2]}, "x": True},
                "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                "bandwidth": {
                    "ingressRate": 1000,
                    "ingressBurst": 10,
                    "egressRate": 2000,
                    "egressBurst": 20,
                },
                "infiniband-guid": "00:11:22:33:44:55:66:77",
                "deviceID": "0000:03:00.1",
                "ipam-claim-reference": "ignored-by-multus",
            }
        ]
    )
    (sel,) = parse(value)
    assert sel.namespace == "net-ns" and sel.name == "sriov-net" and sel.key == "net-ns/sriov-net"
    assert sel.interface == "eth9"
    assert sel.ips == ("10.0.0.5/24", "fd00::5", "10.1.1.1")
    assert sel.mac == "02:00:00:00:00:05"
    assert sel.default_route == ("10.0.0.1", "fd00::1")
    assert thaw(sel.cni_args) == {"foo": {"bar": [1, 2]}, "x": True}
    assert sel.port_mappings == (PortMapping(8080, 80, "tcp"),)
    assert sel.port_mappings[0].to_json() == {
        "hostPort": 8080,
        "containerPort": 80,
        "protocol": "tcp",
    }
    assert sel.bandwidth == Bandwidth(1000, 10, 2000, 20)
    assert sel.infiniband_guid == "00:11:22:33:44:55:66:77"
    assert sel.device_id == "0000:03:00.1"
    hash(sel)  # frozen and hashable even with cni_args
    with pytest.raises(TypeError):
        sel.cni_args["foo"] = 1  # type: ignore[index]


def test_json_legacy_interface_request_and_precedence() -> None:
    assert parse('[{"name": "a", "interfaceRequest": "eth5"}]')[0].interface == "eth5"
    both = '[{"name": "a", "interface": "eth1", "interfaceRequest": "eth5"}]'
    assert parse(both)[0].interface == "eth1"


def test_json_keys_match_case_insensitively_like_go() -> None:
    (sel,) = parse('[{"Name": "a", "NAMESPACE": "b", "Interface": "eth1"}]')
    assert (sel.namespace, sel.name, sel.interface) == ("b", "a", "eth1")
    # An exact match wins over a case-insensitive one.
    assert parse('[{"NAME": "x", "name": "a"}]')[0].name == "a"


def test_json_nulls_mean_unset() -> None:
    (sel,) = parse('[{"name": "a", "namespace": null, "ips": null, "mac": null, "cni-args": null}]')
    assert sel == NetworkSelection(name="a", namespace="default")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("[{", "is not valid JSON"),
        ('{"name": "a"}', "JSON must be a list of objects, not an object"),
        ('"a"', "JSON must be a list of objects"),
        ('[{"name": "a"}, 5]', "element 2: must be an object"),
        ('[{"name": "a"}, null]', "element 2: must be an object"),
        ('[{"ips": ["10.0.0.1"]}]', 'element 1: has no "name"'),
        ('[{"name": "Bad"}]', 'element 1: "Bad" in "name" is not a valid object name'),
        ('[{"name": "a", "namespace": "x.y"}]', 'element 1: "x.y" in "namespace"'),
        ('[{"name": 5}]', '"name" must be a string, not the number 5'),
        ('[{"name": "a", "ips": "10.0.0.1"}]', '"ips" must be a list of strings'),
        (
            '[{"name": "a", "ips": ["10.0.0.1/33"]}]',
            '"10.0.0.1/33" in "ips" is not an IP address or CIDR',
        ),
        ('[{"name": "a", "ips": ["10.0.0.1/255.255.255.0"]}]', "is not an IP address or CIDR"),
        ('[{"name": "a", "ips": ["fe80::1%eth0"]}]', "is not an IP address or CIDR"),
        ('[{"name": "a", "ips": ["010.0.0.1"]}]', "is not an IP address or CIDR"),
        ('[{"name": "a", "ips": [" 10.0.0.1"]}]', "is not an IP address or CIDR"),
        (
            '[{"name": "a", "mac": "02:00:00:00:00"}]',
            '"02:00:00:00:00" in "mac" is not a MAC address',
        ),
        ('[{"name": "a", "mac": "02:00:00:00:00:zz"}]', "is not a MAC address"),
        ('[{"name": "a", "mac": "02:00-00:00:00:01"}]', "is not a MAC address"),
        ('[{"name": "a", "infiniband-guid": "xyz"}]', '"xyz" in "infiniband-guid" is not a GUID'),
        (
            '[{"name": "a", "default-route": ["10.0.0.1/24"]}]',
            'in "default-route" is not an IP address',
        ),
        ('[{"name": "a", "interface": "0123456789abcdef"}]', "16 bytes long"),
        ('[{"name": "a", "interface": "eth 1"}]', "cannot contain"),
        ('[{"name": "a", "interface": "a/b"}]', "cannot contain"),
        ('[{"name": "a", "interface": "."}]', "reserved"),
        ('[{"name": "a", "cni-args": [1]}]', '"cni-args" must be an object, not a list'),
        ('[{"name": "a", "portMappings": {}}]', '"portMappings" must be a list'),
        ('[{"name": "a", "portMappings": [{"hostPort": "80"}]}]', "hostPort must be an integer"),
        ('[{"name": "a", "portMappings": [{"hostPort": 8.5}]}]', "hostPort must be an integer"),
        ('[{"name": "a", "bandwidth": {"ingressRate": true}}]', "ingressRate must be an integer"),
        ('[{"name": "a", "bandwidth": {"egressRate": 1e30}}]', "egressRate must be an integer"),
        ('[{"name": "a", "bandwidth": 5}]', '"bandwidth" must be an object'),
    ],
)
def test_json_errors(value: str, fragment: str) -> None:
    message = error_of(value)
    assert message.startswith("pod default/vlan-multi: annotation k8s.v1.cni.cncf.io/networks")
    assert fragment in message, message


def test_bad_ip_message_matches_the_documented_form() -> None:
    value = '[{"name": "vlan100-conf"}, {"name": "vlan200-conf", "ips": ["192.168.1.300/24"]}]'
    assert error_of(value) == (
        "pod default/vlan-multi: annotation k8s.v1.cni.cncf.io/networks element 2: "
        '"192.168.1.300/24" in "ips" is not an IP address or CIDR'
    )


def test_bad_json_message_shows_position_and_both_syntaxes() -> None:
    message = error_of('[{"name": "a",}]')
    assert "is not valid JSON" in message and "line 1 column" in message
    assert "net-a,net-b" in message


@pytest.mark.parametrize(
    "mac", ["02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001", "AA:BB:CC:DD:EE:FF"]
)
def test_valid_mac_forms(mac: str) -> None:
    assert parse(json.dumps([{"name": "a", "mac": mac}]))[0].mac == mac


def test_ip_forms_accepted() -> None:
    ips = ["10.0.0.1", "10.0.0.1/32", "10.0.0.1/0", "::1", "fd00::1/128", "::ffff:10.0.0.1"]
    assert parse(json.dumps([{"name": "a", "ips": ips}]))[0].ips == tuple(ips)


def test_error_is_value_error_with_fields() -> None:
    with pytest.raises(ValueError) as info:
        parse('[{"name": "a"}, {"name": "b", "mac": "x"}]')
    err = info.value
    assert isinstance(err, AnnotationError)
    assert (err.annotation, err.pod, err.index) == (
        "k8s.v1.cni.cncf.io/networks",
        "default/vlan-multi",
        2,
    )


def test_pod_name_optional_in_messages() -> None:
    with pytest.raises(AnnotationError) as info:
        parse_networks("BAD", "default")
    assert str(info.value).startswith("annotation k8s.v1.cni.cncf.io/networks element 1:")


def test_validate_interface_name() -> None:
    assert validate_interface_name("net1") is None
    assert validate_interface_name("a" * 15) is None
    assert validate_interface_name("a" * 16) is not None
    assert validate_interface_name("é" * 8) is not None  # 16 bytes


# --- default-network ----------------------------------------------------------------


def test_default_network_forms() -> None:
    assert parse_default_network("", "kube-system") is None
    sel = parse_default_network("calico-alt", "kube-system", "default", "p")
    assert sel == NetworkSelection(name="calico-alt", namespace="kube-system")
    sel = parse_default_network('[{"name": "x", "namespace": "y"}]', "kube-system")
    assert sel is not None and sel.key == "y/x"


@pytest.mark.parametrize("value", ["a,b", "[]", '[{"name": "a"}, {"name": "b"}]'])
def test_default_network_needs_exactly_one(value: str) -> None:
    with pytest.raises(AnnotationError) as info:
        parse_default_network(value, "kube-system", "default", "p")
    message = str(info.value)
    assert message.startswith("pod default/p: annotation v1.multus-cni.io/default-network:")
    assert "exactly one" in message


def test_default_network_invalid_element() -> None:
    with pytest.raises(AnnotationError, match="v1.multus-cni.io/default-network element 1"):
        parse_default_network("Bad", "kube-system")


# --- robustness ---------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "namespace",
                    "ips",
                    "mac",
                    "interface",
                    "interfaceRequest",
                    "portMappings",
                    "bandwidth",
                    "cni-args",
                    "default-route",
                    "deviceID",
                    "infiniband-guid",
                    "hostPort",
                    "ingressRate",
                    "NAME",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_strings_only_raise_annotation_error(value: str) -> None:
    try:
        result = parse_networks(value, "default", "p")
    except AnnotationError:
        return
    assert all(isinstance(s, NetworkSelection) for s in result)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_random_json_only_raises_annotation_error(doc: object) -> None:
    value = json.dumps(doc if isinstance(doc, list) else [doc])
    try:
        result = parse_networks(value, "default", "p")
    except AnnotationError:
        return
    for sel in result:
        hash(sel)
        assert sel.name and sel.namespace


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='abc-/@ ,.0[]{}"', max_size=30))
def test_syntax_alphabet_only_raises_annotation_error(value: str) -> None:
    try:
        parse_networks(value, "default", "p")
        parse_default_network(value, "kube-system", "default", "p")
    except AnnotationError:
        pass
