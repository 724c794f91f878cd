"""The `podman` fixture: a private podman running netattach's plugins (harness.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.podman.harness import BUSYBOX, PODMAN, Podman, private_podman


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    if os.geteuid() != 0:
        pytest.skip("needs root (podman with CNI networks, namespaces)")
    if PODMAN is None or not Path(BUSYBOX).is_file():
        pytest.fail("podman or busybox-static is missing: `make deps` installs them")
    with private_podman(tmp_path) as pm:
        yield pm
