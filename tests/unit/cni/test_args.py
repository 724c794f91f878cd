"""CNI_ARGS parsing as libcni's LoadArgs (strict) and Multus (lenient) do."""

import pytest

from netattach.cni import CniArgs, CNIError

CONTAINERD = ("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=vlan-multi;"
              "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=0c1e0f6a")


def test_kubernetes_keys():
    a = CniArgs.parse(CONTAINERD)
    assert (a.pod_namespace, a.pod_name, a.pod_infra_container_id, a.pod_uid) == \
        ("default", "vlan-multi", "abc123", "0c1e0f6a")
    assert a.ignore_unknown
    a.validate(["IP"])  # unknown K8S_* keys are fine with IgnoreUnknown


def test_unknown_keys_without_ignore_unknown():
    with pytest.raises(CNIError) as e:
        CniArgs.parse("K8S_POD_NAME=x;FOO=bar").validate(["IP"])
    assert e.value.msg == 'ARGS: unknown args ["K8S_POD_NAME=x" "FOO=bar"]'
    assert "IgnoreUnknown=1" in e.value.details


@pytest.mark.parametrize("raw", ["IP=192.0.2.1=5", "IP", "IP=192.0.2.1;"])
def test_invalid_pairs_are_rejected_by_validate(raw):
    with pytest.raises(CNIError) as e:
        CniArgs.parse(raw).validate(["IP"])
    assert e.value.msg.startswith("ARGS: invalid pair")


def test_lenient_parse_keeps_equals_in_values():
    assert CniArgs.parse("A=b=c").get("A") == "b=c"


@pytest.mark.parametrize("value,expected", [("1", True), ("TRUE", True), ("false", False),
                                            ("0", False)])
def test_ignore_unknown_values(value, expected):
    assert CniArgs.parse(f"IgnoreUnknown={value}").ignore_unknown is expected


def test_ignore_unknown_bad_bool():
    with pytest.raises(CNIError) as e:
        CniArgs.parse("IgnoreUnknown=maybe").validate([])
    assert "boolean unmarshal error" in e.value.msg


def test_last_value_wins_and_with_pairs():
    a = CniArgs.parse("IP=192.0.2.1").with_pairs([("IP", "192.0.2.2"),
                                                  ("MAC", "02:00:00:00:00:01")])
    assert a.get("IP") == "192.0.2.2"
    assert a.raw == "IP=192.0.2.1;IP=192.0.2.2;MAC=02:00:00:00:00:01"
