"""Every command, subcommand and sandbox action answers `--help` and `-h` with exit 0."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from netattach.cli import build_parser
from netattach.sandbox.cli import build_parser as build_sandbox_parser


def _paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
           ) -> list[tuple[str, ...]]:
    out = [prefix]
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                if prefix + (name,) == ("sandbox",):
                    out += _paths(build_sandbox_parser(), ("sandbox",))
                else:
                    out += _paths(sub, prefix + (name,))
    return out


COMMANDS = _paths(build_parser())


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(p) for p in COMMANDS}
    for expected in ("doctor", "explain", "daemon", "install", "sandbox", "sandbox up",
                     "sandbox exec", "sandbox explain", "sandbox demo"):
        assert expected in names


@pytest.mark.parametrize("words", COMMANDS, ids=lambda p: " ".join(p) or "netattach")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(words: tuple[str, ...], flag: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "netattach", *words, flag],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: netattach"), proc.stdout
    assert not proc.stderr
