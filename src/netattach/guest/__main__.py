"""``python -m netattach.guest prepare|run``: the guest harness from the command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from . import DEFAULT_MEMORY_MB, EXIT_GUEST_FAILED, EXIT_TIMEOUT, prepare, run
from .errors import GuestError, GuestTimeout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m netattach.guest",
        description="Run commands in a throw-away QEMU guest on Debian's stock kernel.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser(
        "prepare", help="install qemu/busybox, fetch the kernel, build the initramfs"
    )
    prep.add_argument("--rebuild", action="store_true", help="fetch the kernel and rebuild anew")
    runp = sub.add_parser(
        "run", help="run a command in a fresh guest",
        description=f"Exit code: the command's; {EXIT_TIMEOUT} on timeout; "
        f"{EXIT_GUEST_FAILED} when the guest failed to boot.",
    )
    runp.add_argument("--timeout", type=float, default=900.0, help="seconds (default 900)")
    runp.add_argument("--cwd", help="working directory in the guest (default: current)")
    runp.add_argument("--env", action="append", default=[], metavar="K=V",
                      help="set a variable in the guest (repeatable)")
    runp.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB")
    runp.add_argument("--verbose", action="store_true",
                      help="show the guest's kernel console on stderr")
    runp.add_argument("argv", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: Sequence[str] | None = None) -> int:
    opts = _parser().parse_args(args)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the guest and clean up, as on Ctrl-C
    try:
        if opts.command == "prepare":
            image = prepare(rebuild=opts.rebuild)
            print(f"guest: kernel {image.kernel}")
            print(f"guest: initramfs {image.initramfs}")
            return 0
        argv = opts.argv[1:] if opts.argv[:1] == ["--"] else opts.argv
        if not argv:
            print("netattach.guest: run needs a command after --", file=sys.stderr)
            return 2
        env = {}
        for item in opts.env:
            key, sep, value = item.partition("=")
            if not sep:
                print(f"netattach.guest: --env {item!r} is not K=V", file=sys.stderr)
                return 2
            env[key] = value
        return run(argv, env=env, cwd=opts.cwd, timeout=opts.timeout,
                   memory_mb=opts.memory, console=2 if opts.verbose else None)
    except GuestTimeout as exc:
        print(exc.one_line(), file=sys.stderr)
        return EXIT_TIMEOUT
    except (GuestError, ValueError) as exc:
        line = exc.one_line() if isinstance(exc, GuestError) else f"netattach.guest: {exc}"
        print(line, file=sys.stderr)
        return EXIT_GUEST_FAILED
    except KeyboardInterrupt:
        print("netattach.guest: interrupted; the guest was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
