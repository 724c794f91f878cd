"""The `netattach` command. Each subcommand imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netattach.node.install import NodePaths, Outcome


def _cmd_install_bin(args: argparse.Namespace) -> int:
    from netattach.builtins import BUILTIN_PLUGINS
    from netattach.node.binaries import SHIM_NAME, install_bin

    unknown = [t for t in args.types or () if t not in BUILTIN_PLUGINS and t != SHIM_NAME]
    if unknown:
        print(f"netattach install-bin: unknown plugin type(s) {', '.join(unknown)}; "
              f"built-in types are {', '.join(sorted(BUILTIN_PLUGINS))}", file=sys.stderr)
        return 2
    from netattach.node.binaries import Runtime

    runtime = (Runtime.at_prefix(args.prefix, args.python) if args.prefix
               else Runtime(args.python, Runtime.current().paths) if args.python else None)
    try:
        written = install_bin(Path(args.directory), args.types or None, runtime)
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
    import importlib.util

    if importlib.util.find_spec("prometheus_client") is None:
        print("netattach daemon: the daemon's dependencies are not installed; install "
              "netattach with its daemon extra: pip install 'netattach[daemon]'",
              file=sys.stderr)
        return 2
    from netattach.daemon.config import DaemonConfig, DaemonConfigError
    from netattach.daemon.main import run

    flags = {k: getattr(args, k) for k in (
        "socket_dir", "node_name", "metrics_address", "cni_config_dir", "cni_bin_dir",
        "kubeconfig", "cni_dir", "conf_dir", "bin_dir", "log_format", "log_level",
        "readiness_indicator_file", "max_in_flight", "max_queued", "workers")}
    try:
        cfg = DaemonConfig.load(args.config, flags)
    except DaemonConfigError as e:
        print(f"netattach daemon: {e}", file=sys.stderr)
        return 2
    return run(cfg)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from netattach.doctor.main import DoctorOptions, run_doctor
    from netattach.doctor.sources import default_kubeconfig

    kubeconfig = args.kubeconfig or ("" if args.files else default_kubeconfig())
    return run_doctor(DoctorOptions(
        files=tuple(args.files or ()), kubeconfig=kubeconfig, namespace=args.namespace or "",
        root=args.root, cni_bin_dirs=tuple(args.cni_bin_dirs or ("/opt/cni/bin",)),
        node_name=args.node_name or "", output=args.output, cni_dir=args.cni_dir))


def _cmd_explain(args: argparse.Namespace) -> int:
    from netattach.explain import ExplainOptions, run_explain

    return run_explain(ExplainOptions(
        pod=args.pod, namespace=args.namespace or "", kubeconfig=args.kubeconfig or "",
        use_api=not args.no_api, config=args.config or "", cni_dir=args.cni_dir or "",
        conf_dir=args.conf_dir or "", output=args.output))


def _node_paths(args: argparse.Namespace) -> NodePaths:
    from netattach.node.install import NodePaths

    return NodePaths(root=Path(args.root), cni_bin_dir=args.cni_bin_dir,
                     cni_conf_dir=args.cni_conf_dir, state_dir=args.state_dir,
                     runtime_dir=args.runtime_dir)


def _report(command: str, outcome: Outcome) -> None:
    for line in outcome.changes:
        print(line)
    for line in outcome.warnings:
        print(f"netattach {command}: note: {line}", file=sys.stderr)


def _cmd_install(args: argparse.Namespace) -> int:
    from netattach.node.install import InstallOptions, NodeInstallError, install

    opts = InstallOptions(paths=_node_paths(args), mode=args.mode,
                          kubeconfig=args.kubeconfig or "", plugins=tuple(args.plugins or ()),
                          runtime=Path(args.runtime) if args.runtime else None)
    try:
        outcome = install(opts)
    except (NodeInstallError, OSError) as e:
        print(f"netattach install: {e}", file=sys.stderr)
        return 1
    _report("install", outcome)
    if not outcome.changes:
        print("netattach install: already installed, nothing changed")
    return 0


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from netattach.node.install import NodeInstallError, uninstall

    try:
        outcome = uninstall(_node_paths(args), force=args.force)
    except (NodeInstallError, OSError) as e:
        print(f"netattach uninstall: {e}", file=sys.stderr)
        return 1
    _report("uninstall", outcome)
    return 0


def _node_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default="/", help="the node's root file system (default /; "
                   "/host in a pod with the host mounted there)")
    p.add_argument("--cni-bin-dir", default="/opt/cni/bin", help="default /opt/cni/bin")
    p.add_argument("--cni-conf-dir", default="/etc/cni/net.d", help="default /etc/cni/net.d")
    p.add_argument("--state-dir", default="/var/lib/netattach",
                   help="where install records what it changed (default /var/lib/netattach)")
    p.add_argument("--runtime-dir", default="/opt/netattach",
                   help="where runtime bundles go (default /opt/netattach)")


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
    p.add_argument("--prefix", help="the executables run the self-contained runtime at this "
                   "path on the host (PREFIX/bin/python3, PREFIX/lib/python3.X/site-packages), "
                   "e.g. /opt/netattach/0.1.0; see docs/install.md")
    p.add_argument("--python", help="interpreter path written into the executables' #! line "
                   "(default: PREFIX/bin/python3, else this interpreter)")
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
    p.add_argument("--workers", type=int, help="worker processes that run the requests "
                   "(default -1: one per CPU; 0: none, all in the daemon process)")
    p.add_argument("--log-format", choices=("text", "json"))
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_cmd_daemon)

    # listed for --help; `main` hands `sandbox ...` to netattach.sandbox.cli before parsing
    sub.add_parser("sandbox", help="try multi-network pods on this machine, no cluster "
                   "(netattach sandbox --help)", add_help=False)

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
    p.add_argument("--cni-dir", default="/var/lib/cni/multus",
                   help="the meta plugin's cniDir: delegate caches of this node's pods "
                   "(default /var/lib/cni/multus)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("explain", help="replay what netattach does for one pod and compare "
                       "it with what is there: NADs, caches, the pod's netns, the node, "
                       "network-status (changes nothing; see docs/doctor.md)")
    p.add_argument("pod", metavar="POD", help="NAME or NAMESPACE/NAME")
    p.add_argument("-n", "--namespace", help="the pod's namespace (default: default)")
    p.add_argument("--kubeconfig", help="read the pod and its NADs from this API server "
                   "(default: $KUBECONFIG, else the netattach config's kubeconfig)")
    p.add_argument("--no-api", action="store_true", help="cache-only: do not ask the API "
                   "server; explain from what this node's caches recorded")
    p.add_argument("--config", help="the meta plugin's CNI config (e.g. "
                   "/etc/cni/net.d/00-netattach.conflist): cniDir, confDir, clusterNetwork")
    p.add_argument("--cni-dir", help="the meta plugin's cniDir: delegate and result caches "
                   "(default: the config's, else /var/lib/cni/multus)")
    p.add_argument("--conf-dir", help="the meta plugin's confDir (default: the config's, "
                   "else /etc/cni/multus/net.d)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("install", help="install netattach on this node without a DaemonSet "
                       "(thin mode), or the executables for the DaemonSet (see docs/install.md)")
    _node_flags(p)
    p.add_argument("--mode", choices=("thin", "thick"), default="thin",
                   help="thin: the netattach executable and 00-netattach.conflist; thick: "
                   "only netattach-shim (the daemon writes the config). Default thin")
    p.add_argument("--kubeconfig", help="kubeconfig path on the node, written into "
                   "00-netattach.conflist (thin mode; without it no NADs are attached)")
    p.add_argument("--plugin", dest="plugins", action="append",
                   help="also install this built-in plugin executable (repeatable; a file "
                   "of that name is backed up and restored by uninstall)")
    p.add_argument("--runtime", help="copy this self-contained runtime bundle (the image's "
                   "/opt/netattach/runtime) to --runtime-dir and run the executables with it")
    p.set_defaults(func=_cmd_install)

    p = sub.add_parser("uninstall", help="undo `netattach install` exactly, restoring what "
                       "it replaced")
    _node_flags(p)
    p.add_argument("--force", action="store_true",
                   help="also remove files that changed since install")
    p.set_defaults(func=_cmd_uninstall)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["sandbox"]:  # its own parser, so `sandbox --help` and its actions work
        from netattach.sandbox.cli import main as sandbox_main

        return sandbox_main(words[1:])
    args = build_parser().parse_args(words)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
