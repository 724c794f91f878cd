"""Packaging as a user installs it: build the wheel, install it (not editable) into a fresh
venv, `netattach install-bin` from there, and one ADD/DEL through the written executables.

Nothing of this checkout may leak into what the user gets: the executables' `#!` line and
import paths point into the new venv, never at `src/` here.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tests.netns.conftest import netns_factory, netns_prefix  # noqa: F401 (fixtures)
from tests.netns.plugin_helpers import call_exec, ip_json, netconf

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel and its daemon extra installed from a wheelhouse."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "wheels"
    # builds netattach's wheel and collects its dependencies' (pip's cache makes it quick)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
         "--wheel-dir", wheels, f"{ROOT}[daemon]")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-index", "--find-links", wheels, "netattach[daemon]")
    return venv


def test_wheel_declares_every_extra_the_dockerfile_asks_for() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    asked = {part.split("[", 1)[1].split("]", 1)[0] for part in dockerfile.split("'")
             if "[" in part and part.split("[", 1)[0] in (".", "netattach")}
    assert asked and asked <= set(extras), (asked, sorted(extras))


def test_installed_wheel_runs_add_and_del(user_venv: Path, tmp_path: Path,
                                          netns_factory) -> None:  # noqa: F811
    python = user_venv / "bin" / "python"
    where = _run(python, "-c", "import netattach; print(netattach.__file__)").stdout.strip()
    assert where.startswith(str(user_venv)), where  # the wheel, not this checkout
    _run(python, "-c", "import prometheus_client")  # the daemon extra came along
    bindir = tmp_path / "bin"
    written = _run(user_venv / "bin" / "netattach", "install-bin", bindir).stdout.split()
    assert {Path(p).name for p in written} >= {"macvlan", "static", "netattach-shim"}
    for path in written:
        text = Path(path).read_text()
        assert text.startswith(f"#!{python} -IS"), text[:80]
        assert str(ROOT / "src") not in text

    node = netns_factory.make_netns("node")
    pod = netns_factory.make_netns("pod")
    peer = netns_factory.make_netns("peer")
    master, _ = netns_factory.make_veth(node, peer)
    conf = netconf("macvlan", master=master,
                   ipam={"type": "static", "addresses": [{"address": "192.0.2.40/24"}]})
    add = call_exec(bindir / "macvlan", "ADD", conf, netns=pod.path, ifname="net1",
                    host_netns_name=node.name, cni_path=str(bindir))
    result = add.ok()
    assert result and [ip["address"] for ip in result["ips"]] == ["192.0.2.40/24"]
    [link] = ip_json("-d", "addr", "show", "dev", "net1", netns=pod.name)
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert [a["local"] for a in link["addr_info"] if a["family"] == "inet"] == ["192.0.2.40"]

    deleted = call_exec(bindir / "macvlan", "DEL", conf, netns=pod.path, ifname="net1",
                        host_netns_name=node.name, cni_path=str(bindir))
    assert deleted.rc == 0, deleted.out
    assert not [lk for lk in ip_json("link", "show", netns=pod.name)
                if lk["ifname"] == "net1"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    shown = _run(user_venv / "bin" / "netattach", "version").stdout
    assert shown.startswith(f"netattach {version} "), shown
