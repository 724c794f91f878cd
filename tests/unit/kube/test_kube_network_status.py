"""k8s.v1.cni.cncf.io/network-status: Multus's exact bytes, and parsing back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netattach.kube import AnnotationError
from netattach.kube.network_status import (
    DNS,
    NetworkStatus,
    format_network_status,
    parse_network_status,
)

# What Multus writes for the docs' macvlan example (docs/how-to-use.md "Verifying pod
# network"): json.MarshalIndent(entry, "", "    ") per entry, joined with ",".
MULTUS_EXAMPLE = (
    "[{\n"
    '    "name": "cbr0",\n'
    '    "interface": "eth0",\n'
    '    "ips": [\n'
    '        "10.244.1.73"\n'
    "    ],\n"
    '    "mac": "0a:58:0a:f4:01:49",\n'
    '    "default": true,\n'
    '    "dns": {}\n'
    "},{\n"
    '    "name": "default/macvlan-conf",\n'
    '    "interface": "net1",\n'
    '    "ips": [\n'
    '        "192.168.1.205"\n'
    "    ],\n"
    '    "mac": "86:1d:96:ff:55:0d",\n'
    '    "mtu": 1500,\n'
    '    "dns": {}\n'
    "}]"
)

EXAMPLE = (
    NetworkStatus(
        name="cbr0", interface="eth0", ips=("10.244.1.73",), mac="0a:58:0a:f4:01:49", default=True
    ),
    NetworkStatus(
        name="default/macvlan-conf",
        interface="net1",
        ips=("192.168.1.205",),
        mac="86:1d:96:ff:55:0d",
        mtu=1500,
    ),
)


def test_exact_multus_bytes() -> None:
    assert format_network_status(EXAMPLE) == MULTUS_EXAMPLE


def test_round_trip() -> None:
    assert parse_network_status(MULTUS_EXAMPLE) == EXAMPLE


def test_empty_list() -> None:
    assert format_network_status([]) == "[]"
    assert parse_network_status("[]") == ()
    assert parse_network_status("null") == ()


def test_full_entry_key_order_and_omitempty() -> None:
    status = NetworkStatus(
        name="default/sriov",
        interface="net1",
        ips=("10.56.217.100", "fd00::64"),
        mac="02:00:00:00:00:01",
        mtu=9000,
        dns=DNS(nameservers=("10.0.0.10",), domain="cluster.local", search=("svc",), options=()),
        gateway=("10.56.217.1",),
        device_info={
            "version": "1.1.0",
            "type": "pci",
            "pci": {
                "pf-pci-address": "0000:03:00.0",
                "pci-address": "0000:03:02.4",
                "rdma-device": "",
            },
            "unknown": "dropped like Go's struct",
        },
    )
    text = format_network_status([status])
    doc = json.loads(text)[0]
    assert list(doc) == ["name", "interface", "ips", "mac", "mtu", "dns", "device-info", "gateway"]
    assert doc["dns"] == {
        "nameservers": ["10.0.0.10"],
        "domain": "cluster.local",
        "search": ["svc"],
    }
    assert list(doc["device-info"]) == ["type", "version", "pci"]
    assert doc["device-info"]["pci"] == {
        "pci-address": "0000:03:02.4",
        "pf-pci-address": "0000:03:00.0",
    }
    again = parse_network_status(text)[0]
    assert again.gateway == status.gateway and again.dns == status.dns
    assert format_network_status([again]) == text


def test_go_html_escaping() -> None:
    text = format_network_status([NetworkStatus(name="a<b>&c\u2028")])
    assert '"a\\u003cb\\u003e\\u0026c\\u2028"' in text
    assert parse_network_status(text)[0].name == "a<b>&c\u2028"


def test_non_ascii_is_written_raw_like_go() -> None:
    assert '"ネット"' in format_network_status([NetworkStatus(name="ネット")])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{", "is not valid JSON"),
        ('{"name": "a"}', "must be a JSON list"),
        ("[1]", "element 1: must be an object"),
        ('[{"name": "a", "ips": "x"}]', '"ips" must be a list of strings'),
        ('[{"name": "a", "mtu": "1500"}]', '"mtu" must be an integer'),
        ('[{"name": "a", "default": "yes"}]', '"default" must be a boolean'),
    ],
)
def test_parse_errors(value: str, fragment: str) -> None:
    with pytest.raises(AnnotationError) as info:
        parse_network_status(value, pod="default/p")
    message = str(info.value)
    assert message.startswith("pod default/p: annotation k8s.v1.cni.cncf.io/network-status")
    assert fragment in message


_names = st.text(max_size=12)
_statuses = st.builds(
    NetworkStatus,
    name=_names,
    interface=_names,
    ips=st.lists(_names, max_size=3).map(tuple),
    mac=_names,
    mtu=st.integers(min_value=0, max_value=65535),
    default=st.booleans(),
    dns=st.builds(
        DNS,
        nameservers=st.lists(_names, max_size=2).map(tuple),
        domain=_names,
        search=st.lists(_names, max_size=2).map(tuple),
        options=st.lists(_names, max_size=2).map(tuple),
    ),
    gateway=st.lists(_names, max_size=2).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_statuses, max_size=4))
def test_round_trip_property(statuses: list[NetworkStatus]) -> None:
    text = format_network_status(statuses)
    assert parse_network_status(text) == tuple(statuses)
