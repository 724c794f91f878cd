"""Thick mode end to end: `netattach daemon` in a node namespace, `netattach-shim` exec'd
like a runtime, the fake API server on the node's 127.0.0.1.

Cluster network: bridge + host-local (192.0.2.0/24); secondary: a macvlan NAD with a static
IP from the pod annotation (198.51.100.0/24). Processes, sockets and namespaces are
removed in finalizers whatever the outcome.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.daemon_support import DaemonProcess, Transport, http, wait_for
from tests.kubeapi.server import NADS, PODS, FakeKubeAPI

from netattach.daemon.confgen import ConfigManager, find_primary, render

NETWORKS = "k8s.v1.cni.cncf.io/networks"
TOKEN = "daemon-token"
NODE_NAME = "node-1"


@dataclass
class Node:
    """A node namespace with the fake API, the installed executables and a confDir."""

    factory: Any
    ns: Any
    nic: str
    srv: FakeKubeAPI
    tmp: Path
    kubeconfig: Path
    bindir: Path
    confdir: Path
    cni_dir: Path
    hl_dir: Path

    @property
    def socket_dir(self) -> Path:
        return self.tmp / "run"

    def meta_config(self, **extra: Any) -> dict[str, Any]:
        conf = {"cniVersion": "1.0.0", "name": "netattach-net", "type": "netattach",
                "kubeconfig": str(self.kubeconfig),
                "clusterNetwork": str(self.confdir / "10-bridge.conflist"),
                "cniDir": str(self.cni_dir), "binDir": str(self.bindir)}
        conf.update(extra)
        return conf

    def add_pod(self, name: str, networks: list[dict[str, Any]] | None = None) -> dict:
        meta: dict[str, Any] = {"name": name, "namespace": "default"}
        if networks:
            meta["annotations"] = {NETWORKS: json.dumps(networks)}
        return self.srv.create(PODS, {"metadata": meta, "spec": {
            "nodeName": NODE_NAME, "containers": [{"name": "c", "image": "x"}]}})

    def daemon(self, socket_dir: Path | None = None, **kw: Any) -> Any:
        return DaemonProcess.start(socket_dir=socket_dir or self.socket_dir,
                                   log_path=self.tmp / "daemon.log", node_netns=self.ns.name,
                                   kubeconfig=self.kubeconfig, node_name=NODE_NAME, **kw)

    def shim(self, command: str, pod: dict | None, netns: str, cid: str, *,
             conf: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, Any, float]:
        """Exec netattach-shim in the node namespace; (rc, parsed stdout, seconds)."""
        argv, stdin = Transport.thick(self.bindir, self.socket_dir).prepare(
            conf or self.meta_config())
        return run_cni(self.ns.name, argv, stdin, command, pod, netns, cid, timeout)


def run_cni(node: str, argv: list[str], conf: dict[str, Any], command: str, pod: dict | None,
            netns: str, cid: str, timeout: float = 60) -> tuple[int, Any, float]:
    args = "IgnoreUnknown=1"
    if pod is not None:
        m = pod["metadata"]
        args += (f";K8S_POD_NAMESPACE={m['namespace']};K8S_POD_NAME={m['name']};"
                 f"K8S_POD_UID={m['uid']};K8S_POD_INFRA_CONTAINER_ID={cid}")
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": args,
           "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    started = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", node, *argv], input=json.dumps(conf),
                          env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - started
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out, took


@pytest.fixture(scope="module")
def bindir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bin")
    subprocess.run([sys.executable, "-m", "netattach", "install-bin", str(d)], check=True,
                   capture_output=True)
    return d


@pytest.fixture
def node(netns_factory: Any, tmp_path: Path, bindir: Path) -> Iterator[Node]:
    from netattach.linux import run_in_netns

    ns = netns_factory.make_netns("node")
    switch = netns_factory.make_netns("sw")
    nic, _ = netns_factory.make_veth(ns, switch)
    srv = run_in_netns(ns.path, lambda: FakeKubeAPI(tokens=[TOKEN]).start())
    try:
        token = tmp_path / "token"
        token.write_text(TOKEN)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "f", "cluster": {"server": srv.url}}],
            "users": [{"name": "u", "user": {"tokenFile": str(token)}}],
            "contexts": [{"name": "f", "context": {"cluster": "f", "user": "u"}}],
            "current-context": "f"}))
        confdir = tmp_path / "net.d"
        confdir.mkdir()
        hl_dir = tmp_path / "hl"
        (confdir / "10-bridge.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "cbr0", "plugins": [{
                "type": "bridge", "bridge": "nabr0", "isGateway": True,
                "ipam": {"type": "host-local", "dataDir": str(hl_dir),
                         "ranges": [[{"subnet": "192.0.2.0/24"}]]}},
                {"type": "portmap", "capabilities": {"portMappings": True}}]}))
        srv.create(NADS, {"metadata": {"name": "mv1", "namespace": "default"}, "spec": {
            "config": json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "master": nic,
                                  "mode": "bridge", "ipam": {"type": "static"}})}})
        yield Node(netns_factory, ns, nic, srv, tmp_path, kubeconfig, bindir, confdir,
                   tmp_path / "cni", hl_dir)
    finally:
        srv.stop()


def links(ns: str) -> set[str]:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def addrs(ns: str, dev: str) -> list[str]:
    out = subprocess.run(["ip", "-n", ns, "-j", "-4", "addr", "show", "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out)
            for a in link["addr_info"]]


def reserved(node: Node) -> list[str]:
    d = node.hl_dir / "cbr0"
    return sorted(p.name for p in d.iterdir() if p.name[0].isdigit()) if d.exists() else []


def test_add_check_del_and_endpoints(node: Node) -> None:
    pod = node.add_pod("p1", [{"name": "mv1", "ips": ["198.51.100.21/24"]}])
    sandbox = node.factory.make_netns("pod")
    with node.daemon(extra_args=["--metrics-address", "127.0.0.1:0"]) as d:
        rc, out, _ = node.shim("ADD", pod, sandbox.path, "cid-a1")
        assert rc == 0, (out, d.logs()[-3000:])
        assert out["ips"][0]["address"].startswith("192.0.2.")
        assert {"eth0", "net1"} <= links(sandbox.name)
        assert addrs(sandbox.name, "net1") == ["198.51.100.21/24"]
        status = json.loads(node.srv.get(PODS, "default", "p1")["metadata"]["annotations"][
            "k8s.v1.cni.cncf.io/network-status"])
        assert [s["interface"] for s in status] == ["eth0", "net1"]

        rc, out, _ = node.shim("CHECK", pod, sandbox.path, "cid-a1")
        assert (rc, out) == (0, None), d.logs()[-2000:]

        assert d.get("/healthz")[0] == 200
        assert d.get("/readyz")[0] == 200
        status_code, metrics = d.get("/metrics")
        text = metrics.decode()
        assert status_code == 200
        assert 'netattach_cni_requests_total{result="ok",verb="ADD"} 1.0' in text
        assert 'netattach_cache_objects{kind="nads"} 1.0' in text
        assert "netattach_cni_request_duration_seconds_bucket" in text

        node.srv.set_unreachable(True)  # DEL needs no API: the delegate cache is on disk
        rc, out, _ = node.shim("DEL", pod, sandbox.path, "cid-a1")
        assert (rc, out) == (0, None), d.logs()[-2000:]
        assert links(sandbox.name) == {"lo"}
        assert reserved(node) == []
        logs = [json.loads(line) for line in d.logs().splitlines() if line.startswith("{")]
        add_lines = [entry for entry in logs if entry.get("verb") == "ADD"]
        assert add_lines and all(e["pod"] == "default/p1" and e["container"] == "cid-a1"
                                 for e in add_lines)


def test_metrics_on_tcp(node: Node) -> None:
    from netattach.linux import run_in_netns

    with node.daemon(extra_args=["--metrics-address", "127.0.0.1:19391"]):
        def scrape() -> str:
            import urllib.request

            with urllib.request.urlopen("http://127.0.0.1:19391/metrics", timeout=5) as r:
                return r.read().decode()

        assert "netattach_cni_requests_in_flight" in run_in_netns(node.ns.path, scrape)


def test_sigkill_between_two_adds_then_del_cleans_everything(node: Node) -> None:
    pods = [node.add_pod(f"k{i}", [{"name": "mv1", "ips": [f"198.51.100.{30 + i}/24"]}])
            for i in range(2)]
    sandboxes = [node.factory.make_netns("pod") for _ in pods]
    with node.daemon() as d:
        rc, out, _ = node.shim("ADD", pods[0], sandboxes[0].path, "cid-k0")
        assert rc == 0, out
        d.kill(signal.SIGKILL)
        assert d.socket_path.exists()  # stale socket left behind by the killed daemon
        d.launch()  # a fresh daemon replaces the stale socket; state is on disk only
        rc, out, _ = node.shim("ADD", pods[1], sandboxes[1].path, "cid-k1")
        assert rc == 0, (out, d.logs()[-2000:])
        assert len(reserved(node)) == 2
        for pod, sb, cid in zip(pods, sandboxes, ("cid-k0", "cid-k1"), strict=True):
            rc, out, _ = node.shim("DEL", pod, sb.path, cid)
            assert (rc, out) == (0, None), d.logs()[-2000:]
            assert links(sb.name) == {"lo"}
        assert reserved(node) == []
        assert not [p for p in node.cni_dir.iterdir() if p.is_file()]


def test_daemon_down(node: Node) -> None:
    pod = node.add_pod("down")
    sandbox = node.factory.make_netns("pod")
    conf = node.meta_config(daemonConnectTimeout=0.5)
    rc, out, took = node.shim("ADD", pod, sandbox.path, "cid-d", conf=conf)
    assert rc == 1 and out["code"] == 11
    assert str(node.socket_dir / "netattach.sock") in out["msg"]
    assert "not running" in out["msg"] and "readyz" in out["details"]
    assert took < 3.0
    rc, out, _ = node.shim("DEL", pod, sandbox.path, "cid-d", conf=conf)
    assert rc == 1 and out["code"] == 11  # default: report it (Multus hides it)
    rc, out, _ = node.shim("DEL", pod, sandbox.path, "cid-d",
                           conf={**conf, "delOnDaemonDown": "ignore"})
    assert (rc, out) == (0, None)


def _as_nobody(socket_path: Path) -> str:
    """Connect as uid/gid 65534 in a forked child (no exec: the venv is not readable by
    nobody); returns "REFUSED <errno>" or the HTTP status line and body."""
    import socket

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only os and socket calls, then _exit
        out = b""
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(str(socket_path))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while chunk := s.recv(65536):
                    out += chunk
                head, _, body = out.partition(b"\r\n\r\n")
                out = head.split(b"\r\n", 1)[0] + b"\n" + body
            except OSError as e:
                out = f"REFUSED {e.errno}".encode()
        finally:
            os.write(wfd, out)
            os._exit(0)
    os.close(wfd)
    chunks = []
    while chunk := os.read(rfd, 65536):
        chunks.append(chunk)
    os.close(rfd)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory nobody can traverse to (tmp_path's parents are 0700)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="natst-sock-", dir="/run"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_socket_refuses_non_root(node: Node, public_dir: Path) -> None:
    sock_dir = public_dir / "run"
    with node.daemon(socket_dir=sock_dir) as d:
        assert os.stat(sock_dir).st_mode & 0o777 == 0o700
        assert os.stat(d.socket_path).st_mode & 0o777 == 0o600

        assert _as_nobody(d.socket_path) == "REFUSED 13"  # EACCES: the 0700 directory
        # with the file modes opened up, the peer-credential check still says no
        os.chmod(sock_dir, 0o755)
        os.chmod(d.socket_path, 0o666)
        out = _as_nobody(d.socket_path)
        assert out.startswith("HTTP/1.1 403"), out
        assert "uid 65534" in out
        assert http(d.socket_path, "GET", "/healthz")[0] == 200  # root still may


def _refused(socket_dir: Path, log_path: Path) -> str:
    """Start a daemon on `socket_dir` that must refuse it; returns its log."""
    with DaemonProcess.start(socket_dir=socket_dir, log_path=log_path, wait_ready=False) as d:
        assert d.proc is not None
        assert d.proc.wait(60) == 1, d.logs()
        return d.logs()


@pytest.mark.parametrize("owner, mode, why", [
    (65534, 0o700, "owned by uid 65534, not root"),
    (0, 0o777, "writable by group and others"),
    (0, 0o1777, "writable by group and others"),  # sticky like /tmp: others may still plant
    (0, 0o770, "writable by group"),
])
def test_unsafe_socket_dir_is_refused_and_left_alone(public_dir: Path, tmp_path: Path,
                                                     owner: int, mode: int, why: str) -> None:
    sock_dir = public_dir / "shared"
    sock_dir.mkdir()
    os.chown(sock_dir, owner, owner)
    os.chmod(sock_dir, mode)
    logs = _refused(sock_dir, tmp_path / "daemon.log")
    assert f"socket directory {sock_dir}" in logs and why in logs, logs
    assert "chown root" in logs and "does not exist yet" in logs  # the fix, said once
    st = os.stat(sock_dir)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, mode)  # never chmodded
    assert not (sock_dir / "netattach.sock").exists()


def test_a_file_as_socket_dir_or_socket_is_refused(public_dir: Path, tmp_path: Path) -> None:
    (public_dir / "file").write_text("x")
    logs = _refused(public_dir / "file", tmp_path / "a.log")
    assert f"socket directory {public_dir / 'file'} is not a directory" in logs, logs
    from netattach.daemon.server import SocketDirError, prepare_socket_path

    (public_dir / "d").mkdir(mode=0o700)
    for make in (Path.mkdir, Path.touch):
        target = public_dir / "d" / "netattach.sock"
        make(target)
        with pytest.raises(SocketDirError, match="netattach.sock exists and is not a socket"):
            prepare_socket_path(target)
        assert target.exists()
        target.rmdir() if target.is_dir() else target.unlink()


def test_shared_root_dir_is_used_as_is_and_a_missing_one_created_0700(
        public_dir: Path, tmp_path: Path) -> None:
    """socketDir=/run-like (root, 0755, other files in it): served, never locked to 0700."""
    (public_dir / "other").write_text("x")
    with DaemonProcess.start(socket_dir=public_dir, log_path=tmp_path / "a.log") as d:
        assert stat.S_IMODE(os.stat(public_dir).st_mode) == 0o755
        assert stat.S_IMODE(os.stat(d.socket_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public_dir).st_mode) == 0o755
    assert sorted(p.name for p in public_dir.iterdir()) == ["other"]
    fresh = public_dir / "a" / "b"
    with DaemonProcess.start(socket_dir=fresh, log_path=tmp_path / "b.log"):
        assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700


def test_64_concurrent_adds_get_distinct_ips(node: Node) -> None:
    count = 64
    pods = [node.add_pod(f"c{i}") for i in range(count)]
    sandboxes = [node.factory.make_netns("pod") for _ in range(count)]
    with node.daemon() as d:
        def add(i: int) -> tuple[int, Any, float]:
            return node.shim("ADD", pods[i], sandboxes[i].path, f"cid-c{i}", timeout=240)

        with ThreadPoolExecutor(count) as pool:
            results = list(pool.map(add, range(count)))
        failed = [(i, out) for i, (rc, out, _) in enumerate(results) if rc != 0]
        assert not failed, (failed[:3], d.logs()[-3000:])
        ips = {out["ips"][0]["address"] for _, out, _ in results}
        assert len(ips) == count
        assert len(reserved(node)) == count

        def delete(i: int) -> tuple[int, Any, float]:
            return node.shim("DEL", pods[i], sandboxes[i].path, f"cid-c{i}", timeout=240)

        with ThreadPoolExecutor(count) as pool:
            assert all(rc == 0 for rc, _, _ in pool.map(delete, range(count)))
        assert reserved(node) == []


def test_sigterm_keeps_the_generated_config_and_removes_the_socket(node: Node,
                                                                  tmp_path: Path) -> None:
    netd = tmp_path / "etc-net.d"
    netd.mkdir()
    (netd / "10-bridge.conflist").write_text((node.confdir / "10-bridge.conflist").read_text())
    shim_bin = tmp_path / "cni-bin"
    with node.daemon(extra_args=["--cni-config-dir", str(netd), "--cni-bin-dir",
                                 str(shim_bin)]) as d:
        target = netd / "00-netattach.conflist"
        assert wait_for(target.exists)
        conf = json.loads(target.read_text())
        assert conf["plugins"][0]["type"] == "netattach-shim"
        assert conf["plugins"][0]["clusterNetwork"] == str(netd / "10-bridge.conflist")
        assert os.access(shim_bin / "netattach-shim", os.X_OK)
        assert d.kill(signal.SIGTERM) == 0
        # netattach stays in the runtime's path: pods wait for the daemon (code 11)
        assert json.loads(target.read_text()) == conf
        assert not d.socket_path.exists()
        assert "keeping " + str(target) in d.logs()


# -- config generation, unit level (no root) ---------------------------------------------
def _write(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj))


def test_confgen_follows_the_primary_and_the_readiness_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.write_text("")
    mgr = ConfigManager(tmp_path, "/run/netattach", readiness_file=str(ready))
    assert mgr.poll() == "waiting" and not mgr.target.exists()
    _write(tmp_path / "20-b.conflist", {"cniVersion": "1.0.0", "name": "b", "plugins": [
        {"type": "ptp", "capabilities": {"ips": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]})
    assert mgr.poll() == "written"
    conf = json.loads(mgr.target.read_text())
    assert conf["cniVersion"] == "1.0.0"
    assert conf["plugins"] == [{"type": "netattach-shim",
                                "capabilities": {"ips": True, "portMappings": True},
                                "clusterNetwork": str(tmp_path / "20-b.conflist"),
                                "daemonSocketDir": "/run/netattach"}]
    assert os.stat(mgr.target).st_mode & 0o777 == 0o600
    assert mgr.poll() == "unchanged"
    # a new primary sorts first: regenerated; our own file is never the primary
    _write(tmp_path / "05-a.conf", {"cniVersion": "0.4.0", "name": "a", "type": "bridge"})
    assert find_primary(tmp_path) == tmp_path / "05-a.conf"
    assert mgr.poll() == "written"
    conf = json.loads(mgr.target.read_text())
    assert conf["cniVersion"] == "0.4.0"
    assert conf["plugins"][0]["clusterNetwork"] == str(tmp_path / "05-a.conf")
    assert "capabilities" not in conf["plugins"][0]
    # readiness file gone: the generated file goes; back: it comes back
    ready.unlink()
    assert mgr.poll() == "removed" and not mgr.target.exists()
    ready.write_text("")
    assert mgr.poll() == "written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-netattach.conflist", "05-a.conf", "20-b.conflist", "ready"]  # no temp files


def test_confgen_rejects_a_broken_primary(tmp_path: Path) -> None:
    (tmp_path / "10-x.conf").write_text("{not json")
    with pytest.raises(Exception, match="10-x.conf"):
        render(tmp_path / "10-x.conf", socket_dir="/run/netattach", network_name="n")


def test_shim_imports_only_a_few_builtin_modules(tmp_path: Path) -> None:
    from netattach.node.binaries import install_shim

    shim = install_shim(tmp_path)
    assert shim.read_text().startswith(f"#!{sys.executable} -IS\n")
    conf = json.dumps({"cniVersion": "1.0.0", "name": "n", "daemonSocketDir": str(tmp_path),
                       "daemonConnectTimeout": 0})
    for env, stdin in (({"CNI_COMMAND": "VERSION"}, ""),
                       ({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x",
                         "CNI_IFNAME": "eth0"}, conf)):
        proc = subprocess.run([sys.executable, "-IS", "-X", "importtime", str(shim)],
                              env=env, input=stdin, capture_output=True, text=True)
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:") and "|" in line}
        assert not {m for m in imported if m.split(".")[0] in (
            "netattach", "lightkube", "httpx2", "yaml", "prometheus_client", "http",
            "asyncio", "email")}, imported
        if env["CNI_COMMAND"] == "VERSION":
            assert json.loads(proc.stdout)["cniVersion"] == "1.1.0"
            assert not {"socket", "json"} & imported
        else:
            assert proc.returncode == 1 and json.loads(proc.stdout)["code"] == 11


def _workers(daemon_pid: int) -> list[int]:
    """The daemon's worker processes (its children running netattach.daemon.worker)."""
    out = subprocess.run(["pgrep", "-P", str(daemon_pid), "-f", "netattach.daemon.worker"],
                         capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def test_a_worker_killed_mid_request_is_try_again_later_and_replaced(node: Node) -> None:
    """Requests run in worker processes: one dying answers code 11, the daemon starts it
    again, and the retried ADD attaches everything."""
    pod = node.add_pod("worker", [{"name": "mv1", "ips": ["198.51.100.31/24"]}])
    sandbox = node.factory.make_netns("pod")
    ready = node.tmp / "ready"
    with node.daemon(extra_args=["--workers", "1"]) as d:
        deadline = time.monotonic() + 30
        assert d.proc is not None
        while len(workers := _workers(d.proc.pid)) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 1, workers
        # the ADD waits in the worker for the readiness file; kill the worker meanwhile
        conf = node.meta_config(readinessindicatorfile=str(ready))
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(node.shim, "ADD", pod, sandbox.path, "cid-w", conf=conf)
            time.sleep(1.0)
            os.kill(workers[0], signal.SIGKILL)
            rc, out, _ = pending.result(timeout=30)
        assert rc == 1 and out["code"] == 11, out
        assert "worker 0 exited" in out["msg"], out
        while (_workers(d.proc.pid) in ([], workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        replaced = _workers(d.proc.pid)
        assert len(replaced) == 1 and replaced != workers, (replaced, workers)
        ready.touch()
        rc, out, _ = node.shim("ADD", pod, sandbox.path, "cid-w", conf=conf)
        assert rc == 0, (out, d.logs()[-3000:])
        assert addrs(sandbox.name, "net1") == ["198.51.100.31/24"]
        rc, out, _ = node.shim("DEL", pod, sandbox.path, "cid-w", conf=conf)
        assert (rc, out) == (0, None), d.logs()[-3000:]
