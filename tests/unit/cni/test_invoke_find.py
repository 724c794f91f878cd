"""find_in_path: any "type" and any CNI_PATH give a CNI error, never an OSError (issue 16:
an ipam type of 300 characters was code 999 "[Errno 36] File name too long")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.cni.invoke import find_in_path


@pytest.mark.parametrize(("plugin_type", "fragment"), [
    ("a" * 300, "is longer than 255 bytes"),
    ("a\0b", "invalid plugin name"),
    ("\ud800", "invalid plugin name"),
    ("..", "invalid plugin name"),
    ("../../bin/sh", "invalid plugin name"),
])
def test_impossible_types_are_config_errors(tmp_path: Path, plugin_type: str,
                                            fragment: str) -> None:
    with pytest.raises(CNIError) as err:
        find_in_path(plugin_type, [str(tmp_path)])
    assert err.value.code == Code.INVALID_NETWORK_CONFIG and fragment in err.value.msg


def test_unusable_path_entries_are_skipped(tmp_path: Path) -> None:
    exe = tmp_path / "fz"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    entries = ["x" * 5000, str(tmp_path / "file" / "sub"), f"{tmp_path}\0", str(tmp_path)]
    (tmp_path / "file").write_text("")
    assert find_in_path("fz", entries) == exe
    with pytest.raises(CNIError) as err:
        find_in_path("other", entries[:3])
    assert err.value.code == Code.INVALID_NETWORK_CONFIG
    assert "failed to find plugin 'other'" in err.value.msg
    assert os.path.exists(exe)
