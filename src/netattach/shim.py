"""netattach-shim: the CNI executable of thick mode. Standard library only.

It forwards the CNI call (the CNI_* environment and stdin) to the netattach daemon over
its unix socket, as `POST /cni {"env": {...}, "config": "<base64 stdin>"}`, and prints
the daemon's answer the way a plugin does: the result (ADD) on stdout and exit 0, or the
CNI error object on stdout and exit 1. `netattach install-bin` writes this file, as is,
under a `#!<python> -IS` line: it must import nothing but a few builtin modules, so
that it starts in a few milliseconds.

Config keys read from stdin (the rest is the daemon's business):
  daemonSocketDir       directory of netattach.sock (default /run/netattach/)
  daemonConnectTimeout  seconds to keep retrying while the daemon is down (default 3)
  daemonRequestTimeout  seconds to wait for the answer (default 300)
  delOnDaemonDown       "error" (default): DEL fails with code 11 when the daemon is
                        down; "ignore": DEL succeeds (Multus's behaviour)
A malformed setting is code 7, a non-UTF-8 CNI_* variable code 4, a daemon that goes away
before its whole answer is in (killed mid-request) or does not answer in time code 11.

Start-up is most of the shim's cost (it runs twice per pod), so the request path imports
only C modules (`_json`, `_socket`, `binascii`: ~0.5 ms) instead of `json` and `socket`
(~10 ms, they pull in `re`, `enum`, `selectors`...). It asks for the answer as the
plugin's stdout (header `X-CNI-Stdout: 1`): the daemon sends the exact bytes to print and
`X-CNI-Exit-Code`, so the shim decodes no JSON at all. An answer without that header (an
older daemon, or the server's own 400/403) is decoded with `json`, imported then.
"""

import _json
import _socket
import binascii
import os
import sys

SUPPORTED = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
DEFAULT_SOCKET_DIR = "/run/netattach/"
SOCKET_NAME = "netattach.sock"
TRY_AGAIN_LATER = 11
RETRY_ERRNOS = (2, 111, 11)  # ENOENT, ECONNREFUSED, EAGAIN: the daemon is (re)starting


def _error(code, msg, details=""):
    import json

    out = {"code": code, "msg": msg}
    if details:
        out["details"] = details
    return json.dumps(out, indent=4)


class DaemonDown(Exception):
    pass


def _connect(path, timeout):
    """A connected socket to `path`, retrying every 100 ms for `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError as e:
            sock.close()
            if e.errno not in RETRY_ERRNOS or time.monotonic() >= deadline:
                raise DaemonDown(f"{e.strerror or e}") from None
        time.sleep(0.1)


class DaemonGone(Exception):
    """The daemon closed or reset the connection before a complete HTTP answer."""


def _post(path, body, connect_timeout, timeout):
    """POST /cni; returns (status, exit code or None, body bytes): the exit code is the
    daemon's X-CNI-Exit-Code, and then the body is what to print. DaemonDown when nobody
    accepts the connection, DaemonGone when the daemon goes away before its whole answer
    is in."""
    sock = _connect(path, connect_timeout)
    try:
        sock.settimeout(timeout)
        head = (f"POST /cni HTTP/1.1\r\nHost: netattach\r\nContent-Type: application/json\r\n"
                f"X-CNI-Stdout: 1\r\nContent-Length: {len(body)}\r\nConnection: close"
                "\r\n\r\n").encode()
        chunks = []
        try:  # noqa: SIM105 - contextlib would be one more import on the hot path
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # it may still have answered (e.g. 400 for a too large body): read it
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
            raise DaemonGone(f"connection reset ({e.strerror or e})") from None
    finally:
        sock.close()
    raw = b"".join(chunks)
    if not raw:
        raise DaemonGone("connection closed before any answer")
    header, sep, payload = raw.partition(b"\r\n\r\n")
    if not sep:
        raise DaemonGone(f"connection closed in the middle of the answer's headers "
                         f"({len(raw)} bytes received)")
    lines = header.split(b"\r\n")
    status_line = lines[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") \
            or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer: {raw[:80]!r}")
    exit_code = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length" and value.isdigit() and len(payload) < int(value):
            raise DaemonGone(f"connection closed after {len(payload)} of {int(value)} bytes "
                             "of the answer")
        if name == b"x-cni-exit-code" and value in (b"0", b"1"):
            exit_code = int(value)
    return int(status_line[1]), exit_code, payload


class _Settings:
    """The scanner settings of json.loads (C scanner, no `re`)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                      "-Infinity": float("-inf")}.__getitem__
    memo = None


def _loads(data):
    """json.loads of stdin with the C scanner; ValueError when it is not JSON, and
    RecursionError when it is nested too deeply."""
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = _json.make_scanner(_Settings())(text, start)
    except (StopIteration, SystemError):
        # SystemError: a syntax error inside the value. CPython 3.11's scanner raises it as
        # json.decoder.JSONDecodeError, which it looks up in sys.modules only; json.decoder
        # is not imported here (it is most of `import json`'s cost), so the lookup fails.
        raise ValueError("not JSON") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return value


def _request_body(env, data):
    """The POST /cni body, JSON-encoded by hand from C string escaping."""
    quote = _json.encode_basestring_ascii
    pairs = ", ".join(quote(k) + ": " + quote(v) for k, v in env.items()
                      if k.startswith("CNI_"))
    return ('{"env": {' + pairs + '}, "config": "'
            + binascii.b2a_base64(data, newline=False).decode() + '"}').encode()


def _setting(conf, key, default):
    value = conf.get(key, default) if isinstance(conf, dict) else default
    return default if value is None else value


class _BadSetting(Exception):
    pass


MAX_SECONDS = 86400.0  # a day: far above any sane timeout, far below settimeout's limit
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the terminating NUL


def _utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: os.environ's stand-ins for non-UTF-8 bytes
        return False
    return True


def _show(value):
    """A short text for a bad setting's value (no deep JSON encoding of containers)."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    import json

    return json.dumps(value)[:100]


def _seconds(conf, key, default, zero_ok):
    """A finite number of seconds in [0, MAX_SECONDS] (above 0 unless zero_ok)."""
    value = _setting(conf, key, default)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        seconds = float(value)
    except (ValueError, OverflowError):
        seconds = None
    if seconds is None or not (0.0 <= seconds <= MAX_SECONDS) or (seconds == 0 and not zero_ok):
        shown = _show(value) if seconds is None else repr(seconds)
        low = "0" if zero_ok else "more than 0"
        raise _BadSetting(f"{key} must be a number of seconds from {low} to {MAX_SECONDS:g}, "
                          f"got {shown}")
    return seconds


def _socket_dir(value):
    """daemonSocketDir as a usable directory path (the socket path must fit sun_path)."""
    if not isinstance(value, str) or not value or "\0" in value or not _utf8(value):
        raise _BadSetting(f"daemonSocketDir must be a directory path, got {_show(value)}")
    if len(os.path.join(value, SOCKET_NAME).encode()) > MAX_SOCKET_PATH:
        raise _BadSetting(f"daemonSocketDir {value[:60]!r}... is too long: the socket path "
                          f"must fit in {MAX_SOCKET_PATH} bytes")
    return value


def main(env, stdin, stdout, stderr):
    command = env.get("CNI_COMMAND", "")
    if not command:
        stderr.write("CNI netattach-shim plugin (netattach thick mode: forwards to the "
                     "netattach daemon)\nCNI protocol versions supported: "
                     + ", ".join(SUPPORTED) + "\n")
        return 0
    if command == "VERSION":
        stdout.write('{"cniVersion": "1.1.0", "supportedVersions": ["'
                     + '", "'.join(SUPPORTED) + '"]}\n')
        return 0
    data = stdin.read()
    try:
        conf = _loads(data)
    except RecursionError:
        stdout.write(_error(6, "error unmarshall network config: nested too deeply",
                            "the network config must be a JSON object of sane depth") + "\n")
        return 1
    except ValueError:
        conf = {}  # the daemon reports the decoding error with its thin-mode message
    bad_env = [k for k, v in env.items() if k.startswith("CNI_") and not _utf8(k + v)]
    if bad_env:
        stdout.write(_error(4, "invalid environment variables: " + ", ".join(
            sorted(ascii(k) for k in bad_env)) + " not valid UTF-8",
            "the runtime must pass CNI_* values as UTF-8 text") + "\n")
        return 1
    try:
        socket_dir = _socket_dir(_setting(conf, "daemonSocketDir", DEFAULT_SOCKET_DIR))
        connect_timeout = _seconds(conf, "daemonConnectTimeout", 3.0, zero_ok=True)
        timeout = _seconds(conf, "daemonRequestTimeout", 300.0, zero_ok=False)
        on_del = _setting(conf, "delOnDaemonDown", "error")
        if on_del not in ("error", "ignore"):
            raise _BadSetting(f'delOnDaemonDown must be "error" or "ignore", got '
                              f"{_show(on_del)}")
    except _BadSetting as e:
        stdout.write(_error(7, f"netattach-shim: {e}", "fix the netattach-shim CNI config "
                            "(see docs/thick-mode.md, shim config keys)") + "\n")
        return 1
    path = os.path.join(socket_dir, SOCKET_NAME)
    body = _request_body(env, data)
    try:
        status, exit_code, payload = _post(path, body, connect_timeout, timeout)
    except DaemonDown as e:
        if command == "DEL" and on_del == "ignore":
            stderr.write(f"netattach-shim: DEL ignored: daemon not reachable on {path} ({e})\n")
            return 0
        stdout.write(_error(
            TRY_AGAIN_LATER,
            f"netattach-shim: the netattach daemon is not running or not reachable on "
            f"socket {path} ({e}; retried for {connect_timeout:g}s)",
            "start it (netattach daemon, usually the netattach DaemonSet pod on this node) "
            "and check it with `kubectl -n kube-system get pods -o wide | grep netattach` or "
            f"`curl --unix-socket {path} http://netattach/readyz`; if it runs with another "
            "socket directory, set daemonSocketDir in the CNI config") + "\n")
        return 1
    except (DaemonGone, OSError) as e:
        # the daemon died, restarted or timed out mid-request: the runtime should retry
        what = "did not answer in time" if isinstance(e, TimeoutError) else \
            f"went away before answering ({e})"
        stdout.write(_error(
            TRY_AGAIN_LATER,
            f"netattach-shim: {command} via the daemon on {path} failed: the daemon {what}",
            "try again later (the runtime retries); if it keeps happening, check the daemon's "
            "log for this container id") + "\n")
        return 1
    except ValueError as e:
        stdout.write(_error(999, f"netattach-shim: {command} via the daemon on {path} failed: "
                            f"{e}", "the daemon and the shim may be different versions; check "
                            "the daemon's log") + "\n")
        return 1
    if exit_code is not None:  # the daemon sent what a plugin prints
        stdout.write(payload.decode("utf-8", "replace"))
        return exit_code
    import json

    try:
        answer = json.loads(payload) if payload.strip() else {}
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        stdout.write(_error(999, f"netattach-shim: the daemon on {path} answered HTTP "
                            f"{status} with a body that is not a JSON object",
                            "the daemon and the shim may be different versions; check the "
                            "daemon's log") + "\n")
        return 1
    if 200 <= status < 300:
        result = answer.get("result", answer.get("Result"))
        if result is not None:
            stdout.write(json.dumps(result, indent=4) + "\n")
        return 0
    code = answer.get("code")
    if not isinstance(code, int) or isinstance(code, bool) \
            or not isinstance(answer.get("msg", ""), str):
        answer = {"code": 999, "msg": f"netattach-shim: the daemon answered HTTP {status}: "
                  f"{json.dumps(answer)[:500]}",
                  "details": "the daemon and the shim may be different versions; check the "
                  "daemon's log"}
    stdout.write(json.dumps(answer, indent=4) + "\n")
    return 1

if __name__ == "__main__":
    sys.exit(main(os.environ, sys.stdin.buffer, sys.stdout, sys.stderr))
