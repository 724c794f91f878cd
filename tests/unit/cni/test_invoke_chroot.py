"""Finding a plugin in the host's root (chrootDir) without leaving it. The chrooted runs
themselves need root: tests/e2e/test_chroot_delegates.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from netattach.cni.errors import CNIError
from netattach.cni.invoke import find_in_root, resolve_in_root


def test_resolve_in_root_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "a/b").mkdir(parents=True)
    (root / "a/b/f").write_text("")
    (root / "up").symlink_to("../../../../a")
    (root / "abs").symlink_to("/a/b")
    (root / "loop").symlink_to("/loop")
    assert resolve_in_root(root, "/abs/f") == root / "a/b/f"
    assert resolve_in_root(root, "/up/b/f") == root / "a/b/f"
    assert resolve_in_root(root, "/../../a/./b/f") == root / "a/b/f"
    assert resolve_in_root(root, "/missing/f") == root / "missing/f"
    assert resolve_in_root(root, "/loop/x") is None


def test_find_in_root_returns_the_path_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/libexec/cni").mkdir(parents=True)
    (root / "opt/cni/bin").mkdir(parents=True)
    plugin = root / "usr/libexec/cni/calico"
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    (root / "opt/cni/bin/calico").symlink_to("/usr/libexec/cni/calico")
    (root / "opt/cni/bin/flannel").write_text("not executable")
    assert find_in_root("calico", ["/nowhere", "/opt/cni/bin"], root) == "/opt/cni/bin/calico"
    # a symlink that only resolves outside the root does not count
    (root / "opt/cni/bin/escape").symlink_to(str(plugin))
    with pytest.raises(CNIError, match="failed to find plugin 'escape'"):
        find_in_root("escape", ["/opt/cni/bin"], root)
    with pytest.raises(CNIError, match="failed to find plugin 'flannel'") as info:
        find_in_root("flannel", ["/opt/cni/bin"], root)
    assert "on the host" in info.value.details
    with pytest.raises(CNIError, match="invalid plugin name"):
        find_in_root("../calico", ["/opt/cni/bin"], root)
