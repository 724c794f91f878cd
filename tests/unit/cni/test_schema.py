"""The declarative config loader: types, defaults, checks, conversions and both error styles."""

import dataclasses
from types import MappingProxyType

import pytest

from netattach.cni import schema
from netattach.cni.errors import CNIError, Code

GO = schema.GoNetConf("NetConf")
DESCRIBED = schema.Described("test config")


@dataclasses.dataclass(frozen=True)
class Model:
    name: str
    master: str = schema.setting("master", str, "")
    label: str = schema.setting("label", str, "unnamed")
    mode: str = schema.setting("mode", str, "bridge", empty_is_default=True,
                               check=schema.one_of(("bridge", "private"),
                                                   "invalid mode {value}", "use bridge"))
    mtu: int = schema.setting("mtu", int, 0, check=schema.at_least(0, "leave mtu unset"))
    vlan: int = schema.setting("vlanId", int, 0, check=schema.between(
        0, 4094, "vlan id {value} out of range", "pick 1..4094"))
    promisc: bool = schema.setting("promisc", bool, False)
    names: tuple[str, ...] = schema.setting("names", (list, str), ("x",),
                                            check=lambda v: None if isinstance(v, str)
                                            else schema.str_list("names")(v),
                                            convert=lambda v: tuple(v.split(","))
                                            if isinstance(v, str) else tuple(v))
    extra: object = schema.setting("extra", dict, MappingProxyType({}),
                                   convert=MappingProxyType)
    computed: int = 0


def load(raw, errors=GO, **computed):
    return schema.load(Model, raw, errors, name="n", **computed)


def test_defaults_for_absent_keys():
    m = load({})
    assert (m.name, m.master, m.label, m.mode, m.mtu, m.vlan, m.promisc, m.names,
            dict(m.extra), m.computed) == ("n", "", "unnamed", "bridge", 0, 0, False, ("x",),
                                           {}, 0)


def test_null_is_the_default():
    m = load({"master": None, "mtu": None, "promisc": None, "names": None})
    assert (m.master, m.mtu, m.promisc, m.names) == ("", 0, False, ("x",))


def test_values_read():
    m = load({"master": "eth0", "mode": "private", "mtu": 1400, "vlanId": 4094,
              "promisc": True, "names": ["a", "b"], "extra": {"k": 1}})
    assert (m.master, m.mode, m.mtu, m.vlan, m.promisc, m.names) == (
        "eth0", "private", 1400, 4094, True, ("a", "b"))
    assert isinstance(m.extra, MappingProxyType) and dict(m.extra) == {"k": 1}


def test_empty_is_default():
    assert load({"mode": ""}).mode == "bridge"      # "" reads as the default...
    assert load({"label": ""}).label == ""          # ...only where the key says so
    assert load({"mtu": 0, "promisc": False}).promisc is False
    with pytest.raises(CNIError):
        load({"mode": "bogus"})                     # a value that is not empty is checked


def test_check_then_convert():
    assert load({"names": "a,b"}).names == ("a", "b")  # the check lets a string through
    with pytest.raises(CNIError) as e:
        load({"names": ["a", 1]}, DESCRIBED)          # convert never sees a bad value
    assert e.value.msg == "test config: names is invalid: names must be a list of strings"
    assert e.value.details == 'got ["a", 1]'


def test_computed_fields_and_overrides():
    m = load({"mtu": 1400}, computed=7, mtu=9000)
    assert (m.computed, m.mtu) == (7, 9000)



@pytest.mark.parametrize("key,value,go_value,go_type", [
    ("mtu", "1500", "string", "int"),
    ("mtu", [1], "array", "int"),
    ("mtu", {}, "object", "int"),
    ("master", 5, "number", "string"),
    ("master", 1.5, "number", "string"),  # into a string Go names no literal
    ("master", {"a": 1}, "object", "string"),
    ("promisc", 1, "number", "bool"),     # a number is not a boolean
    ("promisc", "true", "string", "bool"),
    ("names", 5, "number", "[]interface {}"),
    ("extra", [], "array", "map[string]interface {}"),
    ("mtu", True, "bool", "int"),  # true is not a number
    ("mtu", False, "bool", "int"),
    ("mtu", 1.5, "number 1.5", "int"),
])
def test_wrong_types_go_style(key, value, go_value, go_type):
    with pytest.raises(CNIError) as e:
        load({key: value})
    assert e.value.code == Code.INTERNAL
    assert e.value.msg == (f"failed to load netconf: json: cannot unmarshal {go_value} into "
                           f"Go struct field NetConf.{key} of type {go_type}")


@pytest.mark.parametrize("key,value,expected", [
    ("mtu", "1500", "number"),
    ("mtu", True, "number"),       # JSON true is not a number (bool is an int in Python)
    ("mtu", False, "number"),
    ("mtu", 1.5, "number"),
    ("vlanId", True, "number"),
    ("master", 5, "string"),
    ("promisc", 1, "boolean"),
    ("promisc", 0, "boolean"),
    ("names", 5, "array or string"),
    ("extra", [], "object"),
])
def test_wrong_types_both_styles(key, value, expected):
    with pytest.raises(CNIError) as e:
        load({key: value})
    assert e.value.code == Code.INTERNAL
    assert e.value.msg.startswith("failed to load netconf: json: cannot unmarshal ")
    assert e.value.details == f'"{key}" must be a JSON {expected}, got {schema.shown(value)}'
    with pytest.raises(CNIError) as e:
        load({key: value}, DESCRIBED)
    assert e.value.code == Code.INVALID_NETWORK_CONFIG
    assert e.value.msg == f"test config: field {key!r} has the wrong type"
    assert e.value.details == f"{key} must be a {expected}, got {schema.shown(value)}"


@pytest.mark.parametrize("raw,problem,fix", [
    ({"mtu": -1}, "-1 is below 0", "leave mtu unset"),
    ({"vlanId": 4095}, "vlan id 4095 out of range", "pick 1..4094"),
    ({"vlanId": -1}, "vlan id -1 out of range", "pick 1..4094"),
    ({"mode": "vepa"}, "invalid mode vepa", "use bridge"),
])
def test_checks_both_styles(raw, problem, fix):
    with pytest.raises(CNIError) as e:
        load(raw)
    assert (e.value.code, e.value.msg, e.value.details) == (Code.INTERNAL, problem, fix)
    with pytest.raises(CNIError) as e:
        load(raw, DESCRIBED)
    key = next(iter(raw))
    assert (e.value.code, e.value.msg, e.value.details) == (
        Code.INVALID_NETWORK_CONFIG, f"test config: {key} is invalid: {problem}", fix)


def test_described_code_is_configurable():
    with pytest.raises(CNIError) as e:
        load({"mtu": "x"}, schema.Described("network config", Code.DECODING_FAILURE))
    assert e.value.code == Code.DECODING_FAILURE


def test_read_one_key():
    key = schema.key_of(Model, "mtu")
    assert (key.name, key.kind, key.default) == ("mtu", int, 0)
    assert schema.read({"mtu": 9000}, key, GO) == 9000
    assert [name for name, _ in schema.keys_of(Model)] == [
        "master", "label", "mode", "mtu", "vlan", "promisc", "names", "extra"]


@pytest.mark.parametrize("default", [[], {}, set()])
def test_mutable_defaults_refused(default):
    with pytest.raises(TypeError, match="use an immutable default"):
        schema.setting("x", list, default)


@pytest.mark.parametrize("value,expected", [
    ("a", '"a"'), (5, "5"), (None, "null"), ({"a": [1]}, '{"a": [1]}'),
    ("x" * 100, '"' + "x" * 76 + "..."), (object, repr(object)),
])
def test_shown(value, expected):
    assert schema.shown(value) == expected


@pytest.mark.parametrize("value,expected", [
    (True, "boolean"), (1, "number"), (1.5, "number"), ("", "string"), ([], "array"),
    ({}, "object"), (None, "null")])
def test_json_type(value, expected):
    assert schema.json_type(value) == expected
