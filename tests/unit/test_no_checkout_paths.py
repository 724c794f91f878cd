"""No tracked file may name the absolute path of the checkout it lives in.

A path like that passes on the machine that wrote it and fails in every other clone (the
suite once ran `.venv/bin/netattach` through one). Code derives paths instead:
`sys.executable`, `Path(__file__)`, `$(CURDIR)`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache"}


def tracked_files(root: Path) -> list[Path]:
    """The files git tracks (or, outside a git checkout, every file but build output)."""
    if shutil.which("git") and (root / ".git").exists():
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             check=True).stdout
        return [root / name for name in out.decode().split("\0") if name]
    return [p for p in root.rglob("*") if p.is_file()
            and not SKIP_DIRS.intersection(p.relative_to(root).parts)
            and not any(part.endswith(".egg-info") for part in p.parts)]


def files_naming(root: Path, files: list[Path]) -> list[str]:
    """`file:line` of each line that contains `root` as a whole path (not a longer name)."""
    pattern = re.compile(re.escape(str(root)) + r"(?![\w.-])")
    hits = []
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(root)}:{number}: {line.strip()[:100]}")
    return hits


def test_no_tracked_file_names_this_checkout() -> None:
    files = tracked_files(ROOT)
    assert len(files) > 50, f"found only {len(files)} files under {ROOT}"
    hits = files_naming(ROOT, files)
    assert not hits, ("these lines name this checkout's absolute path; derive it instead "
                      "(sys.executable, Path(__file__), $(CURDIR)):\n" + "\n".join(hits))


def test_the_check_finds_a_planted_path(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text(f'HOME = "{tmp_path}-other/bin"\n')
    (tmp_path / "bad.py").write_text(f'EXE = "{tmp_path}/.venv/bin/netattach"\n')
    hits = files_naming(tmp_path, [tmp_path / "ok.py", tmp_path / "bad.py"])
    assert hits == [f'bad.py:1: EXE = "{tmp_path}/.venv/bin/netattach"']
