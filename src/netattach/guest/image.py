"""Preparing the guest image: host packages, kernel, busybox, initramfs; cached and locked.

Everything lives under ``$NETATTACH_GUEST_CACHE`` (default /var/cache/netattach/guest).
A ready image is found without asking apt, so ``run`` works offline once prepared; a
file lock makes concurrent prepares (parallel test jobs) build only once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .apt import Apt
from .errors import GuestError
from .initramfs import build_initramfs, initramfs_key
from .kernel import Kernel, cached_kernel, fetch_kernel
from .qemu import QEMU, host_tsc_khz

DEFAULT_CACHE = Path("/var/cache/netattach/guest")
CACHE_ENV = "NETATTACH_GUEST_CACHE"
_STATE = "image.json"


@dataclass(frozen=True)
class GuestImage:
    """A ready guest: the kernel to boot, its initramfs, and the host TSC rate to pass."""

    abi: str
    kernel: Path
    initramfs: Path
    tsc_khz: int | None


def cache_dir() -> Path:
    """The cache directory: ``$NETATTACH_GUEST_CACHE`` or /var/cache/netattach/guest."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def available() -> str | None:
    """None when guests can run here (possibly after an automatic prepare), else why not."""
    if os.environ.get("NETATTACH_IN_GUEST"):
        return "already inside a netattach guest (nested guests are not supported)"
    if not Path("/proc/sys/kernel").exists() or os.uname().machine != "x86_64":
        return f"the guest needs an x86_64 Linux host, this is {os.uname().machine}"
    if shutil.which(QEMU) is None and shutil.which("apt-get") is None:
        return f"{QEMU} is missing and apt-get is not available to install it"
    if shutil.which(QEMU) is None and os.geteuid() != 0:
        return f"{QEMU} is missing; installing it needs root (apt-get install qemu-system-x86)"
    if cached_image(cache_dir()) is None and os.geteuid() != 0:
        return "the guest image is not prepared; run `python -m netattach.guest prepare` as root"
    return None


def cached_image(cache: Path) -> GuestImage | None:
    """The prepared image in ``cache`` if it is complete and current, without side effects."""
    try:
        state = json.loads((cache / _STATE).read_text())
        image = GuestImage(
            abi=state["abi"], kernel=Path(state["kernel"]),
            initramfs=Path(state["initramfs"]), tsc_khz=host_tsc_khz(),
        )
        busybox = Path(state["busybox"])
        kernel = cached_kernel(cache, image.abi)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if kernel is None or not image.initramfs.exists() or not busybox.exists():
        return None
    if shutil.which(QEMU) is None:
        return None
    if initramfs_key(kernel, busybox) != state.get("key"):
        return None
    return image


def prepare(*, rebuild: bool = False, log: Callable[[str], None] = print) -> GuestImage:
    """Install qemu and busybox-static if missing, fetch the kernel, build the initramfs.

    Idempotent and cheap when the cache is current; ``rebuild`` forces a fresh kernel
    download and initramfs. Raises GuestError with the failing step and a fix.
    """
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GuestError(
            f"creating the cache {cache}", exc.strerror or str(exc),
            f"run as root, or set {CACHE_ENV} to a writable directory",
        ) from exc
    with _locked(cache):
        if not rebuild:
            found = cached_image(cache)
            if found is not None:
                return found
        apt = Apt(log=log)
        _ensure_qemu(apt)
        busybox = _ensure_busybox(apt, cache, log)
        if rebuild:
            for old in cache.glob("kernel-*"):
                shutil.rmtree(old, ignore_errors=True)
        kernel = fetch_kernel(apt, cache, busybox, log)
        return _write_image(cache, kernel, busybox, log)


def _write_image(
    cache: Path, kernel: Kernel, busybox: Path, log: Callable[[str], None]
) -> GuestImage:
    log("guest: building the initramfs")
    built = build_initramfs(kernel, busybox, cache / f"initramfs-{kernel.abi}.cpio")
    for stale in cache.glob("kernel-*"):
        if stale.name != f"kernel-{kernel.abi}":
            shutil.rmtree(stale, ignore_errors=True)
    for stale in cache.glob("initramfs-*.cpio"):
        if stale != built.path:
            stale.unlink(missing_ok=True)
    image = GuestImage(
        abi=kernel.abi, kernel=kernel.image, initramfs=built.path, tsc_khz=host_tsc_khz()
    )
    state = {**asdict(image), "busybox": str(busybox), "key": built.key}
    state = {k: str(v) if isinstance(v, Path) else v for k, v in state.items()}
    tmp = cache / (_STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(cache / _STATE)
    log(f"guest: ready (kernel {kernel.abi}, cache {cache})")
    return image


def _ensure_qemu(apt: Apt) -> None:
    if shutil.which(QEMU) is None:
        _need_root("installing qemu-system-x86")
        apt.install(["qemu-system-x86"])
        if shutil.which(QEMU) is None:
            raise GuestError(
                "installing qemu-system-x86", f"{QEMU} is still not on PATH",
                "check `dpkg -L qemu-system-x86`",
            )


def _ensure_busybox(apt: Apt, cache: Path, log: Callable[[str], None]) -> Path:
    """A static busybox: /bin/busybox if static, else busybox-static (installed or unpacked)."""
    system = Path("/bin/busybox")
    if _is_static(system):
        return system
    local = cache / "busybox-static" / "bin" / "busybox"
    if _is_static(local):
        return local
    if not system.exists() and not apt.is_installed("busybox"):
        _need_root("installing busybox-static")
        apt.install(["busybox-static"])
        if _is_static(system):
            return system
    # The dynamic busybox package conflicts with busybox-static: unpack, do not install.
    deb = apt.download("busybox-static", cache / "downloads")
    shutil.rmtree(local.parent.parent, ignore_errors=True)
    log("guest: unpacking busybox-static")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(local.parent.parent)], check=False)
    deb.unlink(missing_ok=True)
    if not _is_static(local):
        raise GuestError(
            "getting a static busybox", f"{deb.name} did not provide a static bin/busybox",
            "apt-get install -y busybox-static",
        )
    return local


def _is_static(path: Path) -> bool:
    """Whether ``path`` is an ELF executable without a PT_INTERP (dynamic loader) header."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for index in range(phnum):
        start = phoff + index * phentsize
        if int.from_bytes(data[start : start + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise GuestError(
            what, "apt-get needs root", "run `python -m netattach.guest prepare` as root"
        )


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    with open(cache / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
