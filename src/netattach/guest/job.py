"""What the guest runs: argv, environment and working directory, as a POSIX sh script.

The host writes the script into the job share; the guest's /init runs it with an empty
environment inside the overlay root. Every word is single-quoted with :func:`shlex.quote`,
so spaces, quotes, ``$`` and newlines reach the command unchanged.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Host variables passed into the guest unless overridden (plus every NETATTACH_*).
PASSTHROUGH_ENV: tuple[str, ...] = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "CI", "GITHUB_ACTIONS",
    "PYTEST_ADDOPTS", "NO_COLOR", "FORCE_COLOR", "VIRTUAL_ENV",
)
#: Always set in the guest (callers may override): bytecode writes would only land in the
#: throw-away overlay, and unbuffered output streams live through the serial ports.
GUEST_ENV: Mapping[str, str] = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "NETATTACH_IN_GUEST": "1",
}
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Exit code of the job when the working directory does not exist in the guest.
EXIT_BAD_CWD = 126


@dataclass(frozen=True)
class GuestJob:
    """A command for the guest: ``argv`` run in ``cwd`` with exactly ``env``."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("guest job: the command is empty")
        if not os.path.isabs(self.cwd):
            raise ValueError(f"guest job: cwd {self.cwd!r} is not an absolute path")
        for word in (*self.argv, self.cwd, *(v for _, v in self.env)):
            if "\0" in word:
                raise ValueError(f"guest job: {word!r} contains a NUL byte")
        for key, _ in self.env:
            if not _NAME.match(key):
                raise ValueError(f"guest job: {key!r} is not a valid environment variable name")

    @classmethod
    def build(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        host_env: Mapping[str, str] | None = None,
    ) -> GuestJob:
        """The job for ``argv``: host passthrough variables, then GUEST_ENV, then ``env``."""
        source = os.environ if host_env is None else host_env
        merged = {k: source[k] for k in PASSTHROUGH_ENV if k in source}
        merged.update({k: v for k, v in source.items() if k.startswith("NETATTACH_")})
        merged.setdefault("PATH", _DEFAULT_PATH)
        merged.update(GUEST_ENV)
        merged.update(env or {})
        return cls(
            argv=tuple(argv),
            env=tuple(sorted(merged.items())),
            cwd=cwd if cwd is not None else os.getcwd(),
        )

    def script(self) -> str:
        """The sh script the guest runs (started with an empty environment)."""
        lines = ["# netattach guest job (generated; run by /init with env -i)"]
        lines += [f"export {shlex.quote(f'{k}={v}')}" for k, v in self.env]
        cwd = shlex.quote(self.cwd)
        lines.append(
            f"cd {cwd} || {{ echo \"netattach-guest: cannot cd to \"{cwd}\" in the guest "
            "(/run is a fresh tmpfs there)\" >&2; exit "
            f"{EXIT_BAD_CWD}; }}"
        )
        lines.append("exec " + " ".join(shlex.quote(word) for word in self.argv))
        return "\n".join(lines) + "\n"
