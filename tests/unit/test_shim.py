"""netattach-shim as the runtime runs it (the installed file, `python -IS`), against no
daemon or a fake one on a unix socket that misbehaves: whatever happens, stdout is one CNI
JSON object and the exit code is 0 or 1; never a traceback, never an empty stdout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netattach.node.binaries import install_shim

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid", "CNI_NETNS": "/run/netns/x",
       "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_shim(tmp_path_factory.mktemp("shim-bin"))


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory (sun_path holds 107 bytes; pytest's tmp paths can be longer)."""
    with tempfile.TemporaryDirectory(prefix="shim-") as d:
        yield Path(d)


def run_shim(shim: Path, stdin: bytes, env: dict[str, Any] | None = None,
             timeout: float = 30) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run([str(shim)], input=stdin, env=env if env is not None else ENV,
                          capture_output=True, timeout=timeout)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "Traceback" not in out + err, out + err
    assert proc.returncode in (0, 1), (proc.returncode, out, err)
    answer = json.loads(out)
    assert isinstance(answer, dict), out
    if proc.returncode == 1:
        assert isinstance(answer["code"], int) and isinstance(answer["msg"], str), answer
    return proc.returncode, answer, err


def conf(sock_dir: Path, **extra: Any) -> bytes:
    return json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "netattach-shim",
                       "daemonSocketDir": str(sock_dir), "daemonConnectTimeout": 0,
                       **extra}).encode()


def test_deeply_nested_stdin_is_a_decoding_error(shim: Path, sock_dir: Path) -> None:
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    rc, out, _ = run_shim(shim, deep)
    assert rc == 1 and out["code"] == 6 and "nested too deeply" in out["msg"]
    rc, out, _ = run_shim(shim, b"[" * 200_000)
    assert rc == 1 and out["code"] in (6, 11)  # undecodable: the daemon would say why


@pytest.mark.parametrize("key", ["daemonRequestTimeout", "daemonConnectTimeout"])
@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN", "Infinity", "-1", "1e300",
                                   '"inf"', '"nan"', '"1e400"', "true", "[]", "{}", '"x"'])
def test_malformed_timeouts_are_config_errors(shim: Path, sock_dir: Path, key: str,
                                              value: str) -> None:
    stdin = conf(sock_dir).replace(b'"daemonConnectTimeout": 0',
                                   f'"daemonConnectTimeout": 0, "{key}": {value}'.encode())
    rc, out, _ = run_shim(shim, stdin)
    assert rc == 1 and out["code"] == 7, out
    assert key in out["msg"] and "seconds" in out["msg"]
    assert "netattach-shim CNI config" in out["details"]


def test_zero_request_timeout_is_refused_but_zero_connect_timeout_is_fine(
        shim: Path, sock_dir: Path) -> None:
    rc, out, _ = run_shim(shim, conf(sock_dir, daemonRequestTimeout=0))
    assert (rc, out["code"]) == (1, 7) and "daemonRequestTimeout" in out["msg"]
    rc, out, _ = run_shim(shim, conf(sock_dir, daemonRequestTimeout="2.5"))
    assert (rc, out["code"]) == (1, 11)  # a numeric string still works; no daemon: 11


@pytest.mark.parametrize("value", [["x"], {"a": 1}, 5, "", "a\u0000b", "/" + "d" * 200,
                                   "\ud800"])
def test_malformed_socket_dir_is_a_config_error(shim: Path, value: Any) -> None:
    stdin = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "netattach-shim",
                        "daemonSocketDir": value, "daemonConnectTimeout": 0}).encode()
    rc, out, _ = run_shim(shim, stdin)
    assert (rc, out["code"]) == (1, 7), out
    assert "daemonSocketDir" in out["msg"]


@pytest.mark.parametrize("value", ["Ignore", 1, True, ["ignore"]])
def test_malformed_del_on_daemon_down(shim: Path, sock_dir: Path, value: Any) -> None:
    rc, out, _ = run_shim(shim, conf(sock_dir, delOnDaemonDown=value),
                          env={**ENV, "CNI_COMMAND": "DEL"})
    assert (rc, out["code"]) == (1, 7) and "delOnDaemonDown" in out["msg"]


def test_non_utf8_cni_variable_is_refused_locally(shim: Path, sock_dir: Path) -> None:
    env = {k.encode(): v.encode() for k, v in ENV.items()}
    env[b"CNI_IFNAME"] = b"eth\xff"
    rc, out, _ = run_shim(shim, conf(sock_dir), env=env)  # type: ignore[arg-type]
    assert (rc, out["code"]) == (1, 4), out
    assert "CNI_IFNAME" in out["msg"] and "UTF-8" in out["msg"]


# -- a daemon that dies mid-request -----------------------------------------------------------
class FakeDaemon:
    """Accepts on `dir/netattach.sock` and lets `behave(conn)` answer (or not)."""

    def __init__(self, directory: Path, behave: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(directory / "netattach.sock"))
        self.sock.listen(4)
        self.behave = behave
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            self.behave(conn)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def close_at_once(conn: socket.socket) -> None:
    read_request(conn)


def reset(conn: socket.socket) -> None:
    import struct

    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def half_headers(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/js")


def short_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
                 b'{"result": {"cniVer')


def never_reads(conn: socket.socket) -> None:
    return None  # closed before the request was read: the shim's send may fail (EPIPE)


@pytest.mark.parametrize("behave", [close_at_once, reset, half_headers, short_body,
                                    never_reads])
def test_daemon_dying_mid_request_is_try_again_later(shim: Path, sock_dir: Path,
                                                     behave: Callable[[socket.socket], None]
                                                     ) -> None:
    daemon = FakeDaemon(sock_dir, behave)
    try:
        body = conf(sock_dir, padding="x" * 300_000)  # larger than the socket buffers
        rc, out, _ = run_shim(shim, body)
    finally:
        daemon.close()
    assert (rc, out["code"]) == (1, 11), out
    assert "went away before answering" in out["msg"] and str(sock_dir) in out["msg"]


def test_daemon_answering_a_malformed_error_gets_wrapped(shim: Path, sock_dir: Path) -> None:
    def bad_error(conn: socket.socket) -> None:
        read_request(conn)
        body = json.dumps({"code": "eleven", "msg": 5}).encode()
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    daemon = FakeDaemon(sock_dir, bad_error)
    try:
        rc, out, _ = run_shim(shim, conf(sock_dir))
    finally:
        daemon.close()
    assert (rc, out["code"]) == (1, 999) and "HTTP 500" in out["msg"]


def test_a_complete_answer_still_works(shim: Path, sock_dir: Path) -> None:
    def good(conn: socket.socket) -> None:
        req = read_request(conn)
        assert req.startswith(b"POST /cni HTTP/1.1")
        body = json.dumps({"result": {"cniVersion": "1.0.0", "ips": []}}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                     % len(body) + body)

    daemon = FakeDaemon(sock_dir, good)
    try:
        rc, out, _ = run_shim(shim, conf(sock_dir))
    finally:
        daemon.close()
    assert (rc, out) == (0, {"cniVersion": "1.0.0", "ips": []})
    assert os.path.exists(sock_dir / "netattach.sock")


# -- the answer as the plugin's stdout (X-CNI-Stdout), and an older daemon ----------------
def read_body(conn: socket.socket) -> tuple[bytes, bytes]:
    data = read_request(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head, body


@pytest.mark.parametrize(("exit_code", "printed"), [
    (0, b'{\n    "cniVersion": "1.1.0",\n    "interfaces": []\n}\n'),
    (1, b'{\n    "code": 7,\n    "msg": "no such NAD \xc3\xa9"\n}\n')])
def test_the_daemons_stdout_is_printed_as_it_is(shim: Path, sock_dir: Path, exit_code: int,
                                               printed: bytes) -> None:
    seen: dict[str, bytes] = {}

    def stdout_answer(conn: socket.socket) -> None:
        seen["head"], seen["body"] = read_body(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-CNI-Exit-Code: %d\r\nContent-Length: %d\r\n\r\n"
                     % (exit_code, len(printed)) + printed)

    daemon = FakeDaemon(sock_dir, stdout_answer)
    env = {**ENV, "CNI_ARGS": 'K8S_POD_NAME=p;"quoted"\\x', "CNI_NETNS": "/run/netns/é",
           "OTHER": "not forwarded"}
    stdin = conf(sock_dir, note="é\u2028")
    try:
        proc = subprocess.run([str(shim)], input=stdin, env=env, capture_output=True,
                              timeout=30)
    finally:
        daemon.close()
    assert (proc.returncode, proc.stdout) == (exit_code, printed), proc.stderr
    assert b"\r\nX-CNI-Stdout: 1\r\n" in seen["head"]
    request = json.loads(seen["body"])  # the hand-built body is the JSON json.dumps makes
    assert request == {"env": {k: v for k, v in env.items() if k.startswith("CNI_")},
                       "config": __import__("base64").b64encode(stdin).decode()}


def test_an_older_daemons_json_answer_still_works(shim: Path, sock_dir: Path) -> None:
    def json_answer(conn: socket.socket) -> None:
        read_body(conn)
        body = json.dumps({"result": {"cniVersion": "1.0.0", "ips": []}}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    daemon = FakeDaemon(sock_dir, json_answer)
    try:
        rc, out, _ = run_shim(shim, conf(sock_dir))
    finally:
        daemon.close()
    assert (rc, out) == (0, {"cniVersion": "1.0.0", "ips": []})


def test_stdin_is_read_as_json_loads_reads_it(shim: Path, sock_dir: Path) -> None:
    """The C scanner reads what json.loads reads: whitespace around the object, escapes."""
    padded = b" \n\t" + conf(sock_dir).replace(b'"name": "n"', b'"name": "\\u00e9\\ud83d'
                                                  b'\\ude00"') + b"\r\n "
    rc, out, _ = run_shim(shim, padded)
    assert (rc, out["code"]) == (1, 11) and str(sock_dir) in out["msg"], out
    rc, out, _ = run_shim(shim, b'  {"daemonSocketDir": 5}  ')
    assert (rc, out["code"]) == (1, 7) and "daemonSocketDir" in out["msg"], out


@pytest.mark.parametrize("text", [b"{", b'{"a" 1}', b'"abc', b'{"a": 1,', b"[1 2]", b"x",
                                  b'{"a": tru}', b"{'a': 1}"])
def test_a_syntax_error_in_stdin_is_not_json_without_json_decoder(shim: Path,
                                                                  text: bytes) -> None:
    """The shim's parser, in an interpreter like the shim's (`-IS`, json.decoder never
    imported): every malformed input is a ValueError (the daemon then reports it), never a
    SystemError out of the C scanner."""
    code = ("import sys\n"
            "shim = {'__name__': 'shim'}\n"
            "exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), shim)\n"
            "assert 'json.decoder' not in sys.modules\n"
            "try:\n"
            "    shim['_loads'](sys.stdin.buffer.read())\n"
            "except ValueError:\n"
            "    print('ValueError')\n")
    proc = subprocess.run([sys.executable, "-IS", "-c", code, str(shim)], input=text,
                          capture_output=True, text=False, timeout=30)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, b"ValueError", b"")


def test_a_syntax_error_in_stdin_goes_to_the_daemon_as_it_is(shim: Path) -> None:
    """End to end: `{` (the fuzz suite's find) gets the shim's ordinary answer for a config
    it cannot read (no daemon on the default socket here: try again later), no traceback."""
    rc, out, _ = run_shim(shim, b"{")
    assert (rc, out["code"]) == (1, 11), out
