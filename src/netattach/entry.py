"""Entry point of the CNI executables that `netattach install-bin` writes."""

from __future__ import annotations

import sys


def run_plugin(type_name: str) -> int:
    """Serve one CNI call for the built-in plugin `type_name` (env + stdin -> stdout)."""
    from netattach.builtins import load_plugin
    from netattach.cni.skel import main

    return main(load_plugin(type_name), about=f"CNI {type_name} plugin (netattach)")


if __name__ == "__main__":  # python -m netattach.entry TYPE
    sys.exit(run_plugin(sys.argv[1]))
