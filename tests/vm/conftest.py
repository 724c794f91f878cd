"""Tests that need kernel features this host lacks (802.1Q, ipvlan, dummy, VLAN filtering).

They run inside the QEMU guest (Debian's stock kernel)::

    python -m netattach.guest run -- $PWD/.venv/bin/python -m pytest -q tests/vm

Inside the guest (NETATTACH_IN_GUEST=1) a missing feature FAILS the tests, never skips
them. On the host they are not collected (set NETATTACH_VM_TESTS_ON_HOST=1 to run them on
a host kernel that has the features). Every namespace is named ``nat-vm-<random>-<n>`` and
removed in a finalizer, even when the test fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_IN_GUEST = bool(os.environ.get("NETATTACH_IN_GUEST"))
_ON_HOST = os.environ.get("NETATTACH_VM_TESTS_ON_HOST") == "1"
GUEST_COMMAND = (
    "python -m netattach.guest run -- $PWD/.venv/bin/python -m pytest -q tests/vm"
)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Outside the guest, leave tests/vm to the guest run (see the module docstring)."""
    if _IN_GUEST or _ON_HOST:
        return None
    here = Path(__file__).parent
    if collection_path != Path(__file__) and here in (collection_path, *collection_path.parents):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    if _IN_GUEST or _ON_HOST:
        return f"tests/vm: running on kernel {os.uname().release}"
    return f"tests/vm: not collected on the host; run them in the guest: {GUEST_COMMAND}"


@pytest.fixture
def factory():
    """Namespaces and veths with a unique prefix, removed even when the test fails."""
    from tests.netns.conftest import NetnsFactory

    f = NetnsFactory(f"natst-{os.urandom(2).hex()}-")
    try:
        yield f
    finally:
        f.cleanup()


from tests.netns.plugin_helpers import bindir  # noqa: E402,F401 - installed executables
