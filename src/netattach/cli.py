"""The `netattach` command. Each subcommand imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_install_bin(args: argparse.Namespace) -> int:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.install import SHIM_NAME, install_bin

    unknown = [t for t in args.types or () if t not in BUILTIN_PLUGINS and t != SHIM_NAME]
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


def _cmd_daemon(args: argparse.Namespace) -> int:
    from netattach.daemon import DaemonConfig, DaemonConfigError, run

    flags = {k: getattr(args, k) for k in (
        "socket_dir", "node_name", "metrics_address", "cni_config_dir", "cni_bin_dir",
        "kubeconfig", "cni_dir", "conf_dir", "bin_dir", "log_format", "log_level",
        "readiness_indicator_file", "max_in_flight", "max_queued")}
    try:
        cfg = DaemonConfig.load(args.config, flags)
    except DaemonConfigError as e:
        print(f"netattach daemon: {e}", file=sys.stderr)
        return 2
    return run(cfg)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from netattach.sandbox.cli import main as sandbox_main

    return sandbox_main(args.rest)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from netattach.doctor.main import DoctorOptions, run_doctor
    from netattach.doctor.sources import default_kubeconfig

    kubeconfig = args.kubeconfig or ("" if args.files else default_kubeconfig())
    return run_doctor(DoctorOptions(
        files=tuple(args.files or ()), kubeconfig=kubeconfig, namespace=args.namespace or "",
        root=args.root, cni_bin_dirs=tuple(args.cni_bin_dirs or ("/opt/cni/bin",)),
        node_name=args.node_name or "", output=args.output))


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

    p = sub.add_parser("daemon", help="thick mode: serve CNI requests from netattach-shim "
                       "on a unix socket (see docs/thick-mode.md)")
    p.add_argument("--config", help="daemon config file (JSON); flags override its keys")
    p.add_argument("--socket-dir", help="directory of netattach.sock (default /run/netattach)")
    p.add_argument("--node-name", help="this node's name (default: $NODE_NAME)")
    p.add_argument("--metrics-address", help="also serve /metrics on HOST:PORT over TCP")
    p.add_argument("--cni-config-dir", help="generate 00-netattach.conflist here")
    p.add_argument("--cni-bin-dir", help="install netattach-shim here at startup")
    p.add_argument("--kubeconfig", help="kubeconfig of the API server (overrides the CNI "
                   "config's)")
    p.add_argument("--cni-dir", help="cniDir: delegate and result caches")
    p.add_argument("--conf-dir", help="confDir: CNI configs of NADs without spec.config")
    p.add_argument("--bin-dir", help="binDir: searched for delegate plugins before CNI_PATH")
    p.add_argument("--readiness-indicator-file", help="the default network's readiness file")
    p.add_argument("--max-in-flight", type=int, help="CNI requests run in parallel (32)")
    p.add_argument("--max-queued", type=int, help="CNI requests waiting; beyond: code 11 (256)")
    p.add_argument("--log-format", choices=("text", "json"))
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_cmd_daemon)

    p = sub.add_parser("sandbox", help="try multi-network pods on this machine, no cluster",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_sandbox)

    p = sub.add_parser("doctor", help="find what will break pod networking on this node, "
                       "with evidence and a fix (changes nothing; see docs/doctor.md)")
    p.add_argument("-f", "--filename", dest="files", action="append",
                   help="NAD/Pod YAML file or directory (repeatable)")
    p.add_argument("--kubeconfig", help="read NADs and pods from this API server "
                   "(default: $KUBECONFIG when no -f is given)")
    p.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    p.add_argument("--root", default="/", help="read host network config under this dir")
    p.add_argument("--cni-bin-dir", dest="cni_bin_dirs", action="append",
                   help="CNI plugin directory (repeatable; default /opt/cni/bin)")
    p.add_argument("--node-name", help="this node's name: only its pods count")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
