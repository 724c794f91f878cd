"""The plugin skeleton: env + stdin in, one verb dispatched, the answer printed for the runtime.

A plugin is an object with add/delete/check/gc/status methods taking a `Request`.
`dispatch` applies the spec's version rules and is shared by the executable entry point
(`main`) and in-process callers (the meta plugin and the node daemon).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

from . import version as versions
from .config import loads_object
from .errors import CNIError, Code
from .request import Command, Request, parse_command, request_from_conf, request_from_env
from .types import Result


class Plugin(Protocol):
    """What a CNI plugin implements. DEL, CHECK, GC and STATUS return None on success."""

    type_name: str
    supported_versions: tuple[str, ...]

    def add(self, request: Request) -> Result: ...
    def delete(self, request: Request) -> None: ...
    def check(self, request: Request) -> None: ...
    def gc(self, request: Request) -> None: ...
    def status(self, request: Request) -> None: ...


class BasePlugin:
    """Defaults for plugins: every spec version; GC and STATUS succeed unless overridden."""

    type_name = "base"
    supported_versions: tuple[str, ...] = versions.ALL

    def add(self, request: Request) -> Result:  # pragma: no cover - always overridden
        raise NotImplementedError

    def delete(self, request: Request) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def check(self, request: Request) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def gc(self, request: Request) -> None:
        return None

    def status(self, request: Request) -> None:
        return None


def version_info(plugin: Plugin) -> dict[str, object]:
    return {"cniVersion": versions.CURRENT, "supportedVersions": list(plugin.supported_versions)}


def _check_version(plugin: Plugin, command: Command, config_version: str) -> None:
    """The version gate of libcni's skel (exact match, plus minimums for CHECK/GC/STATUS)."""
    minimum = {Command.CHECK: "0.4.0", Command.GC: "1.1.0", Command.STATUS: "1.1.0"}.get(command)
    if minimum is not None:
        if not versions.at_least(config_version, minimum):
            raise CNIError(Code.INCOMPATIBLE_VERSION,
                           f"config version does not allow {command.value}",
                           f"{command.value} needs cniVersion {minimum} or later; the config "
                           f"says {config_version}")
        if not any(versions.at_least(v, config_version) for v in plugin.supported_versions):
            raise CNIError(Code.INCOMPATIBLE_VERSION,
                           f"plugin version does not allow {command.value}",
                           f"{plugin.type_name} supports {', '.join(plugin.supported_versions)}")
    if config_version not in plugin.supported_versions:
        raise CNIError(Code.INCOMPATIBLE_VERSION, "incompatible CNI versions",
                       f"config is \"{config_version}\", plugin supports "
                       f"{versions.go_quote_list(plugin.supported_versions)}")


def is_own_netns(netns_path: str) -> bool:
    """True when CNI_NETNS names the namespace this thread is in (skel's code 8 check)."""
    if not netns_path:
        return False
    try:
        target = os.stat(netns_path)
        own = os.stat("/proc/thread-self/ns/net")
    except OSError:
        return False  # an unopenable path is not this check's business (as in libcni)
    return (target.st_dev, target.st_ino) == (own.st_dev, own.st_ino)


def dispatch(plugin: Plugin, request: Request, env: Mapping[str, str] | None = None
             ) -> Result | None:
    """Run one verb of `plugin` after the spec's checks; return the ADD result, else None."""
    command = request.command
    if command is Command.VERSION:
        return None
    # No parse here: like libcni, an unparsable version is "incompatible" (code 1) for
    # ADD/DEL and a decoding failure (code 6) only where a minimum is compared.
    _check_version(plugin, command, request.config.cni_version)
    env = os.environ if env is None else env
    if command in (Command.ADD, Command.DEL):
        override = env.get("CNI_NETNS_OVERRIDE", "").upper() in ("TRUE", "1")
        if not override and is_own_netns(request.netns):
            raise CNIError(Code.INVALID_NETNS,
                           "plugin's netns and netns from CNI_NETNS should not be the same",
                           f"CNI_NETNS={request.netns} is the namespace the plugin runs in; "
                           "pass the container's namespace")
    handler: Callable[[Request], Result | None] = {
        Command.ADD: plugin.add, Command.DEL: plugin.delete, Command.CHECK: plugin.check,
        Command.GC: plugin.gc, Command.STATUS: plugin.status,
    }[command]
    result = handler(request)
    if command is Command.ADD and not isinstance(result, Result):
        raise CNIError(Code.INTERNAL, f"{plugin.type_name}: ADD returned no result",
                       "this is a bug in the plugin")
    return result


@dataclass(frozen=True)
class Reply:
    """What one CNI call answers, transport aside: the exit code and the JSON printed.

    `error` is set when the call failed (`body` is then its error object)."""

    exit_code: int
    body: dict[str, Any] | None = None
    error: CNIError | None = None

    def text(self) -> str:
        return "" if self.body is None else json.dumps(self.body, indent=4)


class Bug(CNIError):
    """An exception no code path expected: code 999, said to be a bug."""

    def __init__(self, plugin_type: str, exc: BaseException) -> None:
        super().__init__(Code.INTERNAL, f"{plugin_type}: {exc}",
                         f"unexpected {type(exc).__name__}; this is a bug, please report it")


def serve(plugin: Plugin, env: Mapping[str, str], stdin: bytes,
          adjust: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Reply:
    """The core of every transport: (env, stdin) in, the Reply out; never raises.

    `adjust`, if given, rewrites the decoded config object before it is parsed (the node
    daemon writes its own keys over the shim's config there). Unexpected exceptions become
    code 999, so a runtime always gets a JSON error, never a traceback.
    """
    config_version = ""
    try:
        command = parse_command(env)
        if command is Command.VERSION:
            return Reply(0, version_info(plugin))
        if adjust is None:
            request = request_from_env(env, stdin)
        else:
            request = request_from_conf(env, adjust(loads_object(stdin)))
        config_version = request.config.cni_version
        result = dispatch(plugin, request, env)
        return Reply(0, None if result is None else result.to_json(config_version))
    except CNIError as err:
        return Reply(1, err.to_json(config_version), err)
    except Exception as exc:  # noqa: BLE001 - the runtime must get JSON, never a traceback
        err = Bug(plugin.type_name, exc)
        return Reply(1, err.to_json(config_version), err)


def run(plugin: Plugin, env: Mapping[str, str], stdin: IO[bytes], stdout: IO[str],
        stderr: IO[str], about: str = "") -> int:
    """Serve one CNI call on stdio: print the result or the error JSON; the exit code."""
    if not env.get("CNI_COMMAND"):
        print(about or f"CNI {plugin.type_name} plugin (netattach)", file=stderr)
        print(f"CNI protocol versions supported: {', '.join(plugin.supported_versions)}",
              file=stderr)
        return 0
    reply = serve(plugin, env, b"" if env.get("CNI_COMMAND") == "VERSION" else stdin.read())
    if reply.body is not None:
        compact = reply.error is None and env.get("CNI_COMMAND") == "VERSION"
        print(json.dumps(reply.body) if compact else reply.text(), file=stdout)
    return reply.exit_code


def main(plugin: Plugin, about: str = "") -> int:
    """Entry point of a plugin executable."""
    return run(plugin, os.environ, sys.stdin.buffer, sys.stdout, sys.stderr, about)
