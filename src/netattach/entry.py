"""Entry point of the CNI executables that `netattach install-bin` writes.

The cheap calls are answered before the plugin (and anything third-party) is imported: a
runtime calls VERSION often, and containerd calls DEL twice per sandbox (the second time
with an empty netns, after the first removed the delegate cache). Every other call goes
through the plugin skeleton (`netattach.cni.skel`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping

DEFAULT_CNI_DIR = "/var/lib/cni/multus"  # attach.delegate_cache's, not imported: cheap path


def run_plugin(type_name: str) -> int:
    """Serve one CNI call for the built-in plugin `type_name` (env + stdin -> stdout)."""
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        from netattach.cni.version import ALL, CURRENT  # every built-in speaks them all

        quoted = ", ".join(f'"{v}"' for v in ALL)
        sys.stdout.write(f'{{"cniVersion": "{CURRENT}", "supportedVersions": [{quoted}]}}\n')
        return 0
    stdin = sys.stdin.buffer.read() if command else b""
    if type_name == "netattach" and command == "DEL" and nothing_to_delete(os.environ, stdin):
        return 0
    from netattach.builtins import load_plugin
    from netattach.cni.skel import run

    return run(load_plugin(type_name), os.environ, io.BytesIO(stdin), sys.stdout, sys.stderr,
               about=f"CNI {type_name} plugin (netattach)")


def nothing_to_delete(env: Mapping[str, str], stdin: bytes) -> bool:
    """A meta-plugin DEL with no delegate cache and no netns (empty or gone): nothing of the
    sandbox is left in a pod, and nothing recorded says what else to delete. The same rule
    as MetaPlugin.delete's, answered here before any import. (With a netns and no cache,
    the full DEL recomputes the plan from the API, as Multus does.)"""
    netns = env.get("CNI_NETNS", "")
    if netns and os.path.exists(netns):
        return False
    container = env.get("CNI_CONTAINERID", "")
    if not container or "/" in container or container.startswith("."):
        return False  # the skeleton reports it properly
    import json

    try:
        conf = json.loads(stdin)
    except (ValueError, RecursionError):
        return False
    cni_dir = conf.get("cniDir") if isinstance(conf, dict) else None
    if not isinstance(cni_dir, str) or not cni_dir:
        cni_dir = DEFAULT_CNI_DIR
    return not os.path.lexists(os.path.join(cni_dir, container))


if __name__ == "__main__":  # python -m netattach.entry TYPE
    sys.exit(run_plugin(sys.argv[1]))
