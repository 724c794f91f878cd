"""IPAM delegation (the reference's pkg/ipam ExecAdd/ExecDel): the config's IPAM plugin run
with the whole config on stdin, in process when it is built in, else from CNI_PATH."""

from __future__ import annotations

from netattach.builtins import is_interface_plugin, run_plugin
from netattach.cni.errors import CNIError, Code, plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.types import Result


def run_ipam(request: Request, command: Command) -> Result | None:
    """Run the IPAM plugin for `command`; its result for ADD, None otherwise."""
    ipam_type = request.config.ipam_type
    if not ipam_type:
        raise plugin_error("failed to execute IPAM delegate: no IPAM type",
                           f'network {request.config.name!r} needs "ipam": {{"type": ...}}')
    if is_interface_plugin(ipam_type):
        if command is not Command.ADD:
            return None  # ADD refused it: nothing was allocated, nothing to release or check
        raise CNIError(Code.INVALID_NETWORK_CONFIG,
                       f"network {request.config.name!r}: \"ipam\" type {ipam_type!r} is an "
                       "interface plugin, not an IPAM plugin",
                       'set "ipam": {"type": ...} to an IPAM plugin such as host-local or '
                       "static")
    result = run_plugin(ipam_type, request, command)
    if command is Command.ADD and result is None:
        raise plugin_error("IPAM plugin returned missing IP config",
                           f"the {ipam_type} plugin printed nothing on ADD")
    return result


def ipam_add(request: Request) -> Result:
    """IPAM ADD; an IPAM without any IP is an error (the reference's "missing IP config")."""
    result = run_ipam(request, Command.ADD)
    assert result is not None
    if not result.ips:
        raise plugin_error("IPAM plugin returned missing IP config",
                           f"the {request.config.ipam_type} plugin allocated no address for "
                           f"network {request.config.name!r}; check its configuration")
    return result


def ipam_del(request: Request) -> None:
    run_ipam(request, Command.DEL)


def ipam_status(request: Request) -> None:
    """STATUS of a plugin with an IPAM delegate: the delegate's STATUS (none: ready)."""
    if request.config.ipam_type:
        run_ipam(request, Command.STATUS)


def ipam_gc(request: Request) -> None:
    """GC of a plugin with an IPAM delegate: forward it (the spec says delegating plugins
    must; the reference plugins do not, so host-local allocations of vanished pods leak)."""
    if request.config.ipam_type:
        run_ipam(request, Command.GC)
