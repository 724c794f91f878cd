"""What the fuzz tests share: throw-away labs, a contained way to exec a plugin, and the
checks every CNI answer must pass.

A **lab** is three fresh network namespaces per example (node, pod, peer; links inside
them have fixed short names since nothing else can see them) and a directory `root`.
Every plugin runs as a runtime would run it, the executable under `ip netns exec NODE`,
but inside a mount namespace of its own where `root/run` is bound over /run (with the real
/run/netns bound back inside, so pod namespaces stay reachable) and `root/var-lib` over
/var/lib. So whatever a fuzzed config makes a plugin write to a default location
(/var/lib/cni/networks, /var/lib/cni/results, /run/cni/tuning, /run/netattach) lands under
`root`, where the leftover check sees it, and never on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.daemon_support import DaemonProcess

IP = shutil.which("ip") or "/usr/sbin/ip"
PLUGINS = ("bridge", "host-device", "host-local", "ipvlan", "macvlan", "static", "tuning",
           "vlan")
# One random seed per run (derandomize stays off), printed with every failure:
# NATFUZZ_SEED=<n> reruns the same examples; NATFUZZ_SCALE=10 runs ten times as many.
SEED = int(os.environ.get("NATFUZZ_SEED") or random.SystemRandom().randrange(2**32))


def scale(examples: int) -> int:
    return max(1, int(examples * float(os.environ.get("NATFUZZ_SCALE", "1"))))

NETNS_DIR = "/run/netns"
# every link the lab creates has a fixed MAC, so configs can name them without a lookup
UP0_MAC = "02:00:5e:00:53:a0"  # node: the default-route NIC (192.0.2.2/24 via 192.0.2.1)
HD0_MAC = "02:00:5e:00:53:a1"  # node: the device host-device may take
ETH0_MAC = "02:00:5e:00:53:a2"  # pod: tuning's interface (veth to tn0 in the node)

# Runs argv[3:] with argv[1] bound over /run (the real /run/netns rebound inside it) and
# argv[2] over /var/lib, in a mount namespace that dies with the process. It is a slave of
# the host's: nothing mounted here reaches the host, and namespaces the host mounts under
# /run/netns later (pods of later examples, for the long-lived daemon) show up here.
CONTAIN = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_BIND, MS_REC, MS_SLAVE = 0x1000, 0x4000, 0x80000
def ok(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise SystemExit(f"fuzz sandbox: {what}: {os.strerror(err)}")
run, var_lib = sys.argv[1], sys.argv[2]
ok(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
ok(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "make / a slave")
ok(libc.mount(b"/run/netns", (run + "/netns").encode(), None, MS_BIND | MS_REC, None),
   "bind /run/netns")
ok(libc.mount(run.encode(), b"/run", None, MS_BIND | MS_REC, None), "bind /run")
ok(libc.mount(var_lib.encode(), b"/var/lib", None, MS_BIND, None), "bind /var/lib")
os.execv(sys.argv[3], sys.argv[3:])
"""

TEMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}")  # write_atomically's temporary files
HOST_LOCAL_BOOKKEEPING = re.compile(r"lock|last_reserved_ip\.\d+")


def ip(*args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run([IP, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def node_with_uplink(netns: str, peer: str) -> None:
    """Namespaces `netns` (a node: lo up, veth "up0") and `peer` (its other end "dn0")."""
    ip("netns", "add", netns)
    ip("netns", "add", peer)
    ip("-n", netns, "-batch", "-", stdin=f"link set lo up\nlink add up0 type veth peer "
       f"name dn0 netns {peer}\nlink set up0 up\n")
    ip("-n", peer, "link", "set", "dn0", "up")


def ip_json(netns: str, *args: str) -> list[dict[str, Any]]:
    out = ip("-n", netns, "-j", *args)
    return json.loads(out) if out.strip() else []


@dataclass(frozen=True)
class LinkState:
    name: str
    kind: str
    master: str
    mac: str
    mtu: int
    flags: tuple[str, ...]
    txqlen: int | None


def link_states(netns: str) -> dict[str, LinkState]:
    out = {}
    for lk in ip_json(netns, "-d", "link", "show"):
        info = lk.get("linkinfo") or {}
        out[lk["ifname"]] = LinkState(lk["ifname"], str(info.get("info_kind", "")),
                                      str(lk.get("master", "")), str(lk.get("address", "")),
                                      int(lk.get("mtu", 0)),
                                      tuple(sorted(f for f in lk.get("flags", [])
                                                   if f in ("PROMISC", "ALLMULTI", "UP"))),
                                      lk.get("txqlen"))
    return out


@dataclass
class Lab:
    """node / pod / peer namespaces and a private directory tree for one example."""

    node: str
    pod: str
    peer: str
    root: Path
    tuning_eth0: bool = False
    bindir: Path | None = None
    _created: list[str] = field(default_factory=list)

    @property
    def pod_path(self) -> str:
        return f"{NETNS_DIR}/{self.pod}"

    @classmethod
    def create(cls, prefix: str, n: int, base: Path, *, tuning_eth0: bool = False,
               bindir: Path | None = None) -> Lab:
        root = base / f"ex{n}"
        lab = cls(f"{prefix}fz{n}n", f"{prefix}fz{n}p", f"{prefix}fz{n}r", root, tuning_eth0,
                  bindir)
        try:
            lab._build()
        except BaseException:
            lab.destroy()
            raise
        return lab

    def _build(self) -> None:
        for d in ("run/netns", "var-lib", "hl", "tun", "cache", "sock"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "file").write_text("not a directory\n")
        for ns in (self.node, self.pod, self.peer):
            ip("netns", "add", ns)
            self._created.append(ns)
        node_cmds = [
            "link set lo up",
            f"link add up0 address {UP0_MAC} type veth peer name dn0 netns {self.peer}",
            f"link add hd0 address {HD0_MAC} type veth peer name hdp0 netns {self.peer}",
            "addr add 192.0.2.2/24 dev up0", "link set up0 up", "link set hd0 up",
            "route add default via 192.0.2.1",
        ]
        if self.tuning_eth0:
            node_cmds.append(f"link add tn0 type veth peer name eth0 address {ETH0_MAC} "
                             f"netns {self.pod}")
            node_cmds.append("link set tn0 up")
        ip("-n", self.node, "-batch", "-", stdin="\n".join(node_cmds) + "\n")
        ip("-n", self.peer, "-batch", "-", stdin="link set lo up\nlink set dn0 up\n"
           "link set hdp0 up\naddr add 192.0.2.1/24 dev dn0\n")
        ip("-n", self.pod, "-batch", "-", stdin="link set lo up\n"
           + ("link set eth0 up\n" if self.tuning_eth0 else ""))

    def snapshot(self) -> dict[str, Any]:
        return {ns: link_states(ns) for ns in (self.node, self.pod)
                if os.path.exists(f"{NETNS_DIR}/{ns}")}

    def nft(self) -> list[str]:
        """The node's per-attachment nftables state: rules with a comment (ipMasq and
        macspoofchk rules name their attachment there) and macspoofchk's own chains. The
        shared tables and base chains stay after DEL, as with the reference plugins."""
        proc = subprocess.run([IP, "netns", "exec", self.node, "nft", "-j", "list", "ruleset"],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0 or not proc.stdout.strip():
            return []
        out = []
        for item in json.loads(proc.stdout).get("nftables", []):
            rule, chain = item.get("rule"), item.get("chain")
            if rule and rule.get("comment"):
                out.append(f"rule {rule['table']}/{rule['chain']}: {rule['comment']}")
            if chain and chain.get("name", "").startswith("cni-br-iface-"):
                out.append(f"chain {chain['table']}/{chain['name']}")
        return sorted(out)

    def destroy(self) -> None:
        for ns in self._created:
            ip("netns", "del", ns, check=False)
        self._created.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def resolve(self, data: bytes) -> bytes:
        """Placeholders of the strategies: @ROOT@ (this lab's directory), @POD@ (its pod
        netns path), @NODE@ (the node netns path), @BIN@ (the plugins' directory)."""
        return (data.replace(b"@ROOT@", str(self.root).encode())
                .replace(b"@BIN@", str(self.bindir or "/nonexistent-bin").encode())
                .replace(b"@POD@", self.pod_path.encode())
                .replace(b"@NODE@", f"{NETNS_DIR}/{self.node}".encode()))


@dataclass
class ThickNode:
    """`netattach daemon` in its own node namespace, contained like the plugins (its /run
    and /var/lib are `root/run` and `root/var-lib`), serving on `root/sock`."""

    netns: str
    root: Path
    daemon: DaemonProcess
    links: dict[str, Any]

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def state_dirs(self) -> list[Path]:
        return [self.root / d for d in ("hl", "cni", "run", "var-lib")]


@dataclass
class Call:
    """One execution: what went in and what came out."""

    argv: list[str]
    env: dict[bytes, bytes]
    stdin: bytes
    rc: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def command(self) -> str:
        return self.env.get(b"CNI_COMMAND", b"").decode(errors="replace")

    @property
    def answer(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None

    def describe(self) -> str:
        env = {k.decode(errors="backslashreplace"): v.decode(errors="backslashreplace")[:200]
               for k, v in self.env.items() if k != b"PATH"}
        return (f"\n  argv: {self.argv[-1]}\n  env: {env}\n  stdin: {self.stdin[:600]!r}"
                f"\n  rc: {self.rc} after {self.seconds:.1f} s\n  stdout: {self.stdout[:1500]}"
                f"\n  stderr: {self.stderr[-1500:]}")


def run_contained(lab: Lab, executable: Path, env: Mapping[bytes, bytes], stdin: bytes,
                  timeout: float = 60, in_node: bool = True, node: str | None = None) -> Call:
    """Exec `executable` as a runtime would (env + stdin), inside the lab's node netns (or
    `node`) and the lab's own /run and /var/lib; relative paths of a fuzzed config (a
    dataDir of "x") land in the lab's directory, its working directory."""
    argv = [sys.executable, "-I", "-S", "-c", CONTAIN, str(lab.root / "run"),
            str(lab.root / "var-lib")]
    argv += [IP, "netns", "exec", node or lab.node, str(executable)] if in_node \
        else [str(executable)]
    full_env = {b"PATH": os.environb.get(b"PATH", b"/usr/sbin:/usr/bin:/sbin:/bin"),
                **dict(env)}
    started = time.monotonic()
    proc = subprocess.run(argv, input=stdin, env=full_env, capture_output=True,
                          timeout=timeout, cwd=lab.root)
    stderr = proc.stderr.decode(errors="backslashreplace")
    if "fuzz sandbox:" in stderr:
        raise RuntimeError(stderr)
    return Call(argv, dict(env), stdin, proc.returncode,
                proc.stdout.decode(errors="backslashreplace"), stderr,
                time.monotonic() - started)


# -- the checks -------------------------------------------------------------------------------
class Violation(AssertionError):
    pass


def check_answer(call: Call) -> None:
    """The CNI output contract: exit 0 or 1, one JSON object or nothing on stdout, an error
    object with an int code and a str msg on 1, no traceback, no "this is a bug"."""
    where = call.describe()
    if "Traceback" in call.stdout or "Traceback" in call.stderr:
        raise Violation(f"traceback:{where}")
    if call.rc not in (0, 1):
        raise Violation(f"exit code {call.rc}:{where}")
    try:
        answer = call.answer
    except ValueError as e:
        raise Violation(f"stdout is not one JSON document ({e}):{where}") from None
    if call.rc == 1:
        if not isinstance(answer, dict):
            raise Violation(f"error without a JSON error object:{where}")
        code, msg = answer.get("code"), answer.get("msg")
        if not isinstance(code, int) or isinstance(code, bool) or not isinstance(msg, str):
            raise Violation(f"malformed error object:{where}")
        if not isinstance(answer.get("details", ""), str):
            raise Violation(f"details is not a string:{where}")
        if code == 999 and "this is a bug" in answer.get("details", ""):
            raise Violation(f"code 999 'this is a bug':{where}")
        return
    if answer is not None and not isinstance(answer, dict):
        raise Violation(f"stdout is not a JSON object:{where}")
    if call.command == "ADD" and not (isinstance(answer, dict)
                                      and isinstance(answer.get("cniVersion"), str)):
        raise Violation(f"ADD succeeded without a result:{where}")
    if call.command == "VERSION" and not (isinstance(answer, dict)
                                          and isinstance(answer.get("supportedVersions"), list)):
        raise Violation(f"VERSION without supportedVersions:{where}")


def record(call: Call) -> None:
    """Note the call for hypothesis' report and count its outcome for the statistics
    (--hypothesis-show-statistics); nothing outside a hypothesis test."""
    from hypothesis import event, note
    from hypothesis.control import currently_in_test_context

    if currently_in_test_context():
        note(f"{call.command}: rc={call.rc} {call.stdout.strip()[:300]}")
        event(outcome(call))


def outcome(call: Call) -> str:
    """A short label for hypothesis' statistics (--hypothesis-show-statistics)."""
    try:
        answer = call.answer
    except ValueError:
        answer = None
    code = answer.get("code") if call.rc == 1 and isinstance(answer, dict) else None
    return f"{call.command[:8]!r} rc={call.rc}" + (f" code={code}" if code is not None else "")


def leftover_files(root: Path) -> list[str]:
    """Files under the lab's directories that a finished DEL should not have left: anything
    but host-local's lock and last_reserved_ip files (and the lab's own fixtures)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in filenames:
            rel = (here / name).relative_to(root)
            if str(rel) == "file" or HOST_LOCAL_BOOKKEEPING.fullmatch(name):
                continue
            out.append(str(rel))
        for name in dirnames:
            if (here / name).is_symlink():
                out.append(str((here / name).relative_to(root)))
    return sorted(out)


def wipe_files(root: Path) -> None:
    """Remove every file under `root` (directories stay): the state a module-wide daemon or
    node kept from one example must not show up as the next example's leftover."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(dirpath, name))


def changed_links(before: Mapping[str, Mapping[str, LinkState]],
                  after: Mapping[str, Mapping[str, LinkState]], node: str,
                  allowed_bridges: Iterable[str] = ()) -> list[str]:
    """Differences in the node and pod namespaces; an empty bridge the bridge plugin made
    (DEL keeps it, as the reference does) is allowed in the node."""
    out = []
    for ns, links in after.items():
        old = before.get(ns, {})
        for name, state in links.items():
            if name in old:
                was = old[name]
                if name == "hd0" and ns == node:  # host-device DEL returns it down, as the
                    was = replace(was, flags=tuple(f for f in was.flags if f != "UP"))  # ref
                    state = replace(state, flags=tuple(f for f in state.flags if f != "UP"))
                if state != was:
                    out.append(f"{ns}: {name} changed: {old[name]} -> {state}")
                continue
            ports = [s for s in links.values() if s.master == name]
            if ns == node and state.kind == "bridge" and name in allowed_bridges and not ports:
                continue
            out.append(f"{ns}: new link {state}")
        for name in old:
            if name not in links:
                out.append(f"{ns}: {name} is gone")
    return out
