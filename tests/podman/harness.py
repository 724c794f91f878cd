"""A private podman (Debian's 4.3, CNI backend) running netattach's plugins, for real
(tests/podman and the bench's podman mode).

podman is a libcni client nobody here wrote: it parses our conflists, execs our plugins
from `cni_plugin_dirs`, keeps libcni's result cache, and calls DEL on stop and rm. The
fixture makes everything private and removes it even when a test fails:

- a "node" network namespace where podman runs (`nsenter --net`), so its bridge and
  veths never appear in the machine's namespace; the macvlan master is a veth there whose
  peer sits in a "switch" namespace;
- a persistent mount namespace (slave of the host's) in which a per-test directory is
  bound over /var/lib/cni, libcni's cache (podman cannot move it), and in which podman
  mounts its container namespaces under /run/netns, invisible to the host;
- its own containers.conf (`network_backend = "cni"`, runc, cgroupfs, file events, no
  default ulimits), storage (vfs under the test dir), run root, tmp dir and cgroup parent;
- containers run from a busybox-static rootfs (`podman run --rootfs DIR`), no image pull.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PODMAN = shutil.which("podman")
BUSYBOX = "/bin/busybox"
CGROUP_ROOT = Path("/sys/fs/cgroup")
LIBCNI_CACHE = Path("/var/lib/cni")
APPLETS = ("sh", "ip", "ping", "sleep", "cat", "ls")


def _run(*argv: str | Path, check: bool = True, timeout: float = 120
         ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


def _containers_conf(tmp: Path, run_dir: Path, bindir: Path, default_network: str) -> str:
    return f"""\
[containers]
# podman's default nofile/nproc ulimits exceed what this machine's containers may set
default_ulimits = []

[engine]
# crun refuses the cgroup setup of these machines; runc works
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{tmp / 'events.log'}"
tmp_dir = "{run_dir / 'libpod-tmp'}"

[network]
network_backend = "cni"
network_config_dir = "{tmp / 'net.d'}"
cni_plugin_dirs = ["{bindir}"]
default_network = "{default_network}"
"""


@dataclass
class Podman:
    """One private podman; `run(...)` is `podman ...` in the node namespace."""

    prefix: str
    tmp: Path
    node: str          # netns name of the node
    nic: str           # macvlan master in the node (a veth; its peer is in the switch)
    mount_ns: Path     # persistent mount namespace file
    run_dir: Path      # short paths (podman limits the run root to 50 characters)
    bindir: Path
    ipam_dir: Path
    cni_cache: Path    # bound over /var/lib/cni in the mount namespace
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cgroup_parent(self) -> str:
        return f"/{self.prefix}podman"

    def run(self, *args: str, check: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
        argv = ["nsenter", f"--mount={self.mount_ns}", f"--net=/run/netns/{self.node}",
                "env", *(f"{k}={v}" for k, v in self.env.items()), PODMAN or "podman",
                "--root", str(self.tmp / "storage"), "--runroot", str(self.run_dir / "runroot"),
                "--cgroup-manager", "cgroupfs", *args]
        return _run(*argv, check=check, timeout=timeout)

    def network(self, name: str, *plugins: dict[str, Any]) -> str:
        """Write the conflist `<prefix><name>` into podman's network dir; return its name."""
        full = f"{self.prefix}{name}"
        conflist = {"cniVersion": "1.0.0", "name": full, "plugins": list(plugins)}
        (self.tmp / "net.d" / f"{full}.conflist").write_text(json.dumps(conflist, indent=2))
        return full

    def run_args(self, name: str, *networks: str) -> list[str]:
        """`podman run -d` of a sleeping busybox on `networks`, as eth0, eth1, ... in that
        order (podman would otherwise number them in no fixed order)."""
        nets = [f"--network={n}:interface_name=eth{i}" for i, n in enumerate(networks)]
        return ["run", "-d", "--name", f"{self.prefix}{name}", "--cgroup-parent",
                self.cgroup_parent, *nets, "--rootfs", str(self.tmp / "rootfs"),
                "/bin/sleep", "600"]

    def start(self, name: str, *networks: str) -> str:
        """Run the container (see `run_args`); its full name."""
        self.run(*self.run_args(name, *networks))
        return f"{self.prefix}{name}"

    def exec(self, container: str, *argv: str, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        return self.run("exec", container, *argv, check=check)

    def inspect(self, container: str) -> dict[str, Any]:
        [data] = json.loads(self.run("inspect", container).stdout)
        return data

    def in_mount_ns(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return _run("nsenter", f"--mount={self.mount_ns}", *argv)

    def container_netns(self) -> list[str]:
        """Namespaces podman has mounted (in its mount namespace's /run/netns)."""
        out = self.in_mount_ns("ls", "-1", "/run/netns").stdout.split()
        return [n for n in out if n.startswith("netns-")]

    def node_links(self) -> list[str]:
        out = _run("ip", "-n", self.node, "-j", "link", "show").stdout
        return sorted(link["ifname"] for link in json.loads(out))

    def allocations(self) -> list[str]:
        """host-local's allocation files (addresses) of every network."""
        if not self.ipam_dir.is_dir():
            return []
        return sorted(f"{p.parent.name}/{p.name}" for p in self.ipam_dir.glob("*/*")
                      if p.name[0].isdigit() or ":" in p.name)

    def cached_results(self) -> list[str]:
        results = self.cni_cache / "results"
        return sorted(p.name for p in results.iterdir()) if results.is_dir() else []


def _rootfs(path: Path) -> None:
    (path / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "etc", "tmp", "run"):
        (path / d).mkdir()
    shutil.copy2(BUSYBOX, path / "bin" / "busybox")
    for applet in APPLETS:
        (path / "bin" / applet).symlink_to("busybox")


def _remove_cgroups(parent: str) -> None:
    """rmdir the cgroup parent (and anything podman left below it) in every hierarchy."""
    for hierarchy in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()] if CGROUP_ROOT.is_dir() else []:
        top = hierarchy / parent.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


@contextlib.contextmanager
def private_podman(tmp_path: Path, plugin_dir: Path | None = None) -> Iterator[Podman]:
    """A private podman under `tmp_path` (see the module's docstring), removed on exit.
    Plugins: netattach's, installed under `tmp_path/bin`, or those in `plugin_dir` (the Go
    reference plugins, for the bench)."""
    prefix = f"npm{os.urandom(2).hex()}"
    node, switch = f"{prefix}-node", f"{prefix}-sw"
    mnt_dir = Path(f"/run/{prefix}-mnt")
    created_cache_dir = not LIBCNI_CACHE.exists()
    pm: Podman | None = None
    try:
        _run("ip", "netns", "add", node)
        _run("ip", "netns", "add", switch)
        nic, port = f"{prefix}nic", f"{prefix}swp"
        _run("ip", "link", "add", nic, "type", "veth", "peer", "name", port)
        _run("ip", "link", "set", nic, "netns", node)
        _run("ip", "link", "set", port, "netns", switch)
        for ns, dev in ((node, nic), (switch, port), (node, "lo")):
            _run("ip", "-n", ns, "link", "set", dev, "up")

        bindir = plugin_dir or tmp_path / "bin"
        if plugin_dir is None:
            _run(sys.executable, "-m", "netattach", "install-bin", bindir)
        for d in ("net.d", "storage", "cni-cache", "ipam"):
            (tmp_path / d).mkdir()
        _rootfs(tmp_path / "rootfs")
        # the mount namespace file must live on a private mount
        mnt_dir.mkdir()
        _run("mount", "--bind", mnt_dir, mnt_dir)
        _run("mount", "--make-private", mnt_dir)
        for d in ("runroot", "libpod-tmp"):
            (mnt_dir / d).mkdir()
        (tmp_path / "containers.conf").write_text(
            _containers_conf(tmp_path, mnt_dir, bindir, f"{prefix}br"))
        mount_ns = mnt_dir / "mnt"
        mount_ns.touch()
        _run("unshare", f"--mount={mount_ns}", "--propagation", "slave", "true")
        LIBCNI_CACHE.mkdir(parents=True, exist_ok=True)
        _run("nsenter", f"--mount={mount_ns}", "mount", "--bind", tmp_path / "cni-cache",
             LIBCNI_CACHE)
        pm = Podman(prefix=prefix, tmp=tmp_path, node=node, nic=nic, mount_ns=mount_ns,
                    run_dir=mnt_dir,
                    bindir=bindir, ipam_dir=tmp_path / "ipam", cni_cache=tmp_path / "cni-cache",
                    env={"CONTAINERS_CONF": str(tmp_path / "containers.conf"),
                         "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")})
        yield pm
    finally:
        if pm is not None:
            pm.run("rm", "--all", "--force", "--time", "0", check=False)
        if mnt_dir.exists():
            _run("umount", "--lazy", mnt_dir / "mnt", check=False)
            _run("umount", "--lazy", mnt_dir, check=False)
            shutil.rmtree(mnt_dir, ignore_errors=True)
        for ns in (node, switch):
            _run("ip", "netns", "del", ns, check=False)
        if created_cache_dir and LIBCNI_CACHE.is_dir() and not any(LIBCNI_CACHE.iterdir()):
            LIBCNI_CACHE.rmdir()
        _remove_cgroups(f"/{prefix}podman")
