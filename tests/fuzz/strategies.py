"""Hypothesis strategies: configs, env (bytes, as os.environb), CNI_ARGS and stdin for the
plugin executables. Paths only ever point into the lab (@ROOT@, @POD@, @NODE@ are filled
in per example by `Lab.resolve`) or at things nobody can change (/proc/self/ns/mnt)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from tests.fuzz.harness import HD0_MAC, UP0_MAC


def fuzz_settings(deadline_ms: int) -> settings:
    """The fuzz suite's hypothesis profile: random each run, no database, slow examples allowed."""
    return settings(deadline=deadline_ms, derandomize=False, print_blob=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- building blocks ------------------------------------------------------------------------
text = st.text(max_size=12)
json_scalars = (st.none() | st.booleans() | st.integers(-2, 2**32)
                | st.floats(allow_nan=False, allow_infinity=False) | text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(text, inner, max_size=3), max_leaves=6)
odd_scalars = st.sampled_from([None, True, False, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1},
                               "a" * 300, 2**64, "\u0000", "\ud800", "../../etc"])


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], tenths: float = 8
           ) -> st.SearchStrategy[Any]:
    """`usual` about tenths/10 of the time, else `odd`."""
    return st.integers(0, 99).flatmap(lambda i: usual if i < tenths * 10 else odd)


def value(usual: Any, *others: Any, tenths: float = 9.3) -> st.SearchStrategy[Any]:
    """A config value: mostly `usual` (so that an example changes about one value of a
    working config), else one of `others`, an odd scalar or any JSON value."""
    pool = st.sampled_from([usual, *others]) if others else st.just(usual)
    return mostly(st.just(usual), pool | pool | odd_scalars | json_values, tenths)


MISSING = object()


def fields(required: dict[str, st.SearchStrategy[Any]],
           optional: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with the required keys (each dropped now and then) and some optional ones."""
    drop = st.sampled_from([False] * 19 + [True])
    req = st.fixed_dictionaries({k: st.tuples(drop, v) for k, v in required.items()}).map(
        lambda d: {k: v for k, (gone, v) in d.items() if not gone})
    return st.tuples(req, st.fixed_dictionaries({}, optional=optional)).map(
        lambda t: {**t[0], **t[1]})


VERSIONS = ["1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.3.0", "0.2.0", "0.1.0"]
version = mostly(st.sampled_from(["1.0.0", "1.1.0", "0.4.0"]),
                 st.sampled_from([*VERSIONS, "", "9.9.9", "1.0", "x"]) | odd_scalars, 8)
network_name = value("fznet", "a" * 200, "bad name", "-x", "a/b", "a.b-c_d", "..")

# -- IPAM ----------------------------------------------------------------------------------------
subnet = st.sampled_from(["198.51.100.0/24", "2001:db8::/64", "198.51.100.0/30",
                          "198.51.100.1/24", "0.0.0.0/0", "::/0", "300.0.0.0/8", "x"])
hl_range = fields({"subnet": value("198.51.100.0/24", "2001:db8::/64", "198.51.100.0/31")},
                  {"rangeStart": value("198.51.100.10", "198.51.100.300", "2001:db8::1"),
                   "rangeEnd": value("198.51.100.12", "198.51.100.1"),
                   "gateway": value("198.51.100.1", "198.51.100.0", "::1")})
route = fields({"dst": value("0.0.0.0/0", "203.0.113.0/24", "::/0", "x")},
               {"gw": value("198.51.100.1", "192.0.2.1", "x")})
host_local = fields(
    {"type": value("host-local", "static", "", "bridge", "macvlan", "tuning", "host-device",
                   "nonexistent-ipam", "a" * 300, tenths=8),
     "dataDir": value("@ROOT@/hl", "", False, 0, ["@ROOT@"], "@ROOT@/file", "@ROOT@/hl\u0000x",
                      "@ROOT@/" + "d" * 300),
     "ranges": value([[{"subnet": "198.51.100.0/24"}]], [], [[]], [[{"subnet": "x"}]])
     | st.lists(st.lists(hl_range, min_size=1, max_size=2), max_size=2)},
    {"routes": value([{"dst": "0.0.0.0/0"}], [{"dst": "::/0"}], "x")
     | st.lists(route, max_size=2),
     "resolvConf": value("@ROOT@/file", "@ROOT@/none", 5),
     "subnet": subnet, "rangeStart": value("198.51.100.5"), "gateway": value("198.51.100.1")})
static = fields(
    {"type": value("static", "host-local", "", "vlan", tenths=8.5),
     "addresses": value([{"address": "203.0.113.10/24"}],
                        [{"address": "203.0.113.10/24", "gateway": "203.0.113.1"}],
                        [{"address": "2001:db8:1::10/64"}], [{"address": "x"}], [{}], [])},
    {"routes": st.lists(route, max_size=2),
     "dns": value({"nameservers": ["192.0.2.53"]}, {"nameservers": "x"})})
ipam = mostly(host_local, static | odd_scalars, 7)

# -- per plugin ----------------------------------------------------------------------------------
common = {"cniVersion": version, "name": network_name}
common_optional = {
    "args": value({"cni": {"ips": ["198.51.100.20/24"]}}, {"cni": {"mac": "02:00:5e:00:53:09"}},
                  {"cni": 5}),
    "runtimeConfig": value({"ips": ["198.51.100.21/24"]}, {"mac": "02:00:5e:00:53:08"},
                           {"ips": "x"}, {"deviceID": "0000:00:1f.6"}),
    "capabilities": value({"ips": True, "mac": True}),
    "dns": value({"nameservers": ["192.0.2.53"]}),
    "cni.dev/valid-attachments": value([], [{"containerID": "fzc1", "ifname": "net1"}], "x"),
}
master = value("up0", "hd0", "lo", "nonexistent", "a" * 16, "")
PLUGIN_FIELDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bridge": ({"type": st.just("bridge"), "bridge": value("fzbr0", "up0", "lo", "a" * 16, ""),
                "ipam": ipam},
               {"isGateway": value(True, False), "isDefaultGateway": value(True),
                "ipMasq": value(True), "hairpinMode": value(True), "promiscMode": value(True),
                "mtu": value(1400, 70000, 0, -1), "vlan": value(100, 5000, 0),
                "forceAddress": value(True), "macspoofchk": value(True),
                "enabledad": value(True), "disableContainerInterface": value(True),
                "mac": value("02:00:5e:00:53:07", "zz")}),
    "macvlan": ({"type": st.just("macvlan"), "master": master, "ipam": ipam},
                {"mode": value("bridge", "private", "vepa", "passthru", "source", "x"),
                 "mtu": value(1400, 9000, -1), "mac": value("02:00:5e:00:53:06", "zz"),
                 "linkInContainer": value(True)}),
    "ipvlan": ({"type": st.just("ipvlan"), "master": master, "ipam": ipam},
               {"mode": value("l2", "l3", "l3s", "x"), "mtu": value(1400, -1),
                "linkInContainer": value(True)}),
    "vlan": ({"type": st.just("vlan"), "master": master, "vlanId": value(100, 0, 4095, -1, "1"),
              "ipam": ipam},
             {"mtu": value(1400, -1), "linkInContainer": value(True)}),
    "host-device": ({"type": st.just("host-device"),
                     "device": value("hd0", "up0", "lo", "nonexistent", "dn0")},
                    {"hwaddr": value(HD0_MAC, UP0_MAC, "zz", HD0_MAC.upper()),
                     "kernelpath": value("/sys/devices/virtual", "/sys/devices/nonexistent",
                                         "relative/path"),
                     "pciBusID": value("0000:00:1f.6", "../../../..", "x"),
                     "ipam": static | ipam,
                     "allowDefaultRouteInterface": value(True)}),
    "tuning": ({"type": st.just("tuning"), "dataDir": value("@ROOT@/tun", "", "@ROOT@/file", 5),
                "prevResult": value({"cniVersion": "1.0.0", "interfaces": [
                    {"name": "eth0", "sandbox": "@POD@"}], "ips": []}, {"ips": "x"}, None)},
               {"mtu": value(1400, 1280, 70000, 0, -1),
                "mac": value("02:00:5e:00:53:05", "zz", "00:00:00:00:00:00"),
                "promisc": value(True, False), "allmulti": value(True, False),
                "txQLen": value(100, 0, -1, 2**40),
                "sysctl": value({"net.ipv4.conf.IFNAME.arp_ignore": "1"},
                                {"net.ipv6.conf.IFNAME.disable_ipv6": "1"},
                                {"net.ipv4.conf.IFNAME.arp_ignore": "9"},
                                {"kernel.hostname": "x"}, {"net/../kernel/hostname": "x"},
                                {"net.ipv4.conf.IFNAME.nonexistent": "1"},
                                {"net.ipv4.conf.eth0.arp_notify": 1})}),
    "static": ({"type": st.just("static"), "ipam": static}, {}),
    "host-local": ({"type": value("fzplugin"), "ipam": host_local}, {}),
}


def config(plugin: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = PLUGIN_FIELDS[plugin]
    return fields({**common, **required}, {**common_optional, **optional})


# -- stdin ---------------------------------------------------------------------------------------
def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


ODD_STDIN = st.sampled_from([
    b"", b"{", b"[]", b"null", b"42", b'"x"', b"\xff\xfe{}", b'{"cniVersion": "1.0.0", "name": '
    b'"\xff"}', b"\xef\xbb\xbf{}", b'{"name": NaN}', b'{"cniVersion": "1.0.0", "name": "a", '
    b'"name": "b"}', b"[" * 50_000 + b"]" * 50_000,
    b'{"cniVersion": "1.0.0", "name": "fznet", "type": "x", "pad": "' + b"p" * 300_000 + b'"}',
]) | st.binary(max_size=64)


def stdin(plugin: str) -> st.SearchStrategy[bytes]:
    return mostly(config(plugin).map(_dumps), ODD_STDIN, 9)


# -- env -----------------------------------------------------------------------------------------
def env_value(usual: bytes, odd: list[bytes]) -> st.SearchStrategy[bytes | None]:
    """Mostly what a runtime sends; else an odd value (incl. non-UTF-8) or unset (None)."""
    other = st.binary(max_size=12).map(lambda b: b.replace(b"\0", b""))  # env has no NUL
    return mostly(st.just(usual), st.sampled_from([*odd, None]) | other, 9)


NON_UTF8 = [b"\xff", b"n\xe9t1", b"\xc3\x28"]
cni_args_pairs = st.lists(st.sampled_from([
    b"IgnoreUnknown=1", b"IgnoreUnknown=true", b"IgnoreUnknown=maybe", b"K8S_POD_NAMESPACE=default",
    b"K8S_POD_NAME=web-0", b"K8S_POD_NAME=../secrets/db-password", b"K8S_POD_UID=../../x",
    b"K8S_POD_INFRA_CONTAINER_ID=fzc1", b"IP=198.51.100.30/24", b"IP=198.51.100.31",
    b"IP=x", b"MAC=02:00:5e:00:53:04", b"MAC=zz", b"a=b=c", b"=", b"", b"K8S_POD_NAME=\xff",
    b"X=" + b"v" * 5000,
]), max_size=4).map(b";".join)


@dataclass(frozen=True)
class Case:
    """One example: the verbs to run in order with one env (CNI_COMMAND set per verb)."""

    verbs: tuple[str, ...]
    env: tuple[tuple[bytes, bytes], ...]
    stdin: bytes

    def env_for(self, verb: str) -> dict[bytes, bytes]:
        env = dict(self.env)
        if verb != "<unset>":
            env[b"CNI_COMMAND"] = verb.encode(errors="surrogateescape")
        return env


VERB_SEQUENCES = st.sampled_from(
    [("ADD", "DEL")] * 8 + [("ADD", "CHECK", "DEL")] * 3 + [("ADD", "ADD", "DEL")]
    + [("DEL",), ("CHECK",), ("GC",), ("STATUS",), ("VERSION",), ("<unset>",), ("add",),
       ("ADD\n",), ("ADD", "GC", "DEL"), ("DEL", "DEL")])


def case(plugin: str) -> st.SearchStrategy[Case]:
    env = st.fixed_dictionaries({
        b"CNI_CONTAINERID": env_value(b"fzc1", [b"", b"a b", b"../x", b"c" * 300, *NON_UTF8]),
        b"CNI_NETNS": env_value(b"@POD@", [b"", b"/proc/self/ns/mnt", b"/proc/self/ns/net",
                                           b"@NODE@", b"/run/netns/fz-nonexistent", b"relative",
                                           b"/" + b"a" * 5000, b"@POD@\xff", b"/proc/self/ns"]),
        b"CNI_IFNAME": env_value(b"eth0" if plugin == "tuning" else b"net1",
                                 [b"", b"lo", b"eth0", b"a" * 16, b"a/b", b".", b"a:b",
                                  b"net 1", *NON_UTF8]),
        b"CNI_ARGS": mostly(st.none(), cni_args_pairs, 6),
        b"CNI_PATH": env_value(b"@BIN@", [b"", b"/nonexistent", b"rel:@BIN@", b"x" * 5000]),
    }).map(lambda d: tuple((k, v) for k, v in d.items() if v is not None))
    return st.builds(Case, VERB_SEQUENCES, env, stdin(plugin))
