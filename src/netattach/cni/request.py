"""A CNI request: the runtime's environment and stdin, parsed into one typed object."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .args import CniArgs
from .config import (
    NetConf,
    loads_object,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from .errors import CNIError, Code


class Command(StrEnum):
    ADD = "ADD"
    DEL = "DEL"
    CHECK = "CHECK"
    GC = "GC"
    STATUS = "STATUS"
    VERSION = "VERSION"


# Which variables each verb needs (libcni's skel), CNI_PATH excepted: the spec makes it
# optional and a plugin only needs it to delegate.
_REQUIRED: Mapping[Command, tuple[str, ...]] = {
    Command.ADD: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    Command.CHECK: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    Command.DEL: ("CNI_CONTAINERID", "CNI_IFNAME"),
    Command.GC: (),
    Command.STATUS: (),
    Command.VERSION: (),
}


@dataclass(frozen=True)
class Request:
    """One CNI call. `config` is the parsed stdin; `path` is CNI_PATH split on ':'.

    `stdin` holds the bytes the runtime sent, when there were bytes: a request built in
    process from a config object (`request_from_conf`) has none until `stdin_bytes()`.
    """

    command: Command
    config: NetConf
    stdin: bytes = b""
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: CniArgs = CniArgs()
    path: tuple[str, ...] = ()
    # where plugins this one execs run (a chroot, Multus's chrootDir); "": this filesystem.
    # Not from the runtime: the meta plugin sets it for the built-ins it runs in process.
    exec_root: str = ""

    def stdin_bytes(self) -> bytes:
        """The config as bytes, for exec'ing a plugin (the runtime's own bytes if any)."""
        return self.stdin or json.dumps(dict(self.config.raw)).encode()

    def env(self) -> dict[str, str]:
        """The CNI_* variables that describe this request (for delegating to an executable)."""
        return {
            "CNI_COMMAND": self.command.value,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": self.args.raw,
            "CNI_PATH": os.pathsep.join(self.path),
        }

    def with_command(self, command: Command) -> Request:
        return replace(self, command=command)

    @property
    def pod_ref(self) -> str:
        """`ns/name` of the pod from CNI_ARGS, or the container id when there is none."""
        ns, name = self.args.pod_namespace, self.args.pod_name
        return f"{ns}/{name}" if ns and name else f"container {self.container_id[:12]}"


def parse_command(env: Mapping[str, str]) -> Command:
    """CNI_COMMAND as a Command; code 4 when missing or unknown."""
    value = env.get("CNI_COMMAND", "")
    try:
        return Command(value)
    except ValueError:
        if not value:
            raise CNIError(Code.INVALID_ENVIRONMENT, "required env variables [CNI_COMMAND] missing",
                           "set CNI_COMMAND to ADD, DEL, CHECK, GC, STATUS or VERSION") from None
        raise CNIError(Code.INVALID_ENVIRONMENT, f"unknown CNI_COMMAND: {value}",
                       "CNI_COMMAND is one of ADD, DEL, CHECK, GC, STATUS, VERSION") from None


def request_from_env(env: Mapping[str, str], stdin: bytes) -> Request:
    """Validate env + stdin as libcni's skel does and build the Request.

    Raises CNIError: 4 for missing/invalid variables, 6 for undecodable stdin, 7 for a bad
    network name, 3 for a missing container id.
    """
    command = _checked_command(env)
    if command is Command.VERSION:
        return Request(command=command, config=NetConf(cni_version="", name="", type=""))
    return _build(command, env, loads_object(stdin), bytes(stdin))


def request_from_conf(env: Mapping[str, str], conf: Mapping[str, Any],
                      exec_root: str = "") -> Request:
    """The same Request from a config object already in memory (no JSON round trip): how
    the meta plugin hands a delegate to a built-in plugin in process."""
    command = _checked_command(env)
    if command is Command.VERSION:
        return Request(command=command, config=NetConf(cni_version="", name="", type=""))
    request = _build(command, env, conf, b"")
    return replace(request, exec_root=exec_root) if exec_root else request


_CNI_VARS = ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")


def _checked_command(env: Mapping[str, str]) -> Command:
    command = parse_command(env)
    missing = [k for k in _REQUIRED[command] if not env.get(k)]
    if missing:
        raise CNIError(Code.INVALID_ENVIRONMENT,
                       f"required env variables [{','.join(missing)}] missing",
                       f"the runtime must set {', '.join(missing)} for {command.value}")
    for key in _CNI_VARS:  # os.environ keeps undecodable bytes as surrogates
        try:
            env.get(key, "").encode()
        except UnicodeEncodeError:
            raise CNIError(Code.INVALID_ENVIRONMENT, f"{key} is not valid UTF-8",
                           f"the runtime passed {key}={env.get(key, '')!a}; CNI variables "
                           "are UTF-8 text") from None
    return command


def _build(command: Command, env: Mapping[str, str], raw: Mapping[str, Any],
           stdin: bytes) -> Request:
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise CNIError(Code.DECODING_FAILURE,
                       "error unmarshall network config: name is not a string",
                       f'"name" must be a string, got {name!r}')
    validate_network_name(name)
    container_id = env.get("CNI_CONTAINERID", "")
    ifname = env.get("CNI_IFNAME", "")
    if container_id or "CNI_CONTAINERID" in _REQUIRED[command]:
        validate_container_id(container_id)
    if ifname or "CNI_IFNAME" in _REQUIRED[command]:
        validate_ifname(ifname)
    cni_path = env.get("CNI_PATH", "")
    return Request(
        command=command,
        config=NetConf.from_json(raw),
        stdin=stdin,
        container_id=container_id,
        netns=env.get("CNI_NETNS", ""),
        ifname=ifname,
        args=CniArgs.parse(env.get("CNI_ARGS")),
        path=tuple(p for p in cni_path.split(os.pathsep) if p),
    )
