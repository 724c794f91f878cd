"""Debian's stock kernel for the guest: fetch the .deb, unpack it, keep what we need.

The .deb is downloaded (never installed), the bootable uncompressed ``vmlinux`` is carved
out of ``vmlinuz`` in Python, and only the modules the guest needs (plus their
dependencies, read from each module's ``.modinfo``) are kept under the cache.
"""

from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .apt import Apt
from .errors import GuestError

#: Modules loaded by /init before anything else, in this order (9p root, overlay, ports).
BOOT_MODULES: tuple[str, ...] = (
    "virtio_mmio", "virtio_console", "9pnet_virtio", "9p", "overlay",
)
#: Modules loaded at boot so the tests see the kernel features without autoloading.
NET_MODULES: tuple[str, ...] = (
    "8021q", "ipvlan", "macvlan", "dummy", "veth", "bridge", "vxlan", "tun",
)
#: Further modules shipped in the initramfs and loaded on demand by the kernel.
EXTRA_MODULES: tuple[str, ...] = ("ifb", "vrf", "macvtap", "br_netfilter", "virtio_net")
#: Module subtrees shipped whole (netfilter for masquerade/macspoofchk, tc for bandwidth).
EXTRA_SUBTREES: tuple[str, ...] = (
    "kernel/net/netfilter", "kernel/net/ipv4/netfilter", "kernel/net/ipv6/netfilter",
    "kernel/net/bridge", "kernel/net/sched",
)

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b\x08", "gzip"),
)


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel in the cache: bootable image and its module tree."""

    abi: str
    image: Path  # uncompressed vmlinux, or vmlinuz when it could not be extracted
    modules_root: Path  # holds lib/modules/<abi>/

    @property
    def modules_dir(self) -> Path:
        return self.modules_root / "lib" / "modules" / self.abi


def fetch_kernel(
    apt: Apt, cache: Path, busybox: Path, log: Callable[[str], None]
) -> Kernel:
    """Return the cached kernel for the current ``linux-image-amd64``, fetching it if needed."""
    abi = apt.kernel_abi()
    return unpack_kernel(apt, cache, abi, busybox, log)


def cached_kernel(cache: Path, abi: str) -> Kernel | None:
    """The kernel for ``abi`` if a complete copy is in ``cache``."""
    base = cache / f"kernel-{abi}"
    if not (base / "complete").exists():
        return None
    image = base / "vmlinux"
    if not image.exists():
        image = base / "vmlinuz"
    return Kernel(abi=abi, image=image, modules_root=base / "modules")


def unpack_kernel(
    apt: Apt, cache: Path, abi: str, busybox: Path, log: Callable[[str], None]
) -> Kernel:
    """Download ``linux-image-<abi>``, extract vmlinux and the needed modules into ``cache``."""
    found = cached_kernel(cache, abi)
    if found is not None:
        return found
    base = cache / f"kernel-{abi}"
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="kernel-", dir=cache) as tmp:
        deb = apt.download(f"linux-image-{abi}", Path(tmp))
        log(f"guest: unpacking {deb.name}")
        tree = Path(tmp) / "tree"
        _checked(["dpkg-deb", "-x", str(deb), str(tree)], f"unpacking {deb.name}")
        deb.unlink()
        vmlinuz = tree / "boot" / f"vmlinuz-{abi}"
        log("guest: extracting vmlinux from vmlinuz")
        try:
            (base / "vmlinux").write_bytes(extract_vmlinux(vmlinuz.read_bytes()))
            image = base / "vmlinux"
        except ValueError as exc:
            log(f"guest: booting vmlinuz instead of vmlinux ({exc})")
            image = base / "vmlinuz"
            shutil.copy2(vmlinuz, image)
        src = tree / "lib" / "modules" / abi
        if not (src / "kernel").is_dir():
            raise GuestError(
                f"unpacking linux-image-{abi}", f"{src} has no kernel/ module tree",
                "check the package name; the guest needs Debian's plain amd64 kernel",
            )
        log("guest: selecting kernel modules")
        wanted = select_modules(src, BOOT_MODULES + NET_MODULES + EXTRA_MODULES, EXTRA_SUBTREES)
        dst = base / "modules" / "lib" / "modules" / abi
        for rel in wanted:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
        for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
            if (src / name).exists():
                shutil.copy2(src / name, dst / name)
    log(f"guest: depmod ({len(wanted)} modules)")
    _checked(
        [str(busybox), "depmod", "-b", str(base / "modules"), abi], "busybox depmod"
    )
    (base / "complete").write_text(abi + "\n")
    return Kernel(abi=abi, image=image, modules_root=base / "modules")


def extract_vmlinux(vmlinuz: bytes) -> bytes:
    """The uncompressed ELF vmlinux inside a bzImage (as scripts/extract-vmlinux does).

    Raises ValueError when no supported compressed payload yields an ELF image.
    """
    for magic, kind in _MAGICS:
        start = vmlinuz.find(magic)
        while start != -1:
            data = _decompress(kind, vmlinuz[start:])
            if data is not None and data[:4] == b"\x7fELF":
                return data
            start = vmlinuz.find(magic, start + 1)
    raise ValueError("no xz, zstd or gzip payload with an ELF image found in vmlinuz")


def _decompress(kind: str, blob: bytes) -> bytes | None:
    try:
        if kind == "xz":
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
        if kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
        if kind == "zstd" and shutil.which("zstd"):
            proc = subprocess.run(
                ["zstd", "-dc"], input=blob, capture_output=True, check=False
            )
            return proc.stdout or None
    except (lzma.LZMAError, zlib.error, OSError, EOFError):
        return None
    return None


def select_modules(
    moddir: Path, names: Iterable[str], subtrees: Iterable[str] = ()
) -> list[str]:
    """Paths (relative to ``moddir``) of the named modules, the subtrees, and all their deps.

    Names not built as modules (built in, or absent) are skipped.
    """
    by_name = {
        _modname(path): path.relative_to(moddir).as_posix()
        for path in (moddir / "kernel").rglob("*.ko*")
    }
    pending = [by_name[_canon(n)] for n in names if _canon(n) in by_name]
    for sub in subtrees:
        pending += [
            p.relative_to(moddir).as_posix() for p in (moddir / sub).rglob("*.ko*")
        ]
    seen: set[str] = set()
    while pending:
        rel = pending.pop()
        if rel in seen:
            continue
        seen.add(rel)
        for dep in module_depends((moddir / rel).read_bytes()):
            if _canon(dep) in by_name:
                pending.append(by_name[_canon(dep)])
    return sorted(seen)


def module_depends(ko: bytes) -> list[str]:
    """The ``depends=`` list of an uncompressed .ko, read from its ELF ``.modinfo``."""
    if ko[:4] != b"\x7fELF" or ko[4] != 2:  # ELFCLASS64 only (amd64 guest)
        return []
    (shoff,) = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", ko, shoff + index * shentsize
        )
        return name, offset, size

    _, str_off, _ = section(shstrndx)
    for index in range(shnum):
        name_off, offset, size = section(index)
        end = ko.index(b"\0", str_off + name_off)
        if ko[str_off + name_off : end] == b".modinfo":
            for entry in ko[offset : offset + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    value = entry[len(b"depends=") :].decode()
                    return [d for d in value.split(",") if d]
    return []


def _modname(path: Path) -> str:
    return _canon(path.name.split(".ko")[0])


def _canon(name: str) -> str:
    return name.replace("-", "_")


def _checked(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GuestError(
            what, (proc.stderr or proc.stdout).strip()[-300:] or f"exit {proc.returncode}",
            f"run `{' '.join(argv)}` by hand to see the full error",
        )
