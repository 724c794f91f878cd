"""Pod ADD/DEL latency and throughput: netattach thick and thin mode against the reference
Go plugins run directly and against the `ip -batch` floor. Run by hand as root: `make bench`.

A pod here is what the field report's pod needs: eth0 (bridge + host-local) and two
secondaries (macvlan + static). Every mode does that same work in fresh pod namespaces
inside a node namespace the benchmark creates (and removes); the podman mode runs the
same pod as a container under podman's CNI backend, with our plugins and with Go's.
Figures are reported as measured and as ratios to the floor; results go to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
NODE = "natb-node"
NICS = ("bnic0", "bnic1")
GO = Path("/usr/lib/cni")


def sh(*argv: str, check: bool = True, input_: str | None = None) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input_)
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


@dataclass
class Env:
    """Files and objects shared by the modes (all under one temp dir)."""

    tmp: Path
    bindir: Path
    api: object = None
    kubeconfig: Path | None = None
    uid: dict[str, str] = field(default_factory=dict)

    def cluster_conflist(self, data: str) -> dict:
        return {"cniVersion": "1.0.0", "name": "benchnet", "plugins": [{
            "type": "bridge", "bridge": "bbr0", "isGateway": True,
            "ipam": {"type": "host-local", "dataDir": data,
                     "ranges": [[{"subnet": "203.0.113.0/24"}]]}}]}

    @staticmethod
    def secondary(master: str, ip: str = "") -> dict:
        """macvlan + static on `master`: with `ip` for the Go plugins run directly; without,
        the pod's annotation requests its own (the NAD declares the ips capability)."""
        ipam: dict = {"type": "static", "addresses": [{"address": ip}]} if ip else {
            "type": "static"}
        conf = {"cniVersion": "1.0.0", "name": f"mv-{master}", "type": "macvlan",
                "master": master, "ipam": ipam}
        if not ip:
            conf["capabilities"] = {"ips": True}
        return conf


def pod_addresses(n: int) -> tuple[str, str]:
    """The secondaries' addresses of pod number `n` (distinct for pods alive at once: a
    duplicate address is refused before ADD)."""
    return f"192.0.2.{n % 250 + 2}/24", f"198.51.100.{n % 250 + 2}/24"


def pod_env(cmd: str, cid: str, netns: str, ifname: str, uid: str = "", pod: str = "p") -> dict:
    return {"PATH": os.environ["PATH"], "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid,
            "CNI_NETNS": netns, "CNI_IFNAME": ifname, "CNI_PATH": "/usr/lib/cni",
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};"
                        f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={uid}"}


def run_cni(binary: Path, env: dict, conf: dict) -> None:
    proc = subprocess.run([str(binary)], input=json.dumps(conf), env=env, capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"{binary.name} {env['CNI_COMMAND']}: {proc.stdout[:400]}")


# -- the four ways to attach a pod ------------------------------------------------------
class Mode:
    name = ""
    key = ""

    def __init__(self, env: Env) -> None:
        self.env = env

    def server_cpu(self) -> float:
        """CPU seconds used so far by long-running processes of this mode (the daemon)."""
        return 0.0

    def add(self, pod: str, netns: str) -> None: ...
    def delete(self, pod: str, netns: str) -> None: ...
    def close(self) -> None: ...


class Floor(Mode):
    """The same netlink work by iproute2 in batch mode: one process per namespace side."""

    name = "ip -batch (floor)"
    key = "floor"

    def add(self, pod: str, netns: str) -> None:
        n = int(pod.split("-")[-1])
        ns = Path(netns).name
        host = f"bh{n}"
        sh("ip", "-batch", "-", input_="\n".join([
            f"link add {host} type veth peer name eth0 netns {ns}",
            f"link set {host} master bbr0 up",
            f"link add net1 link {NICS[0]} netns {ns} type macvlan mode bridge",
            f"link add net2 link {NICS[1]} netns {ns} type macvlan mode bridge"]) + "\n")
        a1, a2 = pod_addresses(n)
        sh("ip", "-n", ns, "-batch", "-", input_="\n".join([
            f"addr add 203.0.113.{n % 250 + 2}/24 dev eth0",
            "link set eth0 up", "link set lo up",
            "route add default via 203.0.113.1 dev eth0",
            f"addr add {a1} dev net1", "link set net1 up",
            f"addr add {a2} dev net2", "link set net2 up"]) + "\n")

    def delete(self, pod: str, netns: str) -> None:
        sh("ip", "-n", Path(netns).name, "-batch", "-",
           input_="link del eth0\nlink del net1\nlink del net2\n")


class GoDirect(Mode):
    """The reference Go plugins executed directly, as a runtime would with no meta plugin."""

    name = "Go plugins directly"
    key = "go"

    def _confs(self, pod: str) -> list[tuple[Path, str, dict]]:
        data = str(self.env.tmp / "go-ipam")
        cl = self.env.cluster_conflist(data)
        eth0 = {**cl["plugins"][0], "cniVersion": "1.0.0", "name": "benchnet"}
        a1, a2 = pod_addresses(int(pod.split("-")[-1]))
        return [(GO / "bridge", "eth0", eth0),
                (GO / "macvlan", "net1", Env.secondary(NICS[0], a1)),
                (GO / "macvlan", "net2", Env.secondary(NICS[1], a2))]

    def add(self, pod: str, netns: str) -> None:
        for binary, ifname, conf in self._confs(pod):
            run_cni(binary, pod_env("ADD", pod, netns, ifname), conf)

    def delete(self, pod: str, netns: str) -> None:
        for binary, ifname, conf in reversed(self._confs(pod)):
            run_cni(binary, pod_env("DEL", pod, netns, ifname), conf)


class Thin(Mode):
    """netattach's meta plugin as a CNI executable (thin mode), test API server for the pod."""

    name = "netattach thin"
    key = "thin"
    binary = "netattach"

    def config(self) -> dict:
        e = self.env
        return {"cniVersion": "1.0.0", "name": "netattach", "type": "netattach",
                "kubeconfig": str(e.kubeconfig), "clusterNetwork": str(e.tmp / "net.d" /
                                                                       "10-bench.conflist"),
                "cniDir": str(e.tmp / "multus"), "binDir": str(e.bindir)}

    def add(self, pod: str, netns: str) -> None:
        run_cni(self.env.bindir / self.binary,
                pod_env("ADD", pod, netns, "eth0", self.env.uid[pod], pod), self.config())

    def delete(self, pod: str, netns: str) -> None:
        run_cni(self.env.bindir / self.binary,
                pod_env("DEL", pod, netns, "eth0", self.env.uid[pod], pod), self.config())


class Thick(Thin):
    """The shim forwarding to a running `netattach daemon` (started and stopped here)."""

    name = "netattach thick"
    key = "thick"
    binary = "netattach-shim"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.socket_dir = env.tmp / "sock"
        self.log = (env.tmp / "daemon.log").open("w")
        self.proc = subprocess.Popen(
            [PY, "-m", "netattach", "daemon", "--socket-dir", str(self.socket_dir),
             "--kubeconfig", str(env.kubeconfig), "--node-name", "bench-node"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while not (self.socket_dir / "netattach.sock").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("daemon did not start: " +
                                   (env.tmp / "daemon.log").read_text()[-2000:])
            time.sleep(0.1)

    def config(self) -> dict:
        return {**super().config(), "type": "netattach-shim",
                "daemonSocketDir": str(self.socket_dir)}

    def processes(self) -> list[int]:
        """The daemon and its worker processes."""
        kids = sh("pgrep", "-P", str(self.proc.pid), check=False).split()
        return [self.proc.pid, *map(int, kids)]

    def memory_mb(self) -> tuple[float, float]:
        """(RSS, PSS) of the daemon and its workers, summed. RSS counts the interpreter's
        shared pages once per process; PSS shares them out, so its sum is what the
        processes take from the node together."""
        rss = pss = 0
        for pid in self.processes():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        return rss / 1024, pss / 1024

    def server_cpu(self) -> float:
        ticks = 0
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


# -- measuring ------------------------------------------------------------------------------
def stats(values: list[float]) -> dict:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]
    return {"n": len(values), "min_ms": round(values[0] * 1000, 1),
            "median_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1)}


class Pods:
    """Pod namespaces made and removed outside the timed region, as a runtime would."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.count = 0
        self.lock = threading.Lock()

    def new(self, networks: str = "") -> tuple[str, str]:
        """A pod: by default the field report's two secondaries with addresses of its own;
        `networks`, another annotation (the scale phase's L2-only fillers)."""
        with self.lock:
            self.count += 1
            n = self.count
            name = f"natb-pod-{n}"
        if not networks:
            a1, a2 = pod_addresses(n)
            networks = json.dumps([{"name": "mv0", "ips": [a1]}, {"name": "mv1", "ips": [a2]}])
        sh("ip", "netns", "add", name)
        api = self.env.api
        if api is not None:
            from tests.kubeapi.server import PODS
            obj = api.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": name, "namespace": "default", "annotations": {
                    "k8s.v1.cni.cncf.io/networks": networks}},
                "spec": {"nodeName": "bench-node", "containers": []}})
            self.env.uid[name] = obj["metadata"]["uid"]
        return name, f"/run/netns/{name}"

    @staticmethod
    def remove(name: str) -> None:
        sh("ip", "netns", "del", name, check=False)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def latency(mode: Mode, pods: Pods, iterations: int) -> dict:
    """ADD then DEL of one pod at a time. CPU per pod: user + sys of every process the
    pod's ADD and DEL ran (the CNI executables, the daemon and its workers), from rusage."""
    return latencies([mode], pods, iterations)[0]


def latencies(modes: list[Mode], pods: Pods, iterations: int) -> list[dict]:
    """`latency` of each of `modes`, one pod of each in turn: modes measured together see
    the same machine (a VM's neighbours come and go within minutes)."""
    runs: list[dict[str, list[float]]] = [
        {"add": [], "del": [], "add_del": [], "cpu": []} for _ in modes]
    for _ in range(iterations):
        for mode, run in zip(modes, runs, strict=True):
            name, netns = pods.new()
            try:
                c0, s0 = children_cpu(), mode.server_cpu()
                t0 = time.perf_counter()
                mode.add(name, netns)
                t1 = time.perf_counter()
                mode.delete(name, netns)
                t2 = time.perf_counter()
                run["cpu"].append(children_cpu() - c0 + mode.server_cpu() - s0)
            finally:
                pods.remove(name)
            run["add"].append(t1 - t0)
            run["del"].append(t2 - t1)
            run["add_del"].append(t2 - t0)
    return [{"add": stats(r["add"]), "del": stats(r["del"]), "add_del": stats(r["add_del"]),
             "cpu_ms_per_pod": round(statistics.mean(r["cpu"]) * 1000, 1)} for r in runs]


def throughput(mode: Mode, pods: Pods, total: int, concurrency: int) -> dict:
    failures: list[str] = []

    def one(_: int) -> None:
        name, netns = pods.new()
        try:
            mode.add(name, netns)
            mode.delete(name, netns)
        except Exception as e:  # noqa: BLE001 - counted and reported
            failures.append(str(e)[:200])
        finally:
            pods.remove(name)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(total)))
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "pods": total, "seconds": round(wall, 2),
            "pods_per_second": round(total / wall, 2), "failures": len(failures),
            "first_failure": failures[0] if failures else ""}


def timed_runs(argv: list[str], env: dict, stdin: bytes, n: int) -> dict:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, input=stdin, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode:
            raise RuntimeError(f"{argv[-1]}: {proc.stdout[:300]!r}")
    return stats(times)


def cheap_verbs(mode: Thin, n: int) -> dict:
    """The calls a runtime makes that need no API and no kernel work: VERSION; DEL of a
    sandbox with no delegate cache and no netns (containerd's second DEL)."""
    binary = [str(mode.env.bindir / mode.binary)]
    conf = json.dumps(mode.config()).encode()
    base = pod_env("DEL", "natb-nothing", "", "eth0", "uid-none", "natb-nothing")
    return {"version": timed_runs(binary, {**base, "CNI_COMMAND": "VERSION"}, conf, n),
            "del_no_cache_no_netns": timed_runs(binary, base, conf, n),
            "python_start": timed_runs([PY, "-IS", "-c", "pass"], base, b"", n)}


def shim_overhead(mode: Thick, n: int) -> dict:
    """What the shim adds to a forwarded request: the same DEL (no cache, no netns: the
    daemon answers without API or kernel work) through the shim, and POSTed straight to
    the socket by this process; the difference is the shim's process and its I/O."""
    import base64
    import socket

    conf = json.dumps(mode.config()).encode()
    env = pod_env("DEL", "natb-nothing", "", "eth0", "uid-none", "natb-nothing")
    body = json.dumps({"env": {k: v for k, v in env.items() if k.startswith("CNI_")},
                       "config": base64.b64encode(conf).decode()}).encode()
    head = (f"POST /cni HTTP/1.1\r\nHost: netattach\r\nX-CNI-Stdout: 1\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    direct = []
    for _ in range(n):
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(mode.socket_dir / "netattach.sock"))
            sock.sendall(head + body)
            while sock.recv(65536):
                pass
        direct.append(time.perf_counter() - t0)
    via_shim = timed_runs([str(mode.env.bindir / mode.binary)], env, conf, n)
    out = {"daemon_direct": stats(direct), "via_shim": via_shim}
    out["shim_adds_ms"] = round(via_shim["median_ms"] - out["daemon_direct"]["median_ms"], 1)
    return out


def leaks(env: Env) -> dict:
    links = [ln.split(":")[1].strip().split("@")[0] for ln in
             sh("ip", "-o", "link").splitlines()]
    extra = [n for n in links if n not in ("lo", "bbr0", *NICS) and not n.startswith("bp")]
    ipam = [p.name for d in env.tmp.glob("*ipam*") for p in d.rglob("*")
            if p.is_file() and p.name[0].isdigit()]
    return {"links": extra, "ips": ipam}


# -- the run -----------------------------------------------------------------------------
def setup(tmp: Path) -> Env:
    for i, nic in enumerate(NICS):
        sh("ip", "link", "add", nic, "type", "veth", "peer", "name", f"bp{i}")
        sh("ip", "link", "set", nic, "up")
        sh("ip", "link", "set", f"bp{i}", "up")
    sh("ip", "link", "set", "lo", "up")
    env = Env(tmp, tmp / "bin")
    sh(PY, "-m", "netattach", "install-bin", str(env.bindir))
    (tmp / "net.d").mkdir()
    (tmp / "net.d" / "10-bench.conflist").write_text(
        json.dumps(env.cluster_conflist(str(tmp / "thin-ipam"))))
    from tests.kubeapi.incluster import make_tls
    from tests.kubeapi.server import NADS, FakeKubeAPI

    # as a real cluster: HTTPS verified against the cluster's CA, a bearer token
    tls = make_tls(tmp / "tls")
    api = FakeKubeAPI(tokens=["bench-token"], tls=tls.server_pair).start()
    for i, nic in enumerate(NICS):
        conf = Env.secondary(nic)
        l2 = {k: v for k, v in conf.items() if k not in ("ipam", "capabilities")}
        for name, body in ((f"mv{i}", conf), (f"mv{i}-l2", l2)):
            api.create(NADS, {"apiVersion": "k8s.cni.cncf.io/v1",
                              "kind": "NetworkAttachmentDefinition",
                              "metadata": {"name": name, "namespace": "default"},
                              "spec": {"config": json.dumps({**body, "name": name})}})
    env.api = api
    env.kubeconfig = tmp / "kubeconfig"
    env.kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "b",
        "clusters": [{"name": "b", "cluster": {"server": api.url,
                                                "certificate-authority": str(tls.ca)}}],
        "users": [{"name": "b", "user": {"token": "bench-token"}}],
        "contexts": [{"name": "b", "context": {"cluster": "b", "user": "b"}}]}))
    sh("ip", "link", "add", "bbr0", "type", "bridge")
    sh("ip", "addr", "add", "203.0.113.1/24", "dev", "bbr0")
    sh("ip", "link", "set", "bbr0", "up")
    return env


def inner(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="natbench-"))
    env = setup(tmp)
    pods = Pods(env)
    report: dict = {"machine": {"python": platform.python_version(), "kernel": platform.release(),
                                "cpus": os.cpu_count()}, "iterations": args.iterations,
                    "modes": {}}
    modes: list[Callable[[Env], Mode]] = [m for m in (Floor, GoDirect, Thin, Thick)
                                          if not args.modes or m.key in args.modes]
    for factory in modes:
        mode = factory(env)
        try:
            entry = {"latency": latency(mode, pods, args.iterations)}
            entry["throughput"] = [throughput(mode, pods, args.pods, c)
                                   for c in args.concurrency]
            entry["leaks_after"] = leaks(env)
            if isinstance(mode, Thin):  # thick too: the shim is a CNI executable as well
                entry["cheap_verbs"] = cheap_verbs(mode, args.iterations)
            if isinstance(mode, Thick):
                entry["shim"] = shim_overhead(mode, args.iterations)
                entry["scale"] = scale(mode, pods, args, Floor(env))
            report["modes"][mode.name] = entry
            print(f"{mode.name}: ADD+DEL median "
                  f"{entry['latency']['add_del']['median_ms']} ms", flush=True)
        finally:
            mode.close()
    floor_entry = report["modes"].get(Floor.name)
    for entry in report["modes"].values():
        entry["ratio_to_floor"] = round(entry["latency"]["add_del"]["median_ms"] / floor_entry[
            "latency"]["add_del"]["median_ms"], 2) if floor_entry else None
    return report


def under_podman(iterations: int) -> dict:
    """The pod as a user feels it: `podman run -d` (create, start, CNI ADD of three
    networks) and `podman rm -f` (stop, CNI DEL, remove) of a busybox container under
    podman's CNI backend (libcni), once with netattach's plugins and once with the Go
    reference plugins. Networks as the field report's pod: eth0 bridge + host-local, eth1
    and eth2 macvlan + static. CPU per pod: podman and the plugins it execs (rusage)."""
    from tests.podman.harness import private_podman

    out = {}
    for label, plugin_dir in (("netattach plugins", None), ("Go plugins", GO)):
        tmp = Path(tempfile.mkdtemp(prefix="natbench-podman-"))
        try:
            with private_podman(tmp, plugin_dir) as pm:
                nets = [pm.network("br", {
                    "type": "bridge", "bridge": f"{pm.prefix}br0", "isGateway": True,
                    "ipam": {"type": "host-local", "dataDir": str(pm.ipam_dir),
                             "ranges": [[{"subnet": "203.0.113.0/24"}]]}})]
                nets += [pm.network(f"mv{i}", {
                    "type": "macvlan", "master": pm.nic, "mode": "bridge",
                    "ipam": {"type": "static", "addresses": [{"address": addr}]}})
                    for i, addr in enumerate(("192.0.2.10/24", "198.51.100.10/24"))]
                pm.run(*pm.run_args("warm", *nets))  # storage and runtime set up once
                pm.run("rm", "-f", "-t", "0", f"{pm.prefix}warm")
                run, rm, cpu = [], [], []
                for i in range(iterations):
                    name = f"{pm.prefix}c{i}"
                    c0 = children_cpu()
                    t0 = time.perf_counter()
                    pm.run(*pm.run_args(f"c{i}", *nets))
                    t1 = time.perf_counter()
                    pm.run("rm", "-f", "-t", "0", name)
                    t2 = time.perf_counter()
                    cpu.append(children_cpu() - c0)
                    run.append(t1 - t0)
                    rm.append(t2 - t1)
                out[label] = {"run": stats(run), "rm": stats(rm),
                              "run_rm_median_ms": round(statistics.median(
                                  [a + b for a, b in zip(run, rm, strict=True)]) * 1000, 1),
                              "cpu_ms_per_pod": round(statistics.mean(cpu) * 1000, 1)}
        finally:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return out


def scale(mode: Thick, pods: Pods, args: argparse.Namespace, floor: Mode) -> dict:
    """p50 with 10 vs ~1000 attachments already on the node, and the daemon's RSS; the
    floor measured on the same node at both points, one pod of each in turn, says what
    the kernel adds.

    The filler pods carry eth0 and nine L2-only secondaries each (the same NADs repeated,
    which Multus allows), so 1000 attachments fit the documentation address ranges.
    """
    kept: list[tuple[str, str]] = []
    per_pod = 10

    def fill(attachments: int) -> None:
        while len(kept) * per_pod < attachments:
            name, netns = pods.new(",".join(["mv0-l2", "mv1-l2"] * 4 + ["mv0-l2"]))
            mode.add(name, netns)
            kept.append((name, netns))

    out = {}
    try:
        fill(10)
        ours, base = latencies([mode, floor], pods, args.iterations)
        out["p50_at_10_ms"] = ours["add_del"]["median_ms"]
        out["floor_p50_at_10_ms"] = base["add_del"]["median_ms"]
        fill(args.scale_attachments)
        out["attachments"] = len(kept) * per_pod
        ours, base = latencies([mode, floor], pods, args.iterations)
        out["p50_at_1000_ms"] = ours["add_del"]["median_ms"]
        out["floor_p50_at_1000_ms"] = base["add_del"]["median_ms"]
        rss, pss = mode.memory_mb()
        out["daemon_rss_mb"], out["daemon_pss_mb"] = round(rss, 1), round(pss, 1)
    finally:
        for name, netns in kept:
            mode.delete(name, netns)
            pods.remove(name)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--pods", type=int, default=100, help="pods per throughput run")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 4, 16])
    parser.add_argument("--scale-attachments", type=int, default=1000)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=[],
                        help="only these: floor,go,thin,thick,podman (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner(args)), flush=True)
        return 0
    sh("ip", "netns", "add", NODE)
    try:
        argv = [a for a in sys.argv[1:]] + ["--inner"]
        proc = subprocess.run(["ip", "netns", "exec", NODE, PY, str(Path(__file__)), *argv],
                              capture_output=True, text=True)
        sys.stderr.write(proc.stderr[-3000:])
        if proc.returncode:
            return proc.returncode
        lines = proc.stdout.strip().splitlines()
        for line in lines[:-1]:
            print(line)
        report = json.loads(lines[-1])
    finally:
        for ns in sh("ip", "netns", "list").split("\n"):
            if ns.startswith("natb-"):
                sh("ip", "netns", "del", ns.split()[0], check=False)
    if not args.modes or "podman" in args.modes:  # out here: podman needs our mount namespace
        report["podman"] = under_podman(max(5, args.iterations // 3))
        print("podman: run+rm median " + ", ".join(
            f"{k} {v['run_rm_median_ms']} ms" for k, v in report["podman"].items()), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(render(report))
    return 0


def render(report: dict) -> str:
    """The report as Markdown tables: latency, CPU and throughput per mode, then scale."""
    modes = report["modes"]
    levels = ",".join(str(t["concurrency"]) for t in next(iter(modes.values()))["throughput"]
                      ) if modes else ""
    lines = ["| mode | ADD median | DEL median | ADD+DEL min / median / p99 (ms) | x floor |"
             " CPU ms per pod | pods/s at c=" + levels + " | failures |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"] if modes else []
    for name, e in modes.items():
        lat = e["latency"]
        tp = " / ".join(str(t["pods_per_second"]) for t in e["throughput"])
        fails = sum(t["failures"] for t in e["throughput"])
        lines.append(f"| {name} | {lat['add']['median_ms']} | {lat['del']['median_ms']} | "
                     f"{lat['add_del']['min_ms']} / {lat['add_del']['median_ms']} / "
                     f"{lat['add_del']['p99_ms']} | {e['ratio_to_floor']} | "
                     f"{lat['cpu_ms_per_pod']} | {tp} | {fails} |")
    if report.get("podman"):
        lines += ["", "| under podman (CNI backend) | podman run median | podman rm median | "
                  "run+rm median (ms) | CPU ms per pod |", "|---|---:|---:|---:|---:|"]
        for name, e in report["podman"].items():
            lines.append(f"| {name} | {e['run']['median_ms']} | {e['rm']['median_ms']} | "
                         f"{e['run_rm_median_ms']} | {e['cpu_ms_per_pod']} |")
    for name, e in modes.items():
        if "cheap_verbs" in e:
            cv = e["cheap_verbs"]
            lines.append(f"\n{name}: VERSION {cv['version']['median_ms']} ms, DEL with no "
                         f"cache and no netns {cv['del_no_cache_no_netns']['median_ms']} ms "
                         f"(python -IS start {cv['python_start']['median_ms']} ms)")
        if "shim" in e:
            sh_ = e["shim"]
            lines.append(f"{name}: a forwarded DEL {sh_['via_shim']['median_ms']} ms through "
                         f"the shim, {sh_['daemon_direct']['median_ms']} ms POSTed straight to "
                         f"the daemon: the shim adds {sh_['shim_adds_ms']} ms")
    for name, e in modes.items():
        if "scale" in e:
            sc = e["scale"]
            lines.append(f"\n{name} scale: p50 ADD+DEL {sc['p50_at_10_ms']} ms at 10 "
                         f"attachments, {sc['p50_at_1000_ms']} ms at {sc['attachments']} "
                         f"({round(sc['p50_at_1000_ms'] / sc['p50_at_10_ms'], 2)}x); the floor "
                         f"on the same node {sc['floor_p50_at_10_ms']} -> "
                         f"{sc['floor_p50_at_1000_ms']} ms ("
                         f"{round(sc['floor_p50_at_1000_ms'] / sc['floor_p50_at_10_ms'], 2)}x); "
                         f"daemon and workers RSS {sc['daemon_rss_mb']} MB, PSS "
                         f"{sc.get('daemon_pss_mb', '?')} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
