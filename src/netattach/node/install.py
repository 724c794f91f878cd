"""`netattach install` / `netattach uninstall`: put netattach on a node, and take it off again.

`install` writes, under `--root`:

* the CNI executables into the CNI bin dir (thin: `netattach`; thick: `netattach-shim`),
  plus any `--plugin` built-ins asked for;
* thin mode only: `00-netattach.conflist` in the CNI config dir, `type: netattach`,
  `clusterNetwork` = the path of the current primary config, the union of the primary's
  capabilities, the primary's `cniVersion` (what Multus's thick config manager does);
* with `--runtime`: a self-contained Python runtime (bundle) under the runtime dir, which
  the executables then run with (a DaemonSet's init container uses this; see
  deploy/image/bundle-runtime.py and docs/install.md).

In thick mode the daemon writes `00-netattach.conflist` itself and leaves it in place when
it stops, so pods wait for it (code 11) instead of starting without their networks.
`uninstall` removes that file first (before the shim it names), and refuses while a daemon
still answers on the socket the file names (it would write the file again).

Every change is recorded in a manifest (`<state dir>/install.json`) *before* it is made.
A file that existed with other bytes is backed up first; a file that existed with the
same bytes is left alone and never removed. `uninstall` undoes exactly the manifest:
files we created are removed, files we replaced are restored byte for byte with their
mode, directories we created are removed when empty. A file changed by someone else
since install is left in place (and reported) unless `force`.

Both are idempotent. The primary CNI config is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import netattach
from netattach.fsutil import write_atomically
from netattach.node.layout import GENERATED_CONF  # the same name as the daemon's (thick) file
from netattach.node.primary import find_primary, primary_conflist

NETWORK_NAME = "netattach-cni-network"
MANIFEST = "install.json"
MANIFEST_VERSION = 1
CURRENT_LINK = "current"
BUNDLE_ID_FILE = "BUNDLE_ID"
MODES = ("thin", "thick")
MODE_BINARIES: Mapping[str, tuple[str, ...]] = {"thin": ("netattach",),
                                                "thick": ("netattach-shim",)}


class NodeInstallError(Exception):
    """Install or uninstall cannot go on; the message names the file and the fix."""


@dataclass(frozen=True)
class NodePaths:
    """Host paths (as the node sees them) and the root they live under here."""

    root: Path = Path("/")
    cni_bin_dir: str = "/opt/cni/bin"
    cni_conf_dir: str = "/etc/cni/net.d"
    state_dir: str = "/var/lib/netattach"
    runtime_dir: str = "/opt/netattach"

    def here(self, host_path: str) -> Path:
        """Where the host path `host_path` is, seen from this process."""
        return self.root / host_path.lstrip("/")

    @property
    def manifest(self) -> Path:
        return self.here(self.state_dir) / MANIFEST


@dataclass(frozen=True)
class InstallOptions:
    paths: NodePaths = field(default_factory=NodePaths)
    mode: str = "thin"
    kubeconfig: str = ""  # host path written into the thin conflist
    plugins: tuple[str, ...] = ()  # extra built-in executables (they replace, with backup)
    runtime: Path | None = None  # a bundle (deploy/image/bundle-runtime.py) to copy


@dataclass(frozen=True)
class FileRecord:
    """One file install wrote: its bytes' sha256, and what was there before."""

    path: str  # host path
    sha256: str
    preexisting: bool = False  # the same bytes were already there: never removed
    backup: str = ""  # file name in <state>/backups holding the replaced bytes
    backup_mode: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "preexisting": self.preexisting,
                "backup": self.backup, "backupMode": self.backup_mode}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FileRecord:
        return cls(str(raw["path"]), str(raw["sha256"]), bool(raw.get("preexisting")),
                   str(raw.get("backup") or ""), int(raw.get("backupMode") or 0))


@dataclass(frozen=True)
class Manifest:
    mode: str = ""
    files: tuple[FileRecord, ...] = ()
    dirs: tuple[str, ...] = ()  # host dirs install created (removed when empty)
    runtimes: tuple[str, ...] = ()  # host dirs of runtime bundles install copied
    link: str = ""  # host path of the `current` symlink install made

    def record(self, path: str) -> FileRecord | None:
        return next((r for r in self.files if r.path == path), None)

    def to_bytes(self) -> bytes:
        return (json.dumps({
            "version": MANIFEST_VERSION, "netattach": netattach.__version__, "mode": self.mode,
            "files": [r.to_json() for r in self.files], "dirs": list(self.dirs),
            "runtimes": list(self.runtimes), "link": self.link}, indent=2) + "\n").encode()

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise NodeInstallError(f"install manifest {path}: cannot read: {e}; it records "
                                   "what `netattach install` changed. Restore it from a "
                                   "backup, or remove it and clean up by hand") from None
        if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
            raise NodeInstallError(f"install manifest {path}: unknown format (version "
                                   f"{raw.get('version') if isinstance(raw, dict) else '?'}); "
                                   "use the netattach release that wrote it to uninstall")
        return cls(str(raw.get("mode") or ""),
                   tuple(FileRecord.from_json(r) for r in raw.get("files") or ()),
                   tuple(raw.get("dirs") or ()), tuple(raw.get("runtimes") or ()),
                   str(raw.get("link") or ""))


@dataclass(frozen=True)
class Outcome:
    """What a run did, one line per change, for people."""

    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


# --- the primary CNI config -------------------------------------------------------------


def render_thin_conflist(primary: Path, primary_host_path: str, kubeconfig: str) -> bytes:
    """`00-netattach.conflist` for thin mode, delegating eth0 to `primary`."""
    meta: dict[str, Any] = {"type": "netattach", "clusterNetwork": primary_host_path,
                            **({"kubeconfig": kubeconfig} if kubeconfig else {})}
    try:
        return primary_conflist(primary, primary_host_path, meta, NETWORK_NAME)
    except ValueError as e:
        raise NodeInstallError(str(e)) from None


def _check_conf_dir(paths: NodePaths, manifest: Manifest | None) -> Path:
    """The primary config (here); refuses on Multus leftovers, ordering, or a foreign file."""
    conf_dir = paths.here(paths.cni_conf_dir)
    if not conf_dir.is_dir():
        raise NodeInstallError(f"CNI config dir {paths.cni_conf_dir} does not exist: install "
                               "the cluster network (flannel, Calico, Cilium, ...) first, or "
                               "pass --cni-conf-dir")
    names = sorted(p.name for p in conf_dir.iterdir() if not p.name.startswith("."))
    multus = [n for n in names if n.startswith("00-multus")]
    if multus:
        raise NodeInstallError(
            f"{paths.cni_conf_dir}/{multus[0]} is Multus's config: the runtime would keep "
            "using Multus, and chaining both breaks DEL. Remove Multus first (delete its "
            "DaemonSet, then this file on the node); see docs/migrating-from-multus.md")
    ours = f"{paths.cni_conf_dir}/{GENERATED_CONF}"
    if (conf_dir / GENERATED_CONF).exists() and (manifest is None or manifest.record(ours)
                                                 is None):
        raise NodeInstallError(
            f"{ours} exists and `netattach install` did not write it: the netattach "
            "DaemonSet (thick mode) manages it on this node. Thin and thick mode do not mix: "
            "remove the DaemonSet first, or keep thick mode and skip `netattach install`")
    primary = find_primary(conf_dir)
    if primary is None:
        raise NodeInstallError(
            f"no primary CNI config in {paths.cni_conf_dir} (no *.conf, *.conflist or *.json): "
            "netattach attaches eth0 through the cluster network, so install that first "
            "(flannel, Calico, Cilium, ...) and run `netattach install` again")
    if primary.name < GENERATED_CONF:
        raise NodeInstallError(
            f"{paths.cni_conf_dir}/{primary.name} sorts before {GENERATED_CONF}: the runtime "
            "uses the alphabetically first config, so it would never call netattach. Rename "
            f"the primary (e.g. 10-{primary.name.removeprefix('00-')}) and run again")
    return primary


# --- small file helpers -------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _backup_name(host_path: str) -> str:
    return host_path.strip("/").replace("/", "__")


def _missing_dirs(path: Path, root: Path) -> list[Path]:
    """`path` and its ancestors under `root` that do not exist yet, outermost first."""
    missing = []
    while path != root and not path.exists():
        missing.append(path)
        path = path.parent
    return missing[::-1]


def _host(paths: NodePaths, here: Path) -> str:
    """The host path of `here` (a path under the root)."""
    rel = here.relative_to(paths.root).as_posix()
    return "/" if rel == "." else "/" + rel


# --- runtime bundles ----------------------------------------------------------------------


def bundle_dir(source: Path) -> Path:
    """The bundle a `--runtime` path names (a symlink such as /opt/netattach/runtime is
    followed); it must hold bin/python3 and BUNDLE_ID."""
    real = source.resolve()
    if not (real / "bin" / "python3").exists() or not (real / BUNDLE_ID_FILE).is_file():
        raise NodeInstallError(f"--runtime {source}: not a netattach runtime bundle (needs "
                               f"bin/python3 and {BUNDLE_ID_FILE}); the image builds one with "
                               "deploy/image/bundle-runtime.py")
    return real


def _copy_runtime(source: Path, dest: Path) -> None:
    """Copy the bundle to `dest` via a temporary sibling and one rename: `dest` is either
    absent or complete, never half-copied."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(source, tmp, symlinks=True, dirs_exist_ok=True)
        os.chmod(tmp, 0o755)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _point_link(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


# --- install ------------------------------------------------------------------------------


def _desired_files(opts: InstallOptions, manifest: Manifest | None,
                   runtime_prefix: str) -> dict[str, tuple[bytes, int]]:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.node.binaries import SHIM_NAME, Runtime, render, render_shim

    paths = opts.paths
    runtime = Runtime.at_prefix(runtime_prefix) if runtime_prefix else Runtime.current()
    wanted: dict[str, tuple[bytes, int]] = {}
    for type_name in dict.fromkeys([*MODE_BINARIES[opts.mode], *opts.plugins]):
        if type_name == SHIM_NAME:
            data = render_shim(runtime.python)
        elif type_name in BUILTIN_PLUGINS:
            data = render(type_name, runtime.python, runtime.paths)
        else:
            raise NodeInstallError(f"unknown plugin type {type_name!r}; built-in types are "
                                   f"{', '.join(sorted(BUILTIN_PLUGINS))}")
        wanted[f"{paths.cni_bin_dir.rstrip('/')}/{type_name}"] = (data.encode(), 0o755)
    if opts.mode == "thin":
        if opts.kubeconfig and not paths.here(opts.kubeconfig).is_file():
            raise NodeInstallError(f"--kubeconfig {opts.kubeconfig}: no such file on the node; "
                                   "give the path of a kubeconfig for this node (prefer one "
                                   "with tokenFile, so token rotation keeps working)")
        primary = _check_conf_dir(paths, manifest)
        primary_host = f"{paths.cni_conf_dir.rstrip('/')}/{primary.name}"
        wanted[f"{paths.cni_conf_dir.rstrip('/')}/{GENERATED_CONF}"] = (
            render_thin_conflist(primary, primary_host, opts.kubeconfig), 0o600)
    return wanted


def install(opts: InstallOptions) -> Outcome:
    """Install netattach on the node under `opts.paths.root` (see the module docstring)."""
    if opts.mode not in MODES:
        raise NodeInstallError(f"mode {opts.mode!r}: use thin or thick")
    paths = opts.paths
    manifest = Manifest.load(paths.manifest)
    old = manifest or Manifest()
    if manifest is not None and manifest.mode and manifest.mode != opts.mode:
        raise NodeInstallError(f"this node has a {manifest.mode}-mode install "
                               f"({paths.state_dir}/{MANIFEST}); run `netattach uninstall` "
                               f"first, then install in {opts.mode} mode")
    changes: list[str] = []
    warnings: list[str] = []
    dirs = list(old.dirs)
    runtimes = list(old.runtimes)
    link = old.link
    prefix = ""
    if opts.runtime is not None:
        bundle = bundle_dir(opts.runtime)
        runtime_root = paths.here(paths.runtime_dir)
        for d in _missing_dirs(runtime_root, paths.root):
            d.mkdir(mode=0o755)
            dirs.append(_host(paths, d))
        prefix = f"{paths.runtime_dir.rstrip('/')}/{bundle.name}"
        dest = paths.here(prefix)
        if not dest.exists():
            _copy_runtime(bundle, dest)
            changes.append(f"copied runtime {bundle} to {prefix}")
        elif _read(dest / BUNDLE_ID_FILE) != _read(bundle / BUNDLE_ID_FILE):
            raise NodeInstallError(f"{prefix} exists with another {BUNDLE_ID_FILE}: remove it "
                                   "(no executable may still use it) and run again")
        if prefix not in runtimes:
            runtimes.append(prefix)
    wanted = _desired_files(opts, manifest, prefix)
    # a file we installed before and no longer want is reverted like uninstall would
    stale = [r for r in old.files if r.path not in wanted]
    records: list[FileRecord] = []
    backups = paths.here(paths.state_dir) / "backups"
    for host_path, (data, _mode) in wanted.items():
        here = paths.here(host_path)
        rec = old.record(host_path)
        current = _read(here)
        if rec is not None and not (rec.preexisting and current != data):
            records.append(rec if rec.preexisting else replace(rec, sha256=_sha256(data)))
            continue
        for d in _missing_dirs(here.parent, paths.root):
            d.mkdir(mode=0o755)
            dirs.append(_host(paths, d))
        if current == data:
            records.append(FileRecord(host_path, _sha256(data), preexisting=True))
        elif current is None:
            records.append(FileRecord(host_path, _sha256(data)))
        else:
            for d in _missing_dirs(backups, paths.root):
                d.mkdir(mode=0o700 if d == backups else 0o755)
                dirs.append(_host(paths, d))
            name = _backup_name(host_path)
            write_atomically(backups / name, current, mode=0o600)
            records.append(FileRecord(host_path, _sha256(data), backup=name,
                                      backup_mode=here.stat().st_mode & 0o7777))
            warnings.append(f"{host_path} existed and is replaced; uninstall restores it")
    # the manifest is written before the files, so a crash leaves something to undo
    for d in _missing_dirs(paths.here(paths.state_dir), paths.root):
        d.mkdir(mode=0o755)
        dirs.append(_host(paths, d))
    new = Manifest(opts.mode, (*records, *stale), tuple(dict.fromkeys(dirs)),
                   tuple(runtimes), link)
    write_atomically(paths.manifest, new.to_bytes(), mode=0o600)
    for host_path, (data, mode) in wanted.items():
        here = paths.here(host_path)
        if _read(here) != data and not new.record(host_path).preexisting:  # type: ignore[union-attr]
            write_atomically(here, data, mode=mode)
            changes.append(f"wrote {host_path}")
    left = _undo_files(paths, stale, force=False, changes=changes)
    if prefix:
        link = f"{paths.runtime_dir.rstrip('/')}/{CURRENT_LINK}"
        link_here = paths.here(link)
        if not (link_here.is_symlink() and os.readlink(link_here) == Path(prefix).name):
            _point_link(link_here, Path(prefix).name)
            changes.append(f"pointed {link} at {Path(prefix).name}")
        runtimes, pruned = _prune_runtimes(paths, runtimes, keep=prefix, previous=old.runtimes)
        changes.extend(f"removed old runtime {p}" for p in pruned)
    final = Manifest(opts.mode, (*records, *left), new.dirs, tuple(runtimes), link)
    write_atomically(paths.manifest, final.to_bytes(), mode=0o600)
    if opts.runtime is None and paths.root != Path("/"):
        from netattach.node.binaries import Runtime

        warnings.append(f"the executables run {Runtime.current().python}: it must exist at "
                        "that path on the node (or pass --runtime)")
    if opts.mode == "thin" and not opts.kubeconfig:
        warnings.append("no --kubeconfig: netattach will attach only the cluster network "
                        "(no NetworkAttachmentDefinitions) until you add one and run again")
    return Outcome(tuple(changes), tuple(warnings))


def _prune_runtimes(paths: NodePaths, runtimes: Sequence[str], keep: str,
                    previous: Sequence[str]) -> tuple[list[str], list[str]]:
    """Keep the runtime in use and the one before it (an executable started just before the
    switch may still import from it); remove older ones we installed."""
    before = [r for r in previous if r != keep][-1:]
    kept, pruned = [], []
    for r in runtimes:
        if r == keep or r in before:
            kept.append(r)
        else:
            shutil.rmtree(paths.here(r), ignore_errors=True)
            pruned.append(r)
    return kept, pruned


# --- uninstall ----------------------------------------------------------------------------


def _daemon_answers(socket_path: Path) -> bool:
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(socket_path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _remove_daemon_conflist(paths: NodePaths, changes: list[str], warnings: list[str]) -> None:
    """Thick mode: remove the daemon's generated conflist (it outlives the daemon)."""
    from netattach.node.layout import DEFAULT_SOCKET_DIR, SHIM_TYPE, SOCKET_NAME

    host_path = f"{paths.cni_conf_dir.rstrip('/')}/{GENERATED_CONF}"
    here = paths.here(host_path)
    try:
        raw = json.loads(here.read_bytes())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        warnings.append(f"{host_path}: cannot read it ({e}), so left in place; remove it by "
                        "hand if the netattach daemon wrote it")
        return
    plugins = raw.get("plugins") if isinstance(raw, dict) else None
    shim = plugins[0] if isinstance(plugins, list) and plugins else None
    if not isinstance(shim, dict) or shim.get("type") != SHIM_TYPE:
        return  # not the daemon's file (thin mode's is in the manifest)
    socket_dir = str(shim.get("daemonSocketDir") or DEFAULT_SOCKET_DIR)
    socket_path = paths.here(socket_dir) / SOCKET_NAME
    if _daemon_answers(socket_path):
        raise NodeInstallError(
            f"the netattach daemon still answers on {socket_dir.rstrip('/')}/{SOCKET_NAME} and "
            f"would write {host_path} again: delete the DaemonSet first (kubectl -n "
            "kube-system delete daemonset netattach), then run uninstall on the node")
    here.unlink()
    changes.append(f"removed {host_path}")


def _undo_files(paths: NodePaths, records: Sequence[FileRecord], *, force: bool,
                changes: list[str]) -> list[FileRecord]:
    """Revert `records` (last first); returns those left alone because they changed."""
    left: list[FileRecord] = []
    backups = paths.here(paths.state_dir) / "backups"
    for rec in reversed(records):
        here = paths.here(rec.path)
        if rec.preexisting:
            continue
        current = _read(here)
        ours = current is not None and _sha256(current) == rec.sha256
        if current is not None and not ours and not force:
            left.append(rec)
            continue
        if rec.backup:
            original = (backups / rec.backup).read_bytes()
            write_atomically(here, original, mode=rec.backup_mode or 0o644)
            (backups / rec.backup).unlink()
            changes.append(f"restored {rec.path}")
        elif current is not None:
            here.unlink()
            changes.append(f"removed {rec.path}")
    return left[::-1]


def uninstall(paths: NodePaths, *, force: bool = False) -> Outcome:
    """Undo what `install` recorded under `paths`; a no-op when nothing is recorded."""
    manifest = Manifest.load(paths.manifest)
    changes: list[str] = []
    warnings: list[str] = []
    # first, so the runtime stops calling the shim before the shim goes
    _remove_daemon_conflist(paths, changes, warnings)
    if manifest is None:
        return Outcome(tuple(changes), (*warnings, f"nothing else to uninstall: no "
                                        f"{paths.state_dir}/{MANIFEST} under {paths.root}"))
    left = _undo_files(paths, manifest.files, force=force, changes=changes)
    if left:
        write_atomically(paths.manifest, replace(manifest, files=tuple(left)).to_bytes(),
                         mode=0o600)
        raise NodeInstallError(
            "changed since install, so left in place: "
            + ", ".join(r.path for r in left)
            + ". Check who changed them; `netattach uninstall --force` removes them anyway "
            "(and restores what they replaced)")
    if manifest.link:
        link = paths.here(manifest.link)
        if link.is_symlink():
            link.unlink()
            changes.append(f"removed {manifest.link}")
    for r in manifest.runtimes:
        if paths.here(r).exists():
            shutil.rmtree(paths.here(r))
            changes.append(f"removed runtime {r}")
    paths.manifest.unlink()
    for d in reversed(manifest.dirs):
        try:
            paths.here(d).rmdir()
            changes.append(f"removed directory {d}")
        except OSError:
            continue  # not empty: something else lives there now
    return Outcome(tuple(changes), tuple(warnings))
