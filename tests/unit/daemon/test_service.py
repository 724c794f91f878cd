"""CniService.handle in process: POST /cni bodies in, (HTTP status, body) out, no socket."""

import base64
import json

import pytest

from netattach.cni import version as versions
from netattach.cni.errors import CNIError, Code
from netattach.cni.request import Command
from netattach.cni.types import Result
from netattach.daemon.config import DaemonConfig
from netattach.daemon.metrics import Metrics
from netattach.daemon.service import CniService, decode_body, in_process

CONF = {"cniVersion": "1.0.0", "name": "netattach-cni-network", "type": "netattach-shim"}
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid-1", "CNI_NETNS": "/run/netns/absent-pod",
       "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",
       "CNI_ARGS": "K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web;K8S_POD_UID=uid-1"}
RESULT = Result.from_json({"cniVersion": "1.0.0",
                           "interfaces": [{"name": "eth0", "sandbox": "/run/netns/absent-pod"}],
                           "ips": [{"address": "192.0.2.5/24", "interface": 0}]})


class FakePlugin:
    """The Plugin protocol; each verb does what `behaviour` says (a Result, None or an error)."""

    type_name = "fake"
    supported_versions = versions.ALL

    def __init__(self, behaviour=None):
        self.behaviour = behaviour or {}
        self.requests = []

    def _run(self, command, request):
        self.requests.append(request)
        outcome = self.behaviour.get(command)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def add(self, request):
        return self._run(Command.ADD, request) or RESULT

    def delete(self, request):
        self._run(Command.DEL, request)

    def check(self, request):
        self._run(Command.CHECK, request)

    def gc(self, request):
        self._run(Command.GC, request)

    def status(self, request):
        self._run(Command.STATUS, request)


def body(env=None, conf=None, **env_overrides):
    env = {**(ENV if env is None else env), **env_overrides}
    config = base64.b64encode(json.dumps(CONF if conf is None else conf).encode()).decode()
    return json.dumps({"env": env, "config": config}).encode()


def service(plugin=None, **config):
    plugin = plugin or FakePlugin()
    wanted = []

    def plugin_for(uid):
        wanted.append(uid)
        return plugin

    cfg = DaemonConfig(**config)
    svc = CniService(cfg, Metrics.create(), in_process(cfg, plugin_for))
    svc.wanted_uids = wanted
    return svc


def sample(svc, name, **labels):
    return svc.metrics.registry.get_sample_value(name, labels or None)


def test_version():
    svc = service()
    answer = svc.handle(body({"CNI_COMMAND": "VERSION"}, conf={}))
    assert answer.status == 200
    assert answer.body == {"result": {"cniVersion": versions.CURRENT,
                                      "supportedVersions": list(versions.ALL)}}
    assert json.loads(answer.encode()) == answer.body


def test_add_answers_the_result_and_counts_it():
    plugin = FakePlugin()
    svc = service(plugin)
    answer = svc.handle(body())
    assert answer.status == 200
    assert answer.body == {"result": RESULT.to_json("1.0.0")}
    (request,) = plugin.requests
    assert (request.command, request.container_id, request.ifname) == (Command.ADD, "cid-1",
                                                                       "eth0")
    assert svc.wanted_uids == ["uid-1"]  # the meta plugin is built for the pod's UID
    assert sample(svc, "netattach_cni_requests_total", verb="ADD", result="ok") == 1
    assert sample(svc, "netattach_cni_request_duration_seconds_count", verb="ADD") == 1
    assert sample(svc, "netattach_cni_requests_in_flight") == 0
    assert svc.admission.pending == 0 and svc.locks._locks == {}


def test_del_answers_an_empty_body():
    svc = service()
    answer = svc.handle(body(CNI_COMMAND="DEL"))
    assert (answer.status, answer.body) == (200, {})


def test_daemon_config_written_over_the_shims_config():
    plugin = FakePlugin()
    svc = service(plugin, overrides={"cniDir": "/var/lib/netattach", "logLevel": "verbose"})
    svc.handle(body(conf={**CONF, "cniDir": "/from/the/shim", "confDir": "/kept"}))
    raw = plugin.requests[0].config.raw
    assert (raw["cniDir"], raw["confDir"], raw["logLevel"]) == ("/var/lib/netattach", "/kept",
                                                                "verbose")


@pytest.mark.parametrize("code,status", [
    (Code.TRY_AGAIN_LATER, 503), (Code.INVALID_NETWORK_CONFIG, 400),
    (Code.INVALID_ENVIRONMENT, 400), (Code.DECODING_FAILURE, 400),
    (Code.INCOMPATIBLE_VERSION, 400), (Code.UNSUPPORTED_FIELD, 400),
    (Code.IO_FAILURE, 500), (Code.INVALID_NETNS, 500), (Code.INTERNAL, 500),
    (Code.PLUGIN_NOT_AVAILABLE, 500), (42, 500),  # a code outside the spec
])
def test_cni_error_is_status_and_error_body(code, status):
    err = CNIError(code, "[team-a/web/uid-1:a-net]: error adding container", "do this")
    svc = service(FakePlugin({Command.ADD: err}))
    answer = svc.handle(body())
    assert answer.status == status
    assert answer.body == {"cniVersion": "1.0.0", "code": int(code),
                           "msg": "[team-a/web/uid-1:a-net]: error adding container",
                           "details": "do this"}
    assert sample(svc, "netattach_cni_requests_total", verb="ADD", result=str(int(code))) == 1
    assert sample(svc, "netattach_cni_requests_rejected_total") == 0


def test_unexpected_exception_is_500_code_999():
    svc = service(FakePlugin({Command.DEL: RuntimeError("boom")}))
    answer = svc.handle(body(CNI_COMMAND="DEL"))
    assert answer.status == 500
    assert answer.body == {"cniVersion": "1.0.0", "code": 999, "msg": "fake: boom",
                           "details": "unexpected RuntimeError; this is a bug, please report it"}
    assert sample(svc, "netattach_cni_requests_total", verb="DEL", result="999") == 1
    assert svc.admission.pending == 0 and svc.locks._locks == {}


def test_skel_rules_apply_before_the_plugin():
    plugin = FakePlugin()
    svc = service(plugin)
    answer = svc.handle(body(conf={**CONF, "cniVersion": "0.3.1"}, CNI_COMMAND="CHECK"))
    assert answer.status == 400 and answer.body["code"] == Code.INCOMPATIBLE_VERSION
    answer = svc.handle(body(CNI_IFNAME=""))
    assert answer.status == 400 and answer.body["code"] == Code.INVALID_ENVIRONMENT
    assert answer.body["msg"] == "required env variables [CNI_IFNAME] missing"
    assert plugin.requests == []


def test_busy_is_503_code_11_and_counted_as_rejected():
    plugin = FakePlugin()
    svc = service(plugin, max_in_flight=1, max_queued=1)
    first, second = svc.admission.admit(), svc.admission.admit()
    first.__enter__()
    second.__enter__()
    try:
        answer = svc.handle(body())
    finally:
        second.__exit__(None, None, None)
        first.__exit__(None, None, None)
    assert answer.status == 503
    assert answer.body["code"] == 11
    assert answer.body["msg"] == "netattach daemon is busy: 2 CNI requests in flight"
    assert "maxInFlight=1" in answer.body["details"]
    assert plugin.requests == []
    assert sample(svc, "netattach_cni_requests_rejected_total") == 1
    assert sample(svc, "netattach_cni_requests_total", verb="ADD", result="11") == 1
    assert sample(svc, "netattach_cni_requests_in_flight") == 2
    assert svc.handle(body()).status == 200  # room again once they are done
    assert sample(svc, "netattach_cni_requests_rejected_total") == 1


def test_malformed_body_is_400_code_6():
    svc = service()
    answer = svc.handle(b"not json")
    assert answer.status == 400 and answer.body["code"] == Code.DECODING_FAILURE
    assert answer.body["msg"].startswith("netattach daemon: bad /cni request: not JSON")
    assert sample(svc, "netattach_cni_requests_total", verb="unknown", result="6") == 1


def test_handle_never_raises_even_when_the_plugin_cannot_be_built():
    def plugin_for(uid):
        raise RuntimeError("cannot build the meta plugin")

    svc = CniService(DaemonConfig(), Metrics.create(), in_process(DaemonConfig(), plugin_for))
    answer = svc.handle(body())
    assert answer.status == 500 and answer.body["code"] == 999


# -- decode_body -----------------------------------------------------------------------------

def test_decode_body():
    env, stdin = decode_body(body())
    assert env == ENV and json.loads(stdin) == CONF
    assert decode_body(b'{"env": {"CNI_COMMAND": "VERSION"}}') == ({"CNI_COMMAND": "VERSION"},
                                                                    b"")


@pytest.mark.parametrize("raw,why", [
    (b"", "not JSON"),
    (b"{", "not JSON"),
    (b"\xff", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'"x"', "not a JSON object"),
    (b"{}", '"env" must be an object of strings'),
    (b'{"env": []}', '"env" must be an object of strings'),
    (b'{"env": {"CNI_COMMAND": 1}}', '"env" must be an object of strings'),
    (b'{"env": {"CNI_COMMAND": null}}', '"env" must be an object of strings'),
    (b'{"env": {}, "config": 5}', '"config" must be a base64 string'),
    (b'{"env": {}, "config": {"cniVersion": "1.0.0"}}', '"config" must be a base64 string'),
    (b'{"env": {}, "config": "not base64!"}', '"config" is not base64'),
    (b'{"env": {}, "config": "YWJ"}', '"config" is not base64'),  # cut short
])
def test_decode_body_errors(raw, why):
    with pytest.raises(CNIError) as e:
        decode_body(raw)
    assert e.value.code == Code.DECODING_FAILURE == 6
    assert e.value.msg.startswith(f"netattach daemon: bad /cni request: {why}")
    assert "netattach-shim of the same version" in e.value.details


def test_answer_as_the_plugins_stdout():
    from netattach.daemon.service import Answer

    result = {"cniVersion": "1.1.0", "ips": [{"address": "192.0.2.5/24"}]}
    assert Answer(200, {"result": result}).stdout() == (
        0, (json.dumps(result, indent=4) + "\n").encode())
    assert Answer(200, {}).stdout() == (0, b"")  # DEL, CHECK, GC print nothing
    error = {"code": 11, "msg": "busy", "details": "try again"}
    assert Answer(503, error).stdout() == (1, (json.dumps(error, indent=4) + "\n").encode())
