"""`netattach install` / `uninstall` on a temporary root: exact, idempotent, reversible."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netattach.node.install import (
    GENERATED_CONF,
    InstallOptions,
    NodeInstallError,
    NodePaths,
    find_primary,
    install,
    uninstall,
)

NETATTACH = [sys.executable, "-m", "netattach"]
ROOT = Path(__file__).resolve().parents[2]

PRIMARY = {"cniVersion": "1.0.0", "name": "cbr0", "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
    {"type": "portmap", "capabilities": {"portMappings": True}},
    {"type": "bandwidth", "capabilities": {"bandwidth": True, "other": False}}]}
# odd bytes on purpose: no trailing newline, tabs, a key order json.dumps would not keep
PRIMARY_BYTES = b'{"name":"cbr0",\t"cniVersion":"1.0.0","plugins":' + json.dumps(
    PRIMARY["plugins"]).encode() + b"}"
OTHER_CONF = b'{"cniVersion": "0.3.1", "name": "spare", "type": "bridge"}\n'


def snapshot(directory: Path) -> list[tuple[str, object, int]]:
    """Everything under `directory`: path, bytes (or link target, or <dir>), mode."""
    out: list[tuple[str, object, int]] = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_symlink():
            out.append((rel, os.readlink(p), 0))
        elif p.is_file():
            out.append((rel, p.read_bytes(), p.stat().st_mode & 0o7777))
        else:
            out.append((rel, "<dir>", p.stat().st_mode & 0o7777))
    return out


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodePaths]:
    """A node root with a primary .conflist, another .conf and a kubeconfig."""
    conf = tmp_path / "etc/cni/net.d"
    conf.mkdir(parents=True)
    (conf / "10-flannel.conflist").write_bytes(PRIMARY_BYTES)
    os.chmod(conf / "10-flannel.conflist", 0o644)
    (conf / "99-spare.conf").write_bytes(OTHER_CONF)
    os.chmod(conf / "99-spare.conf", 0o600)
    (tmp_path / "etc/netattach").mkdir(parents=True)
    (tmp_path / "etc/netattach/kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    yield NodePaths(root=tmp_path)


def thin(paths: NodePaths, **kw: object) -> InstallOptions:
    return InstallOptions(paths=paths, kubeconfig="/etc/netattach/kubeconfig", **kw)  # type: ignore[arg-type]


def test_install_writes_the_thin_conflist_for_the_primary(node: NodePaths):
    install(thin(node))
    conflist = json.loads((node.root / "etc/cni/net.d" / GENERATED_CONF).read_bytes())
    assert conflist == {
        "cniVersion": "1.0.0", "name": "netattach-cni-network",
        "plugins": [{"type": "netattach",
                     "capabilities": {"portMappings": True, "bandwidth": True},
                     "clusterNetwork": "/etc/cni/net.d/10-flannel.conflist",
                     "kubeconfig": "/etc/netattach/kubeconfig"}]}
    meta = node.root / "opt/cni/bin/netattach"
    assert os.access(meta, os.X_OK)
    assert meta.read_text().startswith(f"#!{sys.executable} -IS\n")
    assert (node.root / "etc/cni/net.d" / GENERATED_CONF).stat().st_mode & 0o777 == 0o600


def test_round_trip_leaves_the_whole_root_byte_identical(node: NodePaths):
    before = snapshot(node.root)
    install(thin(node))
    assert snapshot(node.root) != before
    uninstall(node)
    assert snapshot(node.root) == before


def test_install_twice_is_idempotent_and_still_reversible(node: NodePaths):
    before = snapshot(node.root)
    first = install(thin(node))
    after_first = snapshot(node.root)
    second = install(thin(node))
    assert snapshot(node.root) == after_first
    assert first.changes and second.changes == ()
    uninstall(node)
    assert snapshot(node.root) == before
    assert uninstall(node).changes == ()  # and uninstall twice is a no-op


def test_a_replaced_file_is_backed_up_and_restored_byte_for_byte(node: NodePaths):
    bin_dir = node.root / "opt/cni/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "static").write_bytes(b"\x7fELF reference static plugin")
    os.chmod(bin_dir / "static", 0o751)
    (bin_dir / "vlan").write_bytes(b"\x7fELF reference vlan")
    before = snapshot(node.root)
    outcome = install(thin(node, plugins=("static",)))
    assert (bin_dir / "static").read_text().startswith("#!")
    assert (bin_dir / "vlan").read_bytes() == b"\x7fELF reference vlan"  # not asked: untouched
    assert any("static existed and is replaced" in w for w in outcome.warnings)
    install(thin(node, plugins=("static",)))  # the backup is still the reference plugin
    uninstall(node)
    assert snapshot(node.root) == before


def test_a_file_that_was_already_identical_is_never_removed(node: NodePaths):
    install(thin(node))
    manifest = node.manifest.read_bytes()
    ours = (node.root / "opt/cni/bin/netattach").read_bytes()
    uninstall(node)
    (node.root / "opt/cni/bin").mkdir(parents=True)
    (node.root / "opt/cni/bin/netattach").write_bytes(ours)  # someone else's identical copy
    install(thin(node))
    assert node.manifest.read_bytes() != manifest
    uninstall(node)
    assert (node.root / "opt/cni/bin/netattach").read_bytes() == ours


def test_uninstall_leaves_files_changed_since_install_unless_forced(node: NodePaths):
    before = snapshot(node.root)
    install(thin(node))
    generated = node.root / "etc/cni/net.d" / GENERATED_CONF
    generated.write_text('{"edited": "by hand"}')
    with pytest.raises(NodeInstallError, match="changed since install.*--force"):
        uninstall(node)
    assert generated.read_text() == '{"edited": "by hand"}'
    assert not (node.root / "opt/cni/bin/netattach").exists()  # the rest is undone
    uninstall(node, force=True)
    assert snapshot(node.root) == before


def test_refuses_without_a_primary_config(tmp_path: Path):
    (tmp_path / "etc/cni/net.d").mkdir(parents=True)
    before = snapshot(tmp_path)
    with pytest.raises(NodeInstallError, match="no primary CNI config in /etc/cni/net.d"):
        install(InstallOptions(paths=NodePaths(root=tmp_path)))
    assert snapshot(tmp_path) == before
    with pytest.raises(NodeInstallError, match="does not exist"):
        install(InstallOptions(paths=NodePaths(root=tmp_path / "nowhere")))


@pytest.mark.parametrize("name, match", [
    ("00-multus.conf", "Multus's config"),
    ("00-aaa.conflist", "sorts before 00-netattach.conflist"),
    (GENERATED_CONF, "did not write it"),
])
def test_refuses_when_netattach_would_not_be_used(node: NodePaths, name: str, match: str):
    (node.root / "etc/cni/net.d" / name).write_bytes(OTHER_CONF)
    before = snapshot(node.root)
    with pytest.raises(NodeInstallError, match=match):
        install(thin(node))
    assert snapshot(node.root) == before


def test_refuses_a_missing_kubeconfig_and_a_bad_primary(node: NodePaths):
    with pytest.raises(NodeInstallError, match="--kubeconfig /nope: no such file"):
        install(InstallOptions(paths=node, kubeconfig="/nope"))
    (node.root / "etc/cni/net.d/10-flannel.conflist").write_text('{"name": "x"}')
    with pytest.raises(NodeInstallError, match="cniVersion None is not one netattach speaks"):
        install(thin(node))


def test_a_conf_primary_works_too(tmp_path: Path):
    conf = tmp_path / "etc/cni/net.d"
    conf.mkdir(parents=True)
    (conf / "10-bridge.conf").write_bytes(OTHER_CONF)
    before = snapshot(tmp_path)
    install(InstallOptions(paths=NodePaths(root=tmp_path)))
    generated = json.loads((conf / GENERATED_CONF).read_bytes())
    assert generated["cniVersion"] == "0.3.1"
    assert generated["plugins"][0]["clusterNetwork"] == "/etc/cni/net.d/10-bridge.conf"
    assert "kubeconfig" not in generated["plugins"][0]
    uninstall(NodePaths(root=tmp_path))
    assert snapshot(tmp_path) == before


def test_primary_selection_is_the_daemons(node: NodePaths):
    conf = node.root / "etc/cni/net.d"
    for name in (".hidden.conf", "05-x.json", "00-netattach.conflist", "notes.txt"):
        (conf / name).write_text("{}")
    assert find_primary(conf) == conf / "05-x.json"  # the daemon imports this same rule


def test_thick_mode_installs_only_the_shim(node: NodePaths):
    before = snapshot(node.root / "etc")
    install(InstallOptions(paths=node, mode="thick"))
    assert sorted(p.name for p in (node.root / "opt/cni/bin").iterdir()) == ["netattach-shim"]
    assert snapshot(node.root / "etc") == before  # the daemon writes the config
    with pytest.raises(NodeInstallError, match="thick-mode install"):
        install(thin(node))


def _daemon_wrote_its_conflist(node: NodePaths) -> Path:
    """What `netattach daemon --cni-config-dir` writes (and keeps when it stops)."""
    from netattach.daemon.confgen import render

    conf = node.root / "etc/cni/net.d"
    target = conf / GENERATED_CONF
    target.write_bytes(render(conf / "10-flannel.conflist", socket_dir="/run/netattach",
                              network_name="netattach-cni-network"))
    return target


def test_uninstall_removes_the_daemons_conflist_first_and_not_while_it_runs(node: NodePaths):
    import socket

    before = snapshot(node.root / "etc")
    install(InstallOptions(paths=node, mode="thick"))
    generated = _daemon_wrote_its_conflist(node)
    sock_dir = node.root / "run/netattach"
    sock_dir.mkdir(parents=True)
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        daemon.bind(str(sock_dir / "netattach.sock"))
        daemon.listen(1)
        with pytest.raises(NodeInstallError, match="delete the DaemonSet first"):
            uninstall(node)
        assert generated.exists() and (node.root / "opt/cni/bin/netattach-shim").exists()
    finally:
        daemon.close()  # the daemon is gone; its socket file may stay (SIGKILL)
    outcome = uninstall(node)
    assert outcome.changes[:2] == ("removed /etc/cni/net.d/00-netattach.conflist",
                                   "removed /opt/cni/bin/netattach-shim")
    assert snapshot(node.root / "etc") == before
    assert not (node.root / "opt/cni/bin/netattach-shim").exists()


def test_uninstall_without_a_manifest_still_removes_the_daemons_conflist(node: NodePaths):
    generated = _daemon_wrote_its_conflist(node)
    (node.root / "etc/cni/net.d/01-other.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"}]}))
    outcome = uninstall(node)
    assert outcome.changes == ("removed /etc/cni/net.d/00-netattach.conflist",)
    assert "nothing else to uninstall" in outcome.warnings[-1]
    assert not generated.exists()
    assert (node.root / "etc/cni/net.d/01-other.conflist").exists()
    # a file of that name that is not the daemon's is left alone
    (node.root / "etc/cni/net.d" / GENERATED_CONF).write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "y", "plugins": [{"type": "bridge"}]}))
    assert uninstall(node).changes == ()
    assert (node.root / "etc/cni/net.d" / GENERATED_CONF).exists()


def test_cli_round_trip(node: NodePaths):
    before = snapshot(node.root)
    run = [*NETATTACH, "install", "--root", str(node.root), "--kubeconfig",
           "/etc/netattach/kubeconfig"]
    proc = subprocess.run(run, capture_output=True, text=True, check=True)
    assert f"wrote /etc/cni/net.d/{GENERATED_CONF}" in proc.stdout
    proc = subprocess.run(run, capture_output=True, text=True, check=True)
    assert "nothing changed" in proc.stdout
    subprocess.run([*NETATTACH, "uninstall", "--root", str(node.root)], check=True,
                   capture_output=True)
    assert snapshot(node.root) == before
    shutil.rmtree(node.root / "etc/cni/net.d")
    (node.root / "etc/cni/net.d").mkdir()
    proc = subprocess.run([*NETATTACH, "install", "--root", str(node.root)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "no primary CNI config" in proc.stderr and "Traceback" not in proc.stderr


# --- the runtime bundle (deploy/image/bundle-runtime.py) ----------------------------------


@pytest.mark.skipif(not all(shutil.which(t) for t in ("patchelf", "ldd", "readelf")),
                    reason="needs patchelf, ldd, readelf (apt-get install patchelf binutils)")
def test_runtime_bundle_runs_the_executables_with_its_own_loader(tmp_path: Path):
    """The image's design, end to end: bundle the interpreter with every library it needs,
    install it and the executables, run one. The bundle is built for its final path."""
    build = tmp_path / "image/opt/netattach"
    subprocess.run([sys.executable, str(ROOT / "deploy/image/bundle-runtime.py"),
                    "--root", str(tmp_path / "host/opt/netattach"), "--version", "0.0.0",
                    "--site", str(ROOT / "src/netattach")], check=True, capture_output=True)
    # the bundle was built in place; move it to play "the image" and install from there
    build.parent.mkdir(parents=True)
    shutil.move(tmp_path / "host/opt/netattach", build)
    conf = tmp_path / "host/etc/cni/net.d"
    conf.mkdir(parents=True)
    (conf / "10-flannel.conflist").write_bytes(PRIMARY_BYTES)
    paths = NodePaths(root=Path("/"), cni_bin_dir=str(tmp_path / "host/opt/cni/bin"),
                      cni_conf_dir=str(conf), state_dir=str(tmp_path / "host/var/lib/na"),
                      runtime_dir=str(tmp_path / "host/opt/netattach"))
    install(InstallOptions(paths=paths, plugins=("static",), runtime=build / "runtime"))
    bundle = (build / "runtime").resolve().name
    static = tmp_path / "host/opt/cni/bin/static"
    assert static.read_text().startswith(
        f"#!{tmp_path}/host/opt/netattach/{bundle}/bin/python3 -IS\n")
    interp = subprocess.run(["readelf", "-l", f"{paths.runtime_dir}/{bundle}/bin/python3"],
                            capture_output=True, text=True).stdout
    assert f"{paths.runtime_dir}/{bundle}/lib/ld-linux" in interp
    proc = subprocess.run([str(static)], env={"CNI_COMMAND": "VERSION"}, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "1.1.0" in json.loads(proc.stdout)["supportedVersions"]
    assert os.readlink(f"{paths.runtime_dir}/current") == bundle
    uninstall(paths)
    assert not Path(paths.runtime_dir, bundle).exists()
    assert sorted(p.name for p in conf.iterdir()) == ["10-flannel.conflist"]
