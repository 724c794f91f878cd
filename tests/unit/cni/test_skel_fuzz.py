"""Property test: whatever env and stdin a runtime sends, `skel.run` with the static plugin
answers like a CNI plugin: exit 0 or 1, JSON (and only JSON) on stdout, never a traceback."""

from __future__ import annotations

import io
import json
import os
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from netattach.cni.skel import run
from netattach.ipam.static import StaticIPAM

COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "add", "", "FROB", "ADD\n"]
VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "0.5.0", "9.9.9",
            "", "1", "x.y.z", "1.0.0-rc1"]
# Never a namespace we could modify: static does not enter namespaces, and these paths are
# either nonexistent or the test's own (root) namespace, which only the code-8 check reads.
NETNS = ["", "/run/netns/natfuzz-does-not-exist", "/proc/self/ns/net", "relative/path", "\x01"]

text = st.text(max_size=20)
small_ints = st.integers(min_value=-2, max_value=2**33)
json_scalars = st.none() | st.booleans() | small_ints | st.floats(allow_nan=False) | text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(text, inner, max_size=3), max_leaves=8)

cidrs = st.sampled_from(["192.0.2.10/24", "2001:db8::5/64", "198.51.100.1/32", "0.0.0.0/0",
                         "::/0", "192.0.2.10", "300.1.1.1/24", "::ffff:192.0.2.1/120",
                         "192.0.2.10/33", "fe80::1%eth0/64", ""]) | text
ips = st.sampled_from(["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.9", "nope", ""]) | text


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], tenths: int = 8
           ) -> st.SearchStrategy[Any]:
    """`usual` about tenths/10 of the time, else `odd` (so valid requests get through)."""
    return st.integers(0, 9).flatmap(lambda i: usual if i < tenths else odd)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the real value, sometimes any JSON value in its place."""
    return mostly(strategy, json_values, 9)


good_cidrs = st.sampled_from(["192.0.2.10/24", "2001:db8::5/64", "198.51.100.1/32"])
address = st.fixed_dictionaries({"address": maybe(good_cidrs | cidrs)},
                                optional={"gateway": maybe(ips)})
route = st.fixed_dictionaries({"dst": maybe(cidrs)},
                              optional={"gw": maybe(ips), "mtu": maybe(small_ints),
                                        "table": maybe(small_ints)})
dns = st.fixed_dictionaries({}, optional={"nameservers": maybe(st.lists(ips, max_size=2)),
                                          "domain": maybe(text),
                                          "search": maybe(st.lists(text, max_size=2)),
                                          "options": maybe(st.lists(text, max_size=2))})
ipam = st.fixed_dictionaries({"type": maybe(st.just("static"))},
                             optional={"addresses": maybe(st.lists(maybe(address), max_size=4)),
                                       "routes": maybe(st.lists(maybe(route), max_size=3)),
                                       "dns": maybe(dns)})
result_ip = st.fixed_dictionaries({"address": maybe(cidrs)},
                                  optional={"gateway": maybe(ips), "version": maybe(text),
                                            "interface": maybe(small_ints)})
prev_result = st.fixed_dictionaries(
    {}, optional={"cniVersion": maybe(st.sampled_from(VERSIONS)),
                  "ips": maybe(st.lists(maybe(result_ip), max_size=3)),
                  "ip4": maybe(st.fixed_dictionaries({"ip": maybe(cidrs)},
                                                     optional={"gateway": maybe(ips)})),
                  "routes": maybe(st.lists(maybe(route), max_size=2)),
                  "interfaces": maybe(st.lists(json_values, max_size=2)),
                  "dns": maybe(dns)})
ips_list = maybe(st.lists(maybe(cidrs), max_size=3))
config = st.fixed_dictionaries(
    {
        "cniVersion": maybe(st.sampled_from(["1.0.0", "0.4.0", "0.3.1", "0.2.0"])
                            | st.sampled_from(VERSIONS)),
        "name": maybe(st.sampled_from(["net", "my-net.1"])
                      | st.sampled_from(["", "bad name", "-x", "a/b"]) | text),
        "type": maybe(st.just("static")),
        "ipam": maybe(ipam),
    },
    optional={
        "dns": maybe(dns),
        "capabilities": maybe(st.dictionaries(text, json_values, max_size=2)),
        "runtimeConfig": maybe(st.fixed_dictionaries({}, optional={"ips": ips_list})),
        "args": maybe(st.fixed_dictionaries({}, optional={"cni": maybe(
            st.fixed_dictionaries({}, optional={"ips": ips_list}))})),
        "prevResult": maybe(prev_result),
        "cni.dev/valid-attachments": maybe(st.lists(maybe(st.fixed_dictionaries(
            {"containerID": maybe(text), "ifname": maybe(text)})), max_size=2)),
    },
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


stdin_bytes = mostly(config.map(_dumps), st.one_of(
    json_values.map(_dumps),
    st.binary(max_size=200),
    config.map(lambda c: _dumps(c)[: max(0, len(_dumps(c)) - 3)]),  # truncated JSON
), 7)

env_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                          blacklist_characters="\x00"), max_size=20)
cni_args = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["IP", "GATEWAY", "IgnoreUnknown", "K8S_POD_NAME", "FOO", ""]),
                  st.sampled_from(["192.0.2.9/24", "192.0.2.1", "1", "true", "maybe",
                                   "2001:db8::9/64,192.0.2.9/24", "a=b", ""]) | env_text)
        .map(lambda kv: f"{kv[0]}={kv[1]}"),
        env_text),
    max_size=4).map(";".join)


def var(usual: str, other: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """Mostly what a runtime sends, else something odd, else missing (None)."""
    return mostly(st.just(usual), st.one_of(other, st.none()), 7)


env_values = {
    "CNI_COMMAND": mostly(st.sampled_from(["ADD"] * 4 + ["DEL", "CHECK", "VERSION", None]),
                          st.sampled_from(COMMANDS) | env_text),
    "CNI_CONTAINERID": var("c1", st.sampled_from(["abc-def_1.2", "", "a b", "../x", "-x"])
                           | env_text),
    "CNI_NETNS": var("/run/netns/natfuzz-does-not-exist", st.sampled_from(NETNS)),
    "CNI_IFNAME": var("eth0", st.sampled_from(["net1", "", ".", "..", "a:b", "a" * 16,
                                               "\u00e9" * 8]) | env_text),
    "CNI_ARGS": mostly(st.none(), cni_args, 5),
    "CNI_PATH": var("/opt/cni/bin", st.sampled_from(["", "/a:/b", "dummy"])),
    "CNI_NETNS_OVERRIDE": st.one_of(st.none(), st.sampled_from(["", "1", "true", "0", "yes"])),
}
envs = st.fixed_dictionaries(env_values).map(
    lambda env: {k: v for k, v in env.items() if v is not None})


# NATFUZZ_EXAMPLES=20000 for a long hunt (about 90 s); 300 keeps the unit suite fast.
@settings(max_examples=int(os.environ.get("NATFUZZ_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(env=envs, stdin=stdin_bytes)
@example(env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/self/ns/net",
              "CNI_IFNAME": "eth0"},
         stdin=_dumps({"cniVersion": "1.0.0", "name": "n", "ipam": {"addresses": []}}))
@example(env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "",
              "CNI_IFNAME": "eth0"}, stdin=b"\xff\xfe")
@example(env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1",
              "CNI_NETNS": "/run/netns/natfuzz-does-not-exist", "CNI_IFNAME": "eth0"},
         stdin=_dumps({"cniVersion": "0.2.0", "name": "n",
                       "ipam": {"routes": [{"dst": "0.0.0.0/0"}]}}))
def test_run_never_crashes(env: dict[str, str], stdin: bytes) -> None:
    out, err = io.StringIO(), io.StringIO()
    rc = run(StaticIPAM(), env, io.BytesIO(stdin), out, err)

    assert rc in (0, 1)
    event(f"{env.get('CNI_COMMAND', '<none>')[:8]!r} rc={rc}")
    assert "Traceback" not in err.getvalue() and "Traceback" not in out.getvalue()
    text_out = out.getvalue()
    if rc == 1:
        data = json.loads(text_out)  # one JSON document, nothing else
        assert isinstance(data, dict)
        assert isinstance(data["code"], int) and not isinstance(data["code"], bool)
        assert isinstance(data["msg"], str) and data["msg"]
        assert isinstance(data.get("details", ""), str)
        # a bug in the plugin is reported as such, never as an unknown crash
        assert "this is a bug" not in data.get("details", ""), data
        return
    if text_out.strip():
        data = json.loads(text_out)
        assert isinstance(data, dict)
        command = env.get("CNI_COMMAND")
        assert command in ("ADD", "VERSION"), (command, data)
        if command == "VERSION":
            assert "supportedVersions" in data
        else:
            assert isinstance(data.get("cniVersion"), str)
    else:
        assert env.get("CNI_COMMAND") != "ADD" or not env.get("CNI_COMMAND")
