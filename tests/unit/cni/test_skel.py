"""The skeleton: env + stdin -> one verb, printed answers, error codes, never a traceback."""

import io
import json

import pytest

from netattach.cni import BasePlugin, Code, Result
from netattach.cni.skel import run

CONF = {"cniVersion": "1.0.0", "name": "net", "type": "probe"}
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/nonexistent",
       "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


class Probe(BasePlugin):
    """Records the requests it gets; can be told to blow up."""

    type_name = "probe"

    def __init__(self, boom: Exception | None = None):
        self.seen = []
        self.boom = boom

    def _record(self, request):
        self.seen.append(request)
        if self.boom:
            raise self.boom

    def add(self, request):
        self._record(request)
        return Result()

    def delete(self, request):
        self._record(request)

    def check(self, request):
        self._record(request)


def call(plugin, env=None, conf=None, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    data = stdin if stdin is not None else json.dumps(conf or CONF).encode()
    rc = run(plugin, env if env is not None else ENV, io.BytesIO(data), out, err)
    return rc, out.getvalue(), err.getvalue()


def error_of(out):
    data = json.loads(out)
    return data["code"], data["msg"], data.get("details", "")


def test_add_prints_result_in_config_version():
    p = Probe()
    rc, out, _ = call(p)
    assert rc == 0 and json.loads(out) == {"cniVersion": "1.0.0", "dns": {}}
    req = p.seen[0]
    assert (req.container_id, req.ifname, req.path) == ("c1", "eth0", ("/opt/cni/bin",))


def test_version():
    rc, out, _ = call(Probe(), env={"CNI_COMMAND": "VERSION"}, stdin=b"not json")
    assert rc == 0
    assert json.loads(out) == {"cniVersion": "1.1.0", "supportedVersions":
                               ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_no_command_prints_about_on_stderr():
    rc, out, err = call(Probe(), env={})
    assert rc == 0 and out == "" and "CNI protocol versions supported" in err


@pytest.mark.parametrize("env_change,code,fragment", [
    ({"CNI_COMMAND": "FROB"}, Code.INVALID_ENVIRONMENT, "unknown CNI_COMMAND: FROB"),
    ({"CNI_CONTAINERID": ""}, Code.INVALID_ENVIRONMENT, "[CNI_CONTAINERID] missing"),
    ({"CNI_NETNS": "", "CNI_IFNAME": ""}, Code.INVALID_ENVIRONMENT,
     "[CNI_NETNS,CNI_IFNAME] missing"),
    ({"CNI_IFNAME": "x" * 16}, Code.INVALID_ENVIRONMENT, "too long"),
    ({"CNI_CONTAINERID": "a b"}, Code.INVALID_ENVIRONMENT, "invalid characters in containerID"),
    ({"CNI_NETNS": "/proc/thread-self/ns/net"}, Code.INVALID_NETNS, "should not be the same"),
])
def test_env_errors(env_change, code, fragment):
    p = Probe()
    rc, out, _ = call(p, env={**ENV, **env_change})
    got_code, msg, details = error_of(out)
    assert rc == 1 and got_code == code and fragment in msg and details
    assert not p.seen  # nothing ran


def test_netns_override_skips_the_own_netns_check():
    rc, _, _ = call(Probe(), env={**ENV, "CNI_NETNS": "/proc/thread-self/ns/net",
                                  "CNI_NETNS_OVERRIDE": "true"})
    assert rc == 0


def test_del_without_netns_and_without_cni_path():
    p = Probe()
    env = {k: v for k, v in ENV.items() if k not in ("CNI_NETNS", "CNI_PATH")}
    rc, out, _ = call(p, env={**env, "CNI_COMMAND": "DEL"})
    assert rc == 0 and out == "" and p.seen[0].netns == "" and p.seen[0].path == ()


@pytest.mark.parametrize("conf,code,fragment", [
    ({**CONF, "cniVersion": "0.5.0"}, Code.INCOMPATIBLE_VERSION, "incompatible CNI versions"),
    ({**CONF, "cniVersion": "x"}, Code.INCOMPATIBLE_VERSION, "incompatible CNI versions"),
    ({**CONF, "name": ""}, Code.INVALID_NETWORK_CONFIG, "missing network name"),
    ({**CONF, "name": "a b"}, Code.INVALID_NETWORK_CONFIG, "invalid characters"),
    ({**CONF, "name": 7}, Code.DECODING_FAILURE, "name"),
])
def test_config_errors(conf, code, fragment):
    rc, out, _ = call(Probe(), conf=conf)
    got_code, msg, _ = error_of(out)
    assert rc == 1 and got_code == code and fragment in msg


def test_incompatible_version_details_like_libcni():
    class Old(Probe):
        supported_versions = ("0.3.1", "0.4.0")
    _, out, _ = call(Old(), conf={**CONF, "cniVersion": "1.0.0"})
    assert error_of(out)[2] == 'config is "1.0.0", plugin supports ["0.3.1" "0.4.0"]'


def test_not_json_is_code_6():
    rc, out, _ = call(Probe(), stdin=b"{nope")
    assert rc == 1 and error_of(out)[0] == Code.DECODING_FAILURE


@pytest.mark.parametrize("command,version,fragment", [
    ("CHECK", "0.3.1", "does not allow CHECK"),
    ("GC", "1.0.0", "does not allow GC"),
    ("STATUS", "1.0.0", "does not allow STATUS"),
])
def test_verb_minimum_versions(command, version, fragment):
    rc, out, _ = call(Probe(), env={**ENV, "CNI_COMMAND": command},
                      conf={**CONF, "cniVersion": version})
    assert rc == 1 and error_of(out)[0] == Code.INCOMPATIBLE_VERSION
    assert fragment in error_of(out)[1]


def test_gc_and_status_default_to_success_without_container_env():
    for command in ("GC", "STATUS"):
        rc, out, _ = call(Probe(), env={"CNI_COMMAND": command},
                          conf={**CONF, "cniVersion": "1.1.0"})
        assert (rc, out) == (0, "")


def test_cni_error_from_plugin_is_passed_through():
    from netattach.cni import CNIError
    p = Probe(boom=CNIError(Code.TRY_AGAIN_LATER, "busy", "retry"))
    rc, out, _ = call(p)
    assert rc == 1 and error_of(out) == (11, "busy", "retry")
    assert json.loads(out)["cniVersion"] == "1.0.0"


def test_unexpected_exception_becomes_999_without_traceback():
    rc, out, err = call(Probe(boom=ZeroDivisionError("division by zero")))
    code, msg, details = error_of(out)
    assert rc == 1 and code == 999 and "division by zero" in msg and "bug" in details
    assert "Traceback" not in out + err


def test_legacy_version_conversion_failure_is_reported():
    rc, out, _ = call(Probe(), conf={**CONF, "cniVersion": "0.2.0"})
    assert rc == 1 and error_of(out)[1] == "cannot convert: no valid IP addresses"
