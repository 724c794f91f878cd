"""`netattach sandbox ...`: argument parsing and the guest fallback for missing kernel features."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from netattach.linux import LinuxNetError

from .model import SandboxError

GUEST_NOTICE = ("this kernel has no 802.1Q VLAN support: running the sandbox in a throw-away "
                "QEMU guest with Debian's stock kernel (it lasts for this one command)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netattach sandbox",
                                     description="Multi-network pods as namespaces on this "
                                     "machine, from the YAML you would apply to a cluster.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("up", help="create the node, switch, peers and pods")
    p.add_argument("-f", dest="paths", action="append", required=True,
                   help="YAML file or directory (NADs, Pods, a SandboxTopology); repeatable")
    p.add_argument("--then", action="append", default=[], metavar="'ACTION ARGS'",
                   help="sandbox actions to run afterwards (used when running in the guest)")
    for action, text in (("status", "pods x networks"), ("down", "remove everything")):
        p = sub.add_parser(action, help=text)
        p.add_argument("--name", help="the sandbox (default: the only one)")
    p = sub.add_parser("exec", help="run a command in a pod: exec POD -- CMD")
    p.add_argument("--name")
    p.add_argument("pod")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p = sub.add_parser("ping", help="ping an address from a pod, or from a peer to a pod")
    p.add_argument("--name")
    p.add_argument("pod")
    p.add_argument("address")
    p.add_argument("--from", dest="peer", help="ping from this peer host instead")
    p = sub.add_parser("explain", help="netattach explain on a pod of the sandbox: what "
                       "netattach did for it and what is there (see docs/doctor.md)")
    p.add_argument("--name")
    p.add_argument("pod")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p = sub.add_parser("demo", help="the field report's story, start to finish")
    p.add_argument("directory", nargs="?", default="examples/vlan-multi")
    return parser


def _in_guest_if_needed(args: argparse.Namespace, argv: Sequence[str]) -> int | None:
    """Re-run this very command in the QEMU guest when the host kernel lacks 802.1Q."""
    if os.environ.get("NETATTACH_IN_GUEST"):
        return None
    from .lifecycle import needs_vlan
    from .model import load_scenario
    from .netns import kernel_has_vlan

    paths = args.paths if args.action == "up" else [args.directory]
    if not needs_vlan(load_scenario(paths)) or kernel_has_vlan():
        return None
    print(GUEST_NOTICE, flush=True)
    from netattach import guest

    cmd = [sys.executable, "-m", "netattach", "sandbox", *argv]
    return guest.run(cmd, cwd=os.getcwd(), timeout=900)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.action in ("up", "demo"):
            code = _in_guest_if_needed(args, argv)
            if code is not None:
                return code
        return _dispatch(args)
    except (SandboxError, LinuxNetError) as e:
        print(f"netattach sandbox: {e}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    from . import inspect, lifecycle

    if args.action == "up":
        state = lifecycle.up(args.paths)
        inspect.status(state)
        code = 0 if all(p.ready for p in state.pods.values()) else 1
        for step in args.then:
            code = max(code, main(step.split()))
        if args.then and os.environ.get("NETATTACH_IN_GUEST"):
            lifecycle.down(state.name)
        return code
    if args.action == "demo":
        from .demo import run_demo

        return run_demo(args.directory)
    state = inspect.find(args.name)
    if args.action == "status":
        inspect.status(state)
        return 0
    if args.action == "down":
        lifecycle.down(state.name)
        return 0
    if args.action == "explain":
        return inspect.explain(state, args.pod, ["-o", args.output])[0]
    if args.action == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return inspect.exec_(state, args.pod, argv)
    return inspect.ping(state, args.pod, args.address, args.peer)
