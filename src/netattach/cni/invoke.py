"""Running plugins the way libcni does: find, exec with env + stdin, chain a conflist, cache.

`Invoker` mirrors libcni's CNIConfig (AddNetworkList, DelNetworkList, CheckNetworkList,
GCNetworkList, GetStatusNetworkList). How a plugin type is run is the `Executor`'s job:
`ExecExecutor` runs executables from CNI_PATH (optionally chrooted into the host's root,
Multus's `chrootDir`); the meta plugin supplies one that runs netattach's built-in types in
process and everything else through `ExecExecutor`.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from . import version as versions
from .config import NetConfList, validate_container_id, validate_ifname, validate_network_name
from .errors import CNIError, Code
from .request import Command
from .result_cache import CachedAttachment, ResultCache
from .types import Result

DEFAULT_TIMEOUT = 60.0
ETXTBSY = 26
# coreutils chroot(8) exits 125 when chroot() itself fails, 126 when the command cannot be
# executed and 127 when it is not found, printing "chroot: ..." on stderr.
_CHROOT_FAILURES = (125, 126, 127)
_SYMLINK_HOPS = 40  # the kernel's limit (MAXSYMLINKS)
NAME_MAX = 255  # longest file name; a longer "type" can never be found


@dataclass(frozen=True)
class RuntimeConf:
    """What the runtime knows about one attachment (libcni's RuntimeConf)."""

    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def args_string(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


class Executor(Protocol):
    """Runs one plugin type for one verb with `conf` as its stdin; returns its parsed
    stdout (None when empty), or directly a `Result` for an ADD run in process."""

    def execute(self, plugin_type: str, env: Mapping[str, str], conf: Mapping[str, Any],
                path: Sequence[str]) -> Any: ...


def _check_plugin_name(plugin_type: str, path: Sequence[str]) -> None:
    """A `type` that can name a file in CNI_PATH, and a CNI_PATH to look in."""
    if not plugin_type:
        raise CNIError(Code.INVALID_NETWORK_CONFIG, "no plugin name provided",
                       'the network config needs "type"')
    try:
        encoded = os.fsencode(plugin_type)
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") names no file
        encoded = b"/"
    if os.sep in plugin_type or b"/" in encoded or "\0" in plugin_type \
            or plugin_type in (".", ".."):
        raise CNIError(Code.INVALID_NETWORK_CONFIG, f"invalid plugin name: {plugin_type!r}",
                       "a plugin type is a file name in CNI_PATH, not a path")
    if len(encoded) > NAME_MAX:
        raise CNIError(Code.INVALID_NETWORK_CONFIG,
                       f"invalid plugin name: {plugin_type[:40]!r}... is longer than {NAME_MAX} "
                       "bytes", "a plugin type is a file name in CNI_PATH; fix \"type\"")
    if not path:
        raise CNIError(Code.INVALID_ENVIRONMENT, "no paths provided",
                       f"set CNI_PATH (or binDir) to the directory holding {plugin_type!r}")


def find_in_path(plugin_type: str, path: Sequence[str]) -> Path:
    """The first regular executable file named `plugin_type` in `path` (libcni's FindInPath)."""
    _check_plugin_name(plugin_type, path)
    for directory in path:
        candidate = Path(directory) / plugin_type
        try:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        except (OSError, ValueError):
            continue  # a CNI_PATH entry that cannot hold it (too long, NUL...): not there
    shown = "[" + " ".join(path) + "]"
    raise CNIError(Code.INVALID_NETWORK_CONFIG,
                   f"failed to find plugin {plugin_type!r} in path {shown}",
                   f"install the {plugin_type} CNI plugin into one of these directories "
                   "(for the standard plugins: the containernetworking-plugins package), "
                   "or fix the NetworkAttachmentDefinition's \"type\"")


def resolve_in_root(root: Path, path: str) -> Path | None:
    """Where the absolute `path` of a process chrooted into `root` is, seen from here.

    Symlinks are followed as the kernel follows them after chroot(): an absolute target
    and `..` never leave `root` (a host's /opt/cni/bin/calico -> /usr/libexec/cni/calico
    must not resolve to this container's /usr/libexec). None: a symlink loop.
    """
    pending = [p for p in PurePosixPath("/", path).parts if p != "/"]
    resolved: list[str] = []
    hops = 0
    while pending:
        name = pending.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        here = root.joinpath(*resolved, name)
        if here.is_symlink():
            hops += 1
            if hops > _SYMLINK_HOPS:
                return None
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in PurePosixPath(target).parts if p != "/"] + pending
            continue
        resolved.append(name)
    return root.joinpath(*resolved)


def find_in_root(plugin_type: str, path: Sequence[str], root: Path) -> str:
    """`find_in_path` for a plugin that runs chrooted into `root`: `path` holds the
    directories as seen inside `root` (the host's CNI_PATH/binDir); returns that path."""
    _check_plugin_name(plugin_type, path)
    for directory in path:
        inside = posixpath.join("/", directory, plugin_type)
        candidate = resolve_in_root(root, inside)
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return inside
    shown = "[" + " ".join(path) + "]"
    raise CNIError(Code.INVALID_NETWORK_CONFIG,
                   f"failed to find plugin {plugin_type!r} in path {shown} under chrootDir "
                   f"{root}",
                   f"delegates that are not built in run in the host's filesystem (chrootDir "
                   f"{root}): install the {plugin_type} CNI plugin into one of these "
                   "directories on the host, or fix the NetworkAttachmentDefinition's "
                   "\"type\"")


def _chroot_command() -> str:
    import shutil

    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin:/usr/bin:/sbin:/bin"])
    found = shutil.which("chroot", path=search)
    if found is None:
        raise CNIError(Code.INTERNAL, "chrootDir is set but the chroot command is not "
                       "installed", "install coreutils (it provides chroot) where netattach "
                       "runs, or remove chrootDir from the config")
    return found


def parse_plugin_output(stdout: bytes, stderr: bytes, returncode: int, what: str) -> Any:
    """Decode a plugin's stdout; turn a failure into the CNIError it printed (libcni's rules)."""
    if returncode != 0:
        if not stdout.strip():
            if stderr.strip():
                text = stderr.decode(errors="replace")
                raise CNIError(Code.INTERNAL, f"netplugin failed: {text!r}",
                               f"{what} exited {returncode} without a JSON error on stdout")
            raise CNIError(Code.INTERNAL,
                           f"netplugin failed with no error message: exit status {returncode}",
                           f"{what} printed nothing; run it by hand to see why")
        try:
            data = json.loads(stdout)
        except ValueError as e:
            raise CNIError(Code.INTERNAL, "netplugin failed but error parsing its diagnostic "
                           f"message {stdout.decode(errors='replace')!r}: {e}",
                           f"{what} must print its error as JSON on stdout") from None
        err = CNIError.from_json(data)
        if err is None:
            raise CNIError(Code.INTERNAL, f"netplugin failed: {stdout.decode(errors='replace')!r}",
                           f"{what} exited {returncode} with a non-error JSON object")
        raise err
    if not stdout.strip():
        return None
    try:
        return json.loads(stdout)
    except ValueError as e:
        raise CNIError(Code.DECODING_FAILURE, f"{what}: cannot decode its output: {e}",
                       f"it printed {stdout[:200].decode(errors='replace')!r}") from None


@dataclass(frozen=True)
class ExecExecutor:
    """Runs plugin executables found in CNI_PATH, with a timeout and ETXTBSY retries.

    With `chroot_dir` (Multus's `chrootDir`, e.g. /hostroot where the daemon mounts the
    host's /), each plugin runs chrooted there: it is looked up in CNI_PATH as the host
    sees it and finds the host's files (/var/lib/calico/nodename, /run/flannel/subnet.env,
    its kubeconfig under /etc/cni/net.d) where it expects them.
    """

    timeout: float = DEFAULT_TIMEOUT
    base_env: Mapping[str, str] | None = None
    chroot_dir: str = ""

    def _command(self, plugin_type: str, path: Sequence[str]) -> tuple[str, list[str], str]:
        """(executable, argv, what to call it in errors) for one run of `plugin_type`."""
        if not self.chroot_dir:
            binary = find_in_path(plugin_type, path)
            return str(binary), [str(binary)], f"plugin {binary}"
        root = Path(self.chroot_dir)
        if not root.is_absolute():
            raise CNIError(Code.INVALID_NETWORK_CONFIG,
                           f"chrootDir {self.chroot_dir!r} is not an absolute path",
                           "set chrootDir to where the host's / is mounted, e.g. /hostroot")
        if not root.is_dir():
            raise CNIError(Code.INTERNAL, f"chrootDir {root} does not exist: cannot run "
                           f"plugin {plugin_type!r} in the host's filesystem",
                           f"mount the host's / at {root} (hostPath /, mountPropagation "
                           "HostToContainer; see deploy/daemonset.yaml), or remove chrootDir")
        inside = find_in_root(plugin_type, path, root)
        # Why exec chroot(8) instead of calling chroot() in the child: the daemon runs
        # requests on many threads, and subprocess's preexec_fn runs Python between fork()
        # and exec(), where a lock another thread held at fork time (the import lock,
        # logging's, malloc's) can deadlock the child; the docs warn against it with
        # threads. posix_spawn() has no chroot attribute, and chroot()ing the daemon itself
        # around each exec under a mutex (as Multus does) changes the root of every thread
        # while the plugin starts. Without preexec_fn, subprocess forks and execs in C
        # (async-signal-safe) and chroot(8) does chroot(DIR), chdir("/"), execv(PLUGIN) in
        # the new process only; the environment and stdin pass through unchanged. The cost
        # is one more exec per plugin run.
        # (argv[0] "chroot": its messages then start with "chroot: ", see _chroot_failed)
        return (_chroot_command(), ["chroot", str(root), inside],
                f"plugin {inside} (chrootDir {root})")

    def execute(self, plugin_type: str, env: Mapping[str, str],
                conf: Mapping[str, Any] | bytes, path: Sequence[str]) -> Any:
        executable, argv, what = self._command(plugin_type, path)
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
        full_env = dict(os.environ if self.base_env is None else self.base_env)
        full_env.update(env)
        for attempt in range(6):
            try:
                proc = subprocess.run(argv, executable=executable, input=stdin, env=full_env,
                                      capture_output=True, timeout=self.timeout, check=False)
            except subprocess.TimeoutExpired:
                raise CNIError(Code.TRY_AGAIN_LATER,
                               f"{what} ({env.get('CNI_COMMAND')}) timed out after "
                               f"{self.timeout:g} s", "it was killed; the runtime may retry; "
                               "look at why it hangs (a lock, an unreachable server)") from None
            except OSError as e:
                if e.errno == ETXTBSY and attempt < 5:  # the binary is being replaced
                    time.sleep(1)
                    continue
                raise CNIError(Code.INTERNAL, f"cannot execute {what}: {e.strerror}",
                               "check that the file is an executable for this machine") from None
            if self.chroot_dir and _chroot_failed(proc):
                text = proc.stderr.decode(errors="replace").strip()
                if "Text file busy" in text and attempt < 5:
                    time.sleep(1)
                    continue
                if proc.returncode == 125:
                    raise CNIError(Code.INTERNAL, f"cannot chroot into {self.chroot_dir} to "
                                   f"run {what}: {text}", "chrootDir must be the host's / as "
                                   "mounted here, and chroot needs CAP_SYS_CHROOT (the "
                                   "DaemonSet's privileged container has it)")
                raise CNIError(Code.INTERNAL, f"cannot execute {what}: {text}",
                               "check on the host that the file is an executable for this "
                               "machine and that its interpreter and libraries exist there")
            return parse_plugin_output(proc.stdout, proc.stderr, proc.returncode, what)
        raise AssertionError("unreachable")  # pragma: no cover


def _chroot_failed(proc: subprocess.CompletedProcess[bytes]) -> bool:
    """chroot(8) itself failed (not the plugin): its exit codes, its name on stderr."""
    return (proc.returncode in _CHROOT_FAILURES and not proc.stdout.strip()
            and proc.stderr.startswith(b"chroot: "))


def _describe(plugin: Mapping[str, Any]) -> str:
    return f"type={plugin.get('type', '')!r} name={plugin.get('name', '')!r}".replace("'", '"')


def _wrap(err: CNIError, prefix: str) -> CNIError:
    return CNIError(err.code, f"{prefix}: {err.msg}", err.details)


@dataclass(frozen=True)
class Invoker:
    """Drives a conflist against one attachment as libcni does; caches results under `cache`."""

    path: tuple[str, ...]
    executor: Executor = field(default_factory=ExecExecutor)
    cache: ResultCache = field(default_factory=ResultCache)

    # -- building one plugin's stdin ------------------------------------------------------
    @staticmethod
    def build_config(plugin: Mapping[str, Any], name: str, cni_version: str,
                     prev_result: Result | None, rt: RuntimeConf) -> dict[str, Any]:
        """The stdin for one plugin: name/cniVersion injected, prevResult, runtimeConfig."""
        conf = dict(plugin)
        conf["name"] = name
        conf["cniVersion"] = cni_version
        if prev_result is not None:
            conf["prevResult"] = prev_result.to_json()
        runtime = {cap: rt.capability_args[cap]
                   for cap, enabled in (plugin.get("capabilities") or {}).items()
                   if enabled is True and cap in rt.capability_args}
        if runtime:
            conf["runtimeConfig"] = runtime
        return conf

    def _env(self, command: Command, rt: RuntimeConf | None) -> dict[str, str]:
        return {
            "CNI_COMMAND": command.value,
            "CNI_CONTAINERID": rt.container_id if rt else "",
            "CNI_NETNS": rt.netns if rt else "",
            "CNI_ARGS": rt.args_string if rt else "",
            "CNI_IFNAME": rt.ifname if rt else "",
            "CNI_PATH": os.pathsep.join(self.path),
        }

    def _run(self, plugin: Mapping[str, Any], command: Command, conf: Mapping[str, Any],
             rt: RuntimeConf | None) -> Any:
        return self.executor.execute(str(plugin.get("type", "")), self._env(command, rt), conf,
                                     self.path)

    # -- verbs ---------------------------------------------------------------------------
    def add(self, conflist: NetConfList, rt: RuntimeConf) -> Result:
        """ADD every plugin in order, passing each result on as prevResult; cache the last."""
        validate_container_id(rt.container_id)
        validate_network_name(conflist.name)
        validate_ifname(rt.ifname)
        result: Result | None = None
        for plugin in conflist.plugins:
            stdin = self.build_config(plugin, conflist.name, conflist.cni_version, result, rt)
            try:
                out = self._run(plugin, Command.ADD, stdin, rt)
                if out is None:
                    raise CNIError(Code.DECODING_FAILURE, "plugin printed no result",
                                   "an ADD must print its result as JSON on stdout")
                if isinstance(out, Result):  # a built-in, run in process
                    result = out
                    continue
                if isinstance(out, dict) and not out.get("cniVersion"):
                    out = {**out, "cniVersion": conflist.cni_version}
                result = Result.from_json(out)
            except CNIError as err:
                if len(conflist.plugins) == 1:
                    raise
                raise _wrap(err, f"plugin {_describe(plugin)} failed (add)") from None
        assert result is not None
        self.cache.write(CachedAttachment(
            network_name=conflist.name, container_id=rt.container_id, ifname=rt.ifname,
            config=conflist.source, netns=rt.netns, cni_args=rt.args,
            capability_args=dict(rt.capability_args),
            result=result.to_json()))
        return result

    def cached_result(self, conflist: NetConfList, rt: RuntimeConf) -> Result | None:
        entry = self.cache.read(conflist.name, rt.container_id, rt.ifname)
        if entry is None or entry.result is None:
            return None
        try:
            return Result.from_json(entry.result).convert(conflist.cni_version)
        except CNIError:
            return None

    def delete(self, conflist: NetConfList, rt: RuntimeConf) -> None:
        """DEL every plugin in reverse, with the cached result as prevResult (0.4.0+)."""
        prev = None
        if versions.at_least(conflist.cni_version, "0.4.0"):
            prev = self.cached_result(conflist, rt)
            if prev is None:
                self.cache.delete(conflist.name, rt.container_id, rt.ifname)
        for plugin in reversed(conflist.plugins):
            stdin = self.build_config(plugin, conflist.name, conflist.cni_version, prev, rt)
            try:
                self._run(plugin, Command.DEL, stdin, rt)
            except CNIError as err:
                if len(conflist.plugins) == 1:
                    raise
                raise _wrap(err, f"plugin {_describe(plugin)} failed (delete)") from None
        self.cache.delete(conflist.name, rt.container_id, rt.ifname)

    def check(self, conflist: NetConfList, rt: RuntimeConf) -> None:
        """CHECK every plugin against the cached ADD result (0.4.0+; skipped by disableCheck)."""
        if not versions.at_least(conflist.cni_version, "0.4.0"):
            raise CNIError(Code.INCOMPATIBLE_VERSION,
                           f"configuration version {conflist.cni_version!r} does not support the "
                           "CHECK command", "use cniVersion 0.4.0 or later")
        if conflist.disable_check:
            return
        prev = self.cached_result(conflist, rt)
        if prev is None:
            raise CNIError(Code.INTERNAL,
                           f"failed to get network {conflist.name!r} cached result",
                           f"no cached ADD result for container {rt.container_id} "
                           f"interface {rt.ifname}; was it added through this runtime?")
        for plugin in conflist.plugins:
            stdin = self.build_config(plugin, conflist.name, conflist.cni_version, prev, rt)
            self._run(plugin, Command.CHECK, stdin, rt)

    def gc(self, conflist: NetConfList,
           valid_attachments: Sequence[tuple[str, str]] | None) -> None:
        """DEL cached attachments not in `valid_attachments` (and the temporary files of
        killed cache writes), then send GC to every plugin."""
        if conflist.disable_gc:
            return
        valid = set(valid_attachments or ())
        errors: list[str] = []
        self.cache.remove_stale_temp_files(conflist.name)
        for entry in list(self.cache.entries(conflist.name)):
            if (entry.container_id, entry.ifname) in valid:
                continue
            rt = RuntimeConf(entry.container_id, entry.netns, entry.ifname, entry.cni_args,
                             entry.capability_args)
            try:
                self.delete(conflist, rt)
            except CNIError as err:
                errors.append(f"failed to delete stale attachment {rt.container_id} "
                              f"{rt.ifname}: {err}")
        if versions.at_least(conflist.cni_version, "1.1.0"):
            listed = [{"containerID": c, "ifname": i} for c, i in valid_attachments or ()]
            for plugin in conflist.plugins:
                conf = {**plugin, "name": conflist.name, "cniVersion": conflist.cni_version}
                if valid_attachments is not None:
                    conf["cni.dev/valid-attachments"] = listed
                    conf["cni.dev/attachments"] = listed
                try:
                    self._run(plugin, Command.GC, conf, None)
                except CNIError as err:
                    errors.append(f"plugin {_describe(plugin)} failed (gc): {err}")
        if errors:
            raise CNIError(Code.INTERNAL, f"GC of network {conflist.name!r} failed",
                           "; ".join(errors))

    def status(self, conflist: NetConfList) -> None:
        """STATUS of every plugin; the first failure is returned (1.1.0+ only)."""
        if not versions.at_least(conflist.cni_version, "1.1.0"):
            return
        for plugin in conflist.plugins:
            conf = {**plugin, "name": conflist.name, "cniVersion": conflist.cni_version}
            self._run(plugin, Command.STATUS, conf, None)
