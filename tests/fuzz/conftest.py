"""Fixtures of the fuzz suite (root only): the installed executables and a lab factory.

Reuses tests/netns/conftest.py's per-run prefix, so every namespace is `natst-<hex>-fz...`
and the netns suite's leftover sweep would find it too. The suite is bounded: every test
has a small `max_examples`; raise them for a long hunt with NATFUZZ_SCALE=10 (ten times
the examples). The seed is random per run and printed in the header and with every
failure (NATFUZZ_SEED=N reruns it), next to hypothesis' `@reproduce_failure` blob.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.daemon_support import DaemonProcess
from tests.fuzz.harness import (
    CONTAIN,
    IP,
    PLUGINS,
    SEED,
    Lab,
    ThickNode,
    ip,
    link_states,
    node_with_uplink,
)
from tests.netns.conftest import netns_prefix  # noqa: F401 - the run's unique prefix


@pytest.fixture(scope="session")
def fuzz_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`netattach install-bin` output for the 8 plugins only: this is CNI_PATH, so a fuzzed
    ipam type can never reach the meta plugin or the shim by exec."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    d = tmp_path_factory.mktemp("fuzz-bin")
    argv = [sys.executable, "-m", "netattach", "install-bin", str(d)]
    for p in PLUGINS:
        argv += ["--type", p]
    subprocess.run(argv, check=True, capture_output=True)
    return d


@pytest.fixture(scope="session")
def meta_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The thin meta plugin executable (`netattach`), alone in its directory."""
    d = tmp_path_factory.mktemp("fuzz-meta-bin")
    subprocess.run([sys.executable, "-m", "netattach", "install-bin", str(d), "--type",
                    "netattach"], check=True, capture_output=True)
    return d / "netattach"


@pytest.fixture(scope="session")
def shim_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from netattach.node.binaries import install_shim

    return install_shim(tmp_path_factory.mktemp("fuzz-shim"))


@pytest.fixture(scope="module")
def make_lab(netns_prefix: str, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
             ) -> Iterator[Callable[..., Lab]]:
    """lab = make_lab(tuning_eth0=False); call lab.destroy() when done (the fixture
    destroys any lab still alive at the end of the module)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    base = tmp_path_factory.mktemp("fuzz-labs")
    counter = itertools.count()
    alive: list[Lab] = []

    def make(**kw: Any) -> Lab:
        lab = Lab.create(netns_prefix, next(counter), base, **kw)
        alive.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in alive:
            lab.destroy()


@pytest.fixture(scope="module")
def thick_node(netns_prefix: str, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
               ) -> Iterator[ThickNode]:
    """A daemon for the module; its cluster network is macvlan on up0 + host-local."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    root = tmp_path_factory.mktemp("fuzz-daemon")
    for d in ("run/netns", "var-lib", "hl", "cni", "conf"):
        (root / d).mkdir(parents=True)
    netns, peer = f"{netns_prefix}fzdn", f"{netns_prefix}fzdp"
    try:
        node_with_uplink(netns, peer)
        (root / "conf" / "10-cluster.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "fzcluster", "plugins": [{
                "type": "macvlan", "master": "up0", "mode": "bridge",
                "ipam": {"type": "host-local", "dataDir": str(root / "hl"),
                         "ranges": [[{"subnet": "198.51.100.0/24"}]]}}]}))
        argv = [sys.executable, "-I", "-S", "-c", CONTAIN, str(root / "run"),
                str(root / "var-lib"), IP, "netns", "exec", netns, sys.executable, "-m",
                "netattach", "daemon", "--socket-dir", str(root / "sock"), "--node-name",
                "node-1", "--log-format", "json", "--log-level", "debug"]
        daemon = DaemonProcess(argv, root / "sock", root / "daemon.log")
        daemon.launch()
        try:
            yield ThickNode(netns, root, daemon, link_states(netns))
        finally:
            daemon.stop()
    finally:
        ip("netns", "del", netns, check=False)
        ip("netns", "del", peer, check=False)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"fuzz: NATFUZZ_SEED={SEED} NATFUZZ_SCALE={os.environ.get('NATFUZZ_SCALE', '1')} "
            "(a failure prints the seed and a @reproduce_failure blob)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(("fuzz seed", f"rerun these examples with NATFUZZ_SEED={SEED}"))
