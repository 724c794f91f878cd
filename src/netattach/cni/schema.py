"""One declarative config loader: a frozen dataclass lists its keys, `load` fills it.

Each field of a config model names its JSON key, type, default and check with `setting`;
`load(Model, raw, errors)` reads them all, the way Go plugins decode their NetConf struct
once. How a wrong value is worded is the caller's `Errors` (the reference plugins, libcni
and Multus each say it their own way, and runtimes and users see those texts):

    @dataclass(frozen=True)
    class MacvlanConf:
        master: str = setting("master", str, "")
        mtu: int = setting("mtu", int, 0, check=at_least(0, "leave mtu unset"))

    conf = load(MacvlanConf, request.config.raw, GO_NETCONF)
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from .errors import CNIError, Code, plugin_error

T = TypeVar("T")
Kind = type | tuple[type, ...]
# value -> (problem, fix) when it is unusable, else None
Check = Callable[[Any], "tuple[str, str] | None"]

_JSON_NAMES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}
_GO_NAMES = {int: "int", str: "string", bool: "bool", list: "[]interface {}",
             dict: "map[string]interface {}", float: "float64"}


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its JSON name, accepted type(s), default and check."""

    name: str
    kind: Kind
    default: Any = None
    check: Check | None = None
    empty_is_default: bool = False  # "" (or 0) reads as the default, as Go's zero value
    convert: Callable[[Any], Any] | None = None  # applied after the check (list -> tuple)

    def expected(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        return " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kinds)


class Errors(Protocol):
    """How one config family words its errors."""

    def wrong_type(self, key: Key, value: Any) -> CNIError: ...

    def invalid(self, key: Key, value: Any, problem: str, fix: str) -> CNIError: ...


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value ("number", "string", ...)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value as the user wrote it, short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclasses.dataclass(frozen=True)
class GoNetConf:
    """The reference plugins' wording: Go's json.Unmarshal into their NetConf struct."""

    struct: str = "NetConf"

    def wrong_type(self, key: Key, value: Any) -> CNIError:
        kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
        go = _GO_NAMES.get(kinds[0], kinds[0].__name__)
        # Go's words: "bool" for true/false, "number 1.5" for a fraction into an int
        got = "bool" if isinstance(value, bool) else \
            f"number {value}" if isinstance(value, float) and int in kinds else json_type(value)
        return plugin_error(
            f"failed to load netconf: json: cannot unmarshal {got} into Go "
            f"struct field {self.struct}.{key.name} of type {go}",
            f'"{key.name}" must be a JSON {key.expected()}, got {shown(value)}')

    def invalid(self, key: Key, value: Any, problem: str, fix: str) -> CNIError:
        return plugin_error(problem, fix)


@dataclasses.dataclass(frozen=True)
class Described:
    """`<where>: <key> is invalid` with code `code` (libcni's and Multus's configs)."""

    where: str
    code: int = Code.INVALID_NETWORK_CONFIG

    def wrong_type(self, key: Key, value: Any) -> CNIError:
        return CNIError(self.code, f"{self.where}: field {key.name!r} has the wrong type",
                        f"{key.name} must be a {key.expected()}, got {shown(value)}")

    def invalid(self, key: Key, value: Any, problem: str, fix: str) -> CNIError:
        return CNIError(self.code, f"{self.where}: {key.name} is invalid: {problem}", fix)


GO_NETCONF = GoNetConf()


def setting(name: str, kind: Kind, default: Any = None, *, check: Check | None = None,
            empty_is_default: bool = False, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field read from JSON key `name` by `load`."""
    key = Key(name, kind, default, check, empty_is_default, convert)
    if isinstance(default, list | dict | set):
        raise TypeError(f"setting {name!r}: use an immutable default (tuple, MappingProxyType)")
    if getattr(default, "__hash__", None) is None:  # a read-only mapping: dataclasses insist
        return dataclasses.field(default_factory=lambda: default, metadata={"key": key})
    return dataclasses.field(default=default, metadata={"key": key})


def read(raw: Mapping[str, Any], key: Key, errors: Errors) -> Any:
    """The value of `key` in `raw`: type-checked, null or absent as the default, checked."""
    value = raw.get(key.name)
    if value is None:
        return key.default
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    # JSON true is not a number: bool is an int subclass in Python
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise errors.wrong_type(key, value)
    if key.empty_is_default and not value:
        return key.default
    if key.check is not None:
        problem = key.check(value)
        if problem is not None:
            raise errors.invalid(key, value, *problem)
    return key.convert(value) if key.convert is not None else value


@functools.cache
def keys_of(model: type) -> list[tuple[str, Key]]:
    """(field name, Key) of every `setting` field of a dataclass, in declaration order."""
    return [(f.name, f.metadata["key"]) for f in dataclasses.fields(model)
            if "key" in f.metadata]


def key_of(model: type, field_name: str) -> Key:
    """The Key of one `setting` field (to read it before the rest)."""
    return dict(keys_of(model))[field_name]


def load(model: type[T], raw: Mapping[str, Any], errors: Errors, /, **computed: Any) -> T:
    """Build `model` from `raw`: every `setting` field read and checked, the other fields
    from `computed` (or their defaults). `computed` also overrides settings."""
    values = {name: read(raw, key, errors) for name, key in keys_of(model)
              if name not in computed}
    return model(**values, **computed)


# -- reusable checks ----------------------------------------------------------------------
def at_least(low: int, fix: str) -> Check:
    def check(value: Any) -> tuple[str, str] | None:
        return None if value >= low else (f"{value} is below {low}", fix)
    return check


def between(low: int, high: int, problem: str, fix: str) -> Check:
    """`problem` may use {value}."""
    def check(value: Any) -> tuple[str, str] | None:
        return None if low <= value <= high else (problem.format(value=value), fix)
    return check


def one_of(choices: tuple[str, ...], problem: str, fix: str) -> Check:
    """`problem` may use {value}."""
    def check(value: Any) -> tuple[str, str] | None:
        return None if value in choices else (problem.format(value=value), fix)
    return check


def no_nul(value: Any) -> tuple[str, str] | None:
    """A path or name: the kernel and the API take no NUL character in one."""
    if "\0" not in value:
        return None
    return "it contains a NUL character", "give a path or name without \\u0000"


def no_nul_named(key: str) -> Check:
    """`no_nul` for configs whose errors do not name the key (the plugins', as Go's)."""
    def check(value: Any) -> tuple[str, str] | None:
        found = no_nul(value)
        return None if found is None else (f"{key} contains a NUL character", found[1])
    return check


def str_list(what: str) -> Check:
    def check(value: Any) -> tuple[str, str] | None:
        if all(isinstance(v, str) for v in value):
            return None
        return (f"{what} must be a list of strings", f"got {shown(value)}")
    return check
