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
"""

import os
import sys

# socket, json and binascii are imported where needed: VERSION and the "about" text
# need none of them (the shim must start in a few milliseconds).

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
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError as e:
            sock.close()
            if e.errno not in RETRY_ERRNOS or time.monotonic() >= deadline:
                raise DaemonDown(f"{e.strerror or e}") from None
        time.sleep(0.1)


def _post(path, body, connect_timeout, timeout):
    """POST /cni; returns (status, body bytes)."""
    sock = _connect(path, connect_timeout)
    try:
        sock.settimeout(timeout)
        head = (f"POST /cni HTTP/1.1\r\nHost: netattach\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        sock.sendall(head + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    raw = b"".join(chunks)
    header, _, payload = raw.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer: {raw[:80]!r}")
    return int(status_line[1]), payload


def _setting(conf, key, default):
    value = conf.get(key, default) if isinstance(conf, dict) else default
    return default if value is None else value


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
    import binascii
    import json

    data = stdin.read()
    try:
        conf = json.loads(data)
    except ValueError:
        conf = {}  # the daemon reports the decoding error with its thin-mode message
    socket_dir = str(_setting(conf, "daemonSocketDir", DEFAULT_SOCKET_DIR))
    path = os.path.join(socket_dir, SOCKET_NAME)
    try:
        connect_timeout = float(_setting(conf, "daemonConnectTimeout", 3.0))
        timeout = float(_setting(conf, "daemonRequestTimeout", 300.0))
    except (TypeError, ValueError):
        stdout.write(_error(7, "netattach-shim: daemonConnectTimeout and "
                               "daemonRequestTimeout must be numbers (seconds)",
                            "fix the netattach-shim CNI config") + "\n")
        return 1
    on_del = _setting(conf, "delOnDaemonDown", "error")
    body = json.dumps({
        "env": {k: v for k, v in env.items() if k.startswith("CNI_")},
        "config": binascii.b2a_base64(data, newline=False).decode(),
    }).encode()
    try:
        status, payload = _post(path, body, connect_timeout, timeout)
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
    except (OSError, ValueError) as e:
        stdout.write(_error(
            TRY_AGAIN_LATER if isinstance(e, TimeoutError) else 999,
            f"netattach-shim: {command} via the daemon on {path} failed: {e}",
            "check the daemon's log for this container id; the runtime may retry") + "\n")
        return 1
    try:
        answer = json.loads(payload) if payload.strip() else {}
    except ValueError:
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
    if "code" not in answer:
        answer = {"code": 999, "msg": f"netattach-shim: the daemon answered HTTP {status}: "
                  f"{answer}"}
    stdout.write(json.dumps(answer, indent=4) + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(os.environ, sys.stdin.buffer, sys.stdout, sys.stderr))
