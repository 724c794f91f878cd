"""CNI_ARGS: "K=V;K=V" pairs, parsed and validated as libcni's types.LoadArgs does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import CNIError, Code

K8S_KEYS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID")


def _bool(value: str, pair: str) -> bool:
    v = value.lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false"):
        return False
    raise CNIError(Code.INTERNAL, f"ARGS: error parsing value of pair {pair!r}: "
                   f"boolean unmarshal error: invalid input {value}",
                   "IgnoreUnknown takes 1, 0, true or false")


@dataclass(frozen=True)
class CniArgs:
    """The CNI_ARGS pairs in order. Lenient on read; `validate` is libcni-strict."""

    pairs: tuple[tuple[str, str], ...] = ()
    raw: str = ""

    @classmethod
    def parse(cls, raw: str | None) -> CniArgs:
        """Split on ';' then on the first '=' (as Multus does). Empty pairs are dropped."""
        raw = raw or ""
        pairs = []
        for item in raw.split(";"):
            if not item:
                continue
            key, sep, value = item.partition("=")
            pairs.append((key, value) if sep else (item, ""))
        return cls(tuple(pairs), raw)

    def get(self, key: str, default: str = "") -> str:
        """The last value given for `key` (libcni keeps the last one too)."""
        for k, v in reversed(self.pairs):
            if k == key:
                return v
        return default

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.pairs)

    @property
    def ignore_unknown(self) -> bool:
        value = self.get("IgnoreUnknown")
        return _bool(value, f"IgnoreUnknown={value}") if value else False

    def validate(self, known: Iterable[str]) -> None:
        """Fail as libcni does for malformed pairs and, unless IgnoreUnknown, unknown keys."""
        if not self.raw:
            return
        known_set = set(known) | {"IgnoreUnknown"}
        unknown = []
        for item in self.raw.split(";"):
            parts = item.split("=")
            if len(parts) != 2:
                raise CNIError(Code.INTERNAL, f"ARGS: invalid pair {item!r}",
                               "CNI_ARGS is a list of KEY=VALUE pairs separated by ';' "
                               "and a value cannot contain '='")
            if parts[0] not in known_set:
                unknown.append(item)
            elif parts[0] == "IgnoreUnknown":
                _bool(parts[1], item)
        if unknown and not self.ignore_unknown:
            listed = " ".join(f'"{u}"' for u in unknown)
            raise CNIError(Code.INTERNAL, f"ARGS: unknown args [{listed}]",
                           f"this plugin understands {', '.join(sorted(known_set))}; "
                           "add IgnoreUnknown=1 to CNI_ARGS to ignore the others")

    @property
    def pod_namespace(self) -> str:
        return self.get("K8S_POD_NAMESPACE")

    @property
    def pod_name(self) -> str:
        return self.get("K8S_POD_NAME")

    @property
    def pod_uid(self) -> str:
        return self.get("K8S_POD_UID")

    @property
    def pod_infra_container_id(self) -> str:
        return self.get("K8S_POD_INFRA_CONTAINER_ID")

    def with_pairs(self, extra: Iterable[tuple[str, str]]) -> CniArgs:
        """A copy with `extra` appended (later values win on `get`)."""
        pairs = self.pairs + tuple(extra)
        return CniArgs(pairs, ";".join(f"{k}={v}" for k, v in pairs))
