"""Throw-away QEMU guests on Debian's stock kernel, for kernel features this host lacks.

The guest boots a microvm under TCG with the host's root filesystem shared read-only over
virtio-9p beneath a tmpfs overlay, so it sees the same checkout, venv and tools at the same
paths. One command runs per boot; its stdout/stderr stream back live and its exit code is
returned.

    from netattach import guest
    if guest.available() is None:
        rc = guest.run([sys.executable, "-m", "pytest", "tests/vm"],
                       cwd=os.getcwd(), timeout=900)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO

from .errors import EXIT_GUEST_FAILED, EXIT_TIMEOUT, GuestError, GuestTimeout
from .image import GuestImage, available, cache_dir, cached_image, prepare
from .job import GuestJob
from .qemu import DEFAULT_MEMORY_MB, BootSpec, run_job

__all__ = [
    "DEFAULT_MEMORY_MB",
    "EXIT_GUEST_FAILED",
    "EXIT_TIMEOUT",
    "GuestError",
    "GuestImage",
    "GuestJob",
    "GuestTimeout",
    "available",
    "cache_dir",
    "prepare",
    "run",
]


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 900.0,
    memory_mb: int = DEFAULT_MEMORY_MB,
    stdout: BinaryIO | int = 1,
    stderr: BinaryIO | int = 2,
    console: BinaryIO | int | None = None,
    image: GuestImage | None = None,
) -> int:
    """Run ``argv`` in a fresh guest and return its exit code (preparing the image if needed).

    ``env`` is added to the passthrough variables (PATH, HOME, LANG, CI, NETATTACH_*...);
    ``cwd`` defaults to the current directory. Output goes to ``stdout``/``stderr`` (fds or
    binary files) as it arrives; ``console`` receives the guest's kernel console. Raises
    GuestTimeout after ``timeout`` seconds and GuestError when the guest cannot boot.
    """
    job = GuestJob.build(argv, env=env, cwd=cwd)
    ready = image or cached_image(cache_dir()) or prepare(log=_to_stderr)
    spec = BootSpec(
        kernel=ready.kernel, initramfs=ready.initramfs, tsc_khz=ready.tsc_khz,
        memory_mb=memory_mb, verbose=console is not None,
    )
    return run_job(spec, job, timeout=timeout, stdout=stdout, stderr=stderr,
                   console_sink=console)


def _to_stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)
