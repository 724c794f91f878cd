"""The `netattach` command. Each subcommand imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_install_bin(args: argparse.Namespace) -> int:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.install import install_bin

    unknown = [t for t in args.types or () if t not in BUILTIN_PLUGINS]
    if unknown:
        print(f"netattach install-bin: unknown plugin type(s) {', '.join(unknown)}; "
              f"built-in types are {', '.join(sorted(BUILTIN_PLUGINS))}", file=sys.stderr)
        return 2
    try:
        written = install_bin(Path(args.directory), args.types or None)
    except OSError as e:
        print(f"netattach install-bin: cannot write into {args.directory}: {e.strerror}; "
              "check that the directory is writable (it usually needs root)", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _cmd_plugin(args: argparse.Namespace) -> int:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.entry import run_plugin

    if args.type not in BUILTIN_PLUGINS:
        print(f"netattach plugin: unknown plugin type {args.type!r}; built-in types are "
              f"{', '.join(sorted(BUILTIN_PLUGINS))}", file=sys.stderr)
        return 2
    return run_plugin(args.type)


def _cmd_version(args: argparse.Namespace) -> int:
    import netattach
    from netattach.cni import version

    print(f"netattach {netattach.__version__} (CNI spec {version.CURRENT}; supports "
          f"{', '.join(version.ALL)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netattach",
        description="Multus-compatible multi-network attachment for Kubernetes pods.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("install-bin", help="write one CNI executable per built-in plugin type")
    p.add_argument("directory", help="the CNI bin directory, e.g. /opt/cni/bin")
    p.add_argument("--type", dest="types", action="append",
                   help="only this plugin type (repeatable)")
    p.set_defaults(func=_cmd_install_bin)

    p = sub.add_parser("plugin", help="run a built-in plugin as a CNI executable (env + stdin)")
    p.add_argument("type", help="plugin type, e.g. static")
    p.set_defaults(func=_cmd_plugin)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
