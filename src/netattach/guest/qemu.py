"""The qemu command line for the guest, and running it with live output and a timeout."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import GuestError, GuestTimeout
from .initramfs import JOB_FILE, JOB_TAG, RC_FILE, ROOT_TAG, STDERR_PORT, STDOUT_PORT
from .job import GuestJob

QEMU = "qemu-system-x86_64"
DEFAULT_MEMORY_MB = 1024
#: Console lines quoted in a boot-failure message.
_CONSOLE_TAIL_LINES = 15


@dataclass(frozen=True)
class BootSpec:
    """Everything that decides the qemu command line, apart from the per-run files."""

    kernel: Path
    initramfs: Path
    tsc_khz: int | None
    memory_mb: int = DEFAULT_MEMORY_MB
    cpus: int = 1
    verbose: bool = False
    extra_append: tuple[str, ...] = field(default=())


def kernel_cmdline(spec: BootSpec) -> str:
    """The kernel command line: serial console, fast boot, exit qemu on panic or reboot."""
    args = [
        "console=ttyS0", "earlyprintk=ttyS0" if spec.verbose else "quiet",
        "loglevel=7" if spec.verbose else "loglevel=3",
        "panic=-1", "reboot=t", "rdinit=/init",
        "8250.nr_uarts=1", "i8042.noaux", "i8042.nokbd", "i8042.nopnp",
        "nokaslr", "mitigations=off", "no_timer_check", "tsc=reliable",
        "random.trust_cpu=on", "audit=0", "apparmor=0", "selinux=0",
    ]
    if spec.tsc_khz:
        args.append(f"tsc_early_khz={spec.tsc_khz}")
    args.extend(spec.extra_append)
    return " ".join(args)


def host_tsc_khz() -> int | None:
    """The host's TSC rate in kHz: the kernel's calibration from /dev/kmsg, else cpuinfo."""
    found = _tsc_from_kmsg()
    return found if found is not None else _tsc_from_cpuinfo()


def _tsc_from_kmsg() -> int | None:
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    refined = detected = None
    try:
        while True:
            try:
                record = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE when records were overwritten; keep reading
                continue
            match = re.search(r"tsc: Refined TSC clocksource calibration: ([\d.]+) MHz", record)
            if match:
                refined = match.group(1)
            match = re.search(r"tsc: Detected ([\d.]+) MHz processor", record)
            if match:
                detected = match.group(1)
    finally:
        os.close(fd)
    value = refined or detected
    return round(float(value) * 1000) if value else None


def _tsc_from_cpuinfo() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)
    return round(float(match.group(1)) * 1000) if match else None


def qemu_argv(spec: BootSpec, *, share: Path, console: Path, out_fd: int, err_fd: int) -> list[str]:
    """The qemu argv: a microvm under TCG with the host root, the job share and two ports."""
    return [
        QEMU,
        "-M", "microvm,x-option-roms=off,isa-serial=on",
        "-accel", "tcg",
        "-m", str(spec.memory_mb),
        "-smp", str(spec.cpus),
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-kernel", str(spec.kernel),
        "-initrd", str(spec.initramfs),
        "-append", kernel_cmdline(spec),
        "-chardev", f"file,id=console,path={console}",
        "-serial", "chardev:console",
        "-fsdev", f"local,id={ROOT_TAG},path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", f"virtio-9p-device,fsdev={ROOT_TAG},mount_tag={ROOT_TAG}",
        "-fsdev", f"local,id=job,path={share},security_model=none,multidevs=remap",
        "-device", f"virtio-9p-device,fsdev=job,mount_tag={JOB_TAG}",
        "-device", "virtio-serial-device",
        "-chardev", f"socket,id=out,fd={out_fd}",
        "-device", f"virtserialport,chardev=out,name={STDOUT_PORT}",
        "-chardev", f"socket,id=err,fd={err_fd}",
        "-device", f"virtserialport,chardev=err,name={STDERR_PORT}",
    ]


@dataclass
class _Pump:
    """Copies one guest port to a sink until the socket closes."""

    sock: socket.socket
    sink: Callable[[bytes], None]
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.sink(data)


def _sink(target: BinaryIO | int) -> Callable[[bytes], None]:
    if isinstance(target, int):
        def write_fd(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(target, view):]
        return write_fd

    def write_file(data: bytes) -> None:
        target.write(data)
        target.flush()
    return write_file


def run_job(
    spec: BootSpec,
    job: GuestJob,
    *,
    timeout: float,
    stdout: BinaryIO | int = 1,
    stderr: BinaryIO | int = 2,
    console_sink: BinaryIO | int | None = None,
) -> int:
    """Boot a fresh guest for ``job``, stream its output, return its exit code.

    Raises GuestTimeout when ``timeout`` seconds pass, GuestError when the guest did not
    report an exit code (boot failure); qemu is killed and temp files removed either way.
    """
    if shutil.which(QEMU) is None:
        raise GuestError(
            "starting the guest", f"{QEMU} is not installed",
            "run `python -m netattach.guest prepare` (installs qemu-system-x86)",
        )
    with tempfile.TemporaryDirectory(prefix="netattach-guest-") as tmp:
        share = Path(tmp) / "share"
        share.mkdir()
        (share / JOB_FILE).write_text(job.script())
        console = Path(tmp) / "console.log"
        out_host, out_qemu = socket.socketpair()
        err_host, err_qemu = socket.socketpair()
        argv = qemu_argv(spec, share=share, console=console,
                         out_fd=out_qemu.fileno(), err_fd=err_qemu.fileno())
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, pass_fds=(out_qemu.fileno(), err_qemu.fileno()),
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            out_qemu.close()
            err_qemu.close()
            pumps = [_Pump(out_host, _sink(stdout)), _Pump(err_host, _sink(stderr))]
            tail = _ConsoleTail(console, _sink(console_sink)) if console_sink is not None else None
            try:
                qemu_output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                for pump in pumps:
                    pump.thread.join(timeout=2)
                raise GuestTimeout(
                    "running the command in the guest",
                    f"it did not finish within {timeout:g} s; the guest was killed "
                    f"({_console_summary(console)})",
                    "raise --timeout, or run with --verbose to watch the guest console",
                ) from None
            finally:
                if tail is not None:
                    tail.stop()
            for pump in pumps:
                pump.thread.join(timeout=5)
            rc_file = share / RC_FILE
            if rc_file.exists():
                return int(rc_file.read_text().strip())
            reason = (share / "init-error").read_text().strip() if (
                share / "init-error").exists() else ""
            qemu_msg = qemu_output.decode(errors="replace").strip()
            why = reason or (f"qemu exited with {proc.returncode}: {qemu_msg[-300:]}" if qemu_msg
                             else f"the guest stopped before the command finished "
                                  f"(qemu exit {proc.returncode})")
            raise GuestError(
                "booting the guest", f"{why}; console: {_console_summary(console)}",
                "run with --verbose to see the console; `python -m netattach.guest prepare "
                "--rebuild` rebuilds the kernel and initramfs",
            )
        finally:
            if proc is not None and proc.poll() is None:
                _kill(proc)
            for sock in (out_host, err_host, out_qemu, err_qemu):
                sock.close()


def _die_with_parent() -> None:
    """In the qemu child: get SIGKILL when the harness dies, however it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _console_summary(console: Path) -> str:
    try:
        lines = [line.strip() for line in console.read_text(errors="replace").splitlines()]
    except OSError:
        return "no console output"
    lines = [line for line in lines if line]
    panics = [i for i, line in enumerate(lines) if "Kernel panic" in line]
    kept = lines[max(0, panics[0] - 4) : panics[0] + 1] if panics else lines
    kept = kept[-_CONSOLE_TAIL_LINES:]
    return " | ".join(kept) if kept else "no console output"


class _ConsoleTail:
    """Follows the console log file while the guest runs (for --verbose)."""

    def __init__(self, path: Path, sink: Callable[[bytes], None]) -> None:
        self._path = path
        self._sink = sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset = 0
        while True:
            stopping = self._stop.is_set()
            try:
                with self._path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except FileNotFoundError:
                data = b""
            if data:
                offset += len(data)
                self._sink(data)
            if stopping:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
