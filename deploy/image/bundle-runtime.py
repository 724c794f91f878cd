#!/usr/bin/env python3
"""Build a self-contained Python runtime for the host: /opt/netattach/<version>-<id>.

Why: the CNI executables netattach writes into the host's /opt/cni/bin are Python scripts
whose `#!` line names an interpreter. The runtime (containerd, CRI-O) runs them on the
host, not in the container, so the container's /usr/local/bin/python3 is no use, and a
host Python (if any) has neither the right version nor netattach's dependencies.

So the image carries a bundle that works on any Linux host of the same CPU architecture:

    <root>/<name>/bin/python3.11      the interpreter, its ELF interpreter (PT_INTERP)
                                      patched to <root>/<name>/lib/ld-linux-*.so.*
    <root>/<name>/bin/python3         -> python3.11
    <root>/<name>/bin/netattach       the CLI on the host (doctor, uninstall, ...)
    <root>/<name>/lib/*.so*           every shared library any ELF file here needs (libc,
                                      libpython, libssl, ...), with the dynamic loader
    <root>/<name>/lib/python3.11/     the standard library (no tests, no tkinter, no
                                      ensurepip), site-packages with netattach installed
    <root>/<name>/BUNDLE_ID           sha256 of the tree before patching

Every ELF file gets an RPATH of <root>/<name>/lib, so nothing comes from the host's
libraries: the host's glibc version does not matter. The absolute paths make the bundle
valid only at <root>/<name> on the host, which is why `netattach install --runtime`
copies it to exactly that path (the DaemonSet mounts the host's /opt/netattach there).

Usage (in the Dockerfile's bundle stage; needs patchelf and ldd):
    bundle-runtime.py --root /opt/netattach --version 0.1.0 --wheels /dist
Tests use --site SRC (copy a package directory) instead of --wheels.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages",
               "lib2to3", "unittest/test", "__phello__"}
LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def is_elf(path: Path) -> bool:
    """An ELF executable or shared object (not a .o file)."""
    try:
        with path.open("rb") as f:
            head = f.read(18)
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") in (2, 3)


def needed_libraries(elf: Path) -> list[tuple[str, Path]]:
    """(name to install under, resolved path) of what `elf` loads, from ldd."""
    out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        m = LDD_LINE.match(line)
        if m:
            soname, path = m.group(1), Path(m.group(2))
            libs.append((soname or path.name, path))
    return libs


def tree_id(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            h.update(f"L {rel} {os.readlink(p)}\n".encode())
        elif p.is_file():
            h.update(f"F {rel} {p.stat().st_mode & 0o111:o}\n".encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def build(root: Path, version: str, wheels: Path | None, site: list[Path],
          packages: list[str]) -> Path:
    pyver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".bundle.", dir=root))
    (stage / "bin").mkdir()
    lib = stage / "lib"
    lib.mkdir()
    python = stage / "bin" / pyver
    shutil.copy2(Path(sys.executable).resolve(), python)
    (stage / "bin" / "python3").symlink_to(pyver)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, lib / pyver, symlinks=True, ignore=lambda d, names: [
        n for n in names
        if (Path(d) / n).relative_to(stdlib).as_posix() in SKIP_STDLIB
        or n.startswith(("config-", "_tkinter"))])
    site_dir = lib / pyver / "site-packages"
    site_dir.mkdir()
    if wheels is not None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-compile",
                        "--disable-pip-version-check", "--find-links", str(wheels),
                        "--target", str(site_dir), *packages], check=True)
    for src in site:
        shutil.copytree(src, site_dir / src.name, symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__"))
    # every shared library any ELF file needs, the dynamic loader included
    loader = ""
    elves = [p for p in stage.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    for elf in elves:
        for name, path in needed_libraries(elf):
            if "ld-linux" in path.name or path.name.startswith("ld64"):
                loader = path.name
                name = path.name
            target = lib / name
            if not target.exists():
                shutil.copy2(path.resolve(), target)
    if not loader:
        raise SystemExit(f"bundle-runtime: no dynamic loader found by ldd for {python}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j0", str(lib / pyver)],
                   check=False)
    ident = tree_id(stage)
    name = f"{version}-{ident[:12]}"
    final = root / name
    libdir = str(final / "lib")
    for elf in [p for p in stage.rglob("*") if p.is_file() and is_elf(p)]:
        if elf.name == loader:
            continue
        args = ["patchelf", "--force-rpath", "--set-rpath", libdir]
        if elf == python:
            args += ["--set-interpreter", f"{libdir}/{loader}"]
        subprocess.run([*args, str(elf)], check=True)
    launcher = stage / "bin" / "netattach"
    launcher.write_text(f"#!{final}/bin/python3 -I\n"
                        "import sys\nfrom netattach.cli import main\nsys.exit(main())\n")
    launcher.chmod(0o755)
    (stage / "BUNDLE_ID").write_text(ident + "\n")
    stage.chmod(0o755)
    if final.exists():
        shutil.rmtree(final)
    stage.rename(final)
    link = root / "runtime"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(name)
    return final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/opt/netattach",
                        help="the path the bundle will have on the host")
    parser.add_argument("--version", required=True)
    parser.add_argument("--wheels", type=Path, help="pip --find-links directory")
    parser.add_argument("--package", dest="packages", action="append",
                        help="requirement to install from --wheels (default: netattach)")
    parser.add_argument("--site", type=Path, action="append", default=[],
                        help="copy this package directory into site-packages (tests)")
    args = parser.parse_args()
    final = build(Path(args.root), args.version, args.wheels, args.site,
                  args.packages or ["netattach"])
    print(final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
