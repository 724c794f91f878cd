"""Host-side checks of the guest harness builders (no qemu, no root)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from netattach.guest.cpio import CpioEntry, CpioWriter, read_newc
from netattach.guest.initramfs import init_script
from netattach.guest.job import GuestJob
from netattach.guest.kernel import extract_vmlinux
from netattach.guest.qemu import BootSpec, kernel_cmdline, qemu_argv


def test_cpio_newc_round_trip() -> None:
    archive = CpioWriter()
    archive.directory("bin")
    archive.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
    archive.file("odd", b"abc")  # 3 bytes: exercises the 4-byte padding
    archive.symlink("bin/sh", "/bin/busybox")
    archive.chardev("dev-console", 5, 1)
    data = archive.to_bytes()

    assert data.startswith(b"070701")
    assert len(data) % 4 == 0
    entries = {entry.name: entry for entry in read_newc(data)}
    assert list(entries) == ["bin", "bin/hello", "odd", "bin/sh", "dev-console"]
    assert stat.S_ISDIR(entries["bin"].mode)
    assert entries["bin/hello"] == CpioEntry("bin/hello", stat.S_IFREG | 0o755,
                                             b"#!/bin/sh\necho hi\n")
    assert entries["odd"].data == b"abc"
    assert stat.S_ISLNK(entries["bin/sh"].mode) and entries["bin/sh"].data == b"/bin/busybox"
    assert stat.S_ISCHR(entries["dev-console"].mode) and entries["dev-console"].rdev == (5, 1)


@pytest.mark.skipif(shutil.which("cpio") is None and shutil.which("busybox") is None,
                    reason="no cpio tool to cross-check with")
def test_cpio_is_readable_by_a_real_cpio(tmp_path: Path) -> None:
    archive = CpioWriter()
    archive.directory("d")
    archive.file("d/f", b"payload")
    tool = ["cpio"] if shutil.which("cpio") else ["busybox", "cpio"]
    listing = subprocess.run([*tool, "-t"], input=archive.to_bytes(), capture_output=True,
                             check=True).stdout.decode().split()
    assert listing == ["d", "d/f"]


def test_cpio_rejects_garbage_and_duplicates() -> None:
    with pytest.raises(ValueError):
        read_newc(b"not a cpio archive" * 10)
    archive = CpioWriter()
    archive.file("a", b"")
    with pytest.raises(ValueError):
        archive.file("/a", b"")


def test_kernel_cmdline_carries_tsc_rate_and_exits_on_panic() -> None:
    spec = BootSpec(kernel=Path("/k"), initramfs=Path("/i"), tsc_khz=2596122)
    cmdline = kernel_cmdline(spec).split()
    assert "tsc_early_khz=2596122" in cmdline
    assert {"panic=-1", "reboot=t", "console=ttyS0"} <= set(cmdline)
    argv = qemu_argv(spec, share=Path("/s"), console=Path("/c"), out_fd=5, err_fd=6)
    assert argv[argv.index("-append") + 1] == kernel_cmdline(spec)
    assert "-no-reboot" in argv and "tcg" in argv
    assert not any("kvm" in word for word in argv)


WEIRD = ["printf", "%s|", "a b", "it's", 'say "hi"', "$HOME", "`id`", "x\ny", "*", ""]


def test_job_script_quotes_every_word(tmp_path: Path) -> None:
    job = GuestJob.build(WEIRD, env={"WEIRD": "a 'b' \"c\" $d"}, cwd=str(tmp_path),
                         host_env={"PATH": "/usr/bin:/bin", "SECRET": "no"})
    shell = shutil.which("busybox")
    argv = [shell, "sh"] if shell else ["/bin/sh"]
    proc = subprocess.run([*argv, "-c", job.script()], env={}, capture_output=True,
                          text=True, check=True)
    assert proc.stdout == "|".join(WEIRD[2:]) + "|"
    env_proc = subprocess.run(
        [*argv, "-c", job.script().replace("exec printf", "exec env #")],
        env={}, capture_output=True, text=True, check=True,
    )
    seen = dict(line.split("=", 1) for line in env_proc.stdout.splitlines() if "=" in line)
    assert seen["WEIRD"] == "a 'b' \"c\" $d"
    assert seen["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "SECRET" not in seen


def test_job_rejects_bad_env_names_and_relative_cwd() -> None:
    with pytest.raises(ValueError):
        GuestJob.build(["true"], env={"A B": "x"}, cwd="/")
    with pytest.raises(ValueError):
        GuestJob.build(["true"], cwd="relative")
    with pytest.raises(ValueError):
        GuestJob.build([], cwd="/")


def test_init_script_has_no_unfilled_placeholders() -> None:
    script = init_script()
    assert "@" not in script.replace("$@", "")
    assert "reboot -f" in script


def test_extract_vmlinux_finds_the_xz_payload() -> None:
    import lzma

    elf = b"\x7fELF" + bytes(range(256)) * 64
    bzimage = b"MZ" + b"\0" * 1000 + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"\0" * 77
    assert extract_vmlinux(bzimage) == elf
    with pytest.raises(ValueError):
        extract_vmlinux(b"MZ no payload")
