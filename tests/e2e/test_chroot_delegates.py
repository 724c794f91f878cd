"""External delegates run in the host's filesystem (`chrootDir`, as Multus's).

The test builds a "host root" directory: busybox, a stand-in for an external cluster
network plugin at the host's /opt/cni/bin, and a file only that root has (like Calico's
/var/lib/calico/nodename). The stand-in succeeds only when it can read that file, and
logs each call into the host root. The cluster network is a conflist of the stand-in;
the secondary network is the built-in macvlan, which still runs in process. Thin mode
takes `chrootDir` from the CNI config, thick mode from the daemon config.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from tests.e2e.conftest import E2E, MODES

from netattach.cni.errors import CNIError
from netattach.cni.invoke import ExecExecutor

BUSYBOX = "/bin/busybox"
HOST_MAC = "02:00:cb:00:71:07"  # what the host's file says; nothing else has it
STANDIN = """#!/bin/busybox sh
# A stand-in for an external cluster-network plugin (Calico, flannel, ...): it needs a
# file of the host's, and answers like a CNI plugin.
if ! read -r mac < /var/lib/standin/mac; then
    printf '{"cniVersion": "1.0.0", "code": 100, "msg": "standin: no /var/lib/standin/mac"}'
    exit 1
fi
echo "$CNI_COMMAND $CNI_CONTAINERID" >> /var/log/standin/calls || exit 3
if [ "$CNI_COMMAND" = ADD ]; then
    printf '{"cniVersion": "1.0.0", "interfaces": [{"name": "%s", "mac": "%s",' "$CNI_IFNAME" "$mac"
    printf ' "sandbox": "%s"}],' "$CNI_NETNS"
    printf ' "ips": [{"address": "203.0.113.7/24", "interface": 0}]}'
fi
exit 0
"""
STANDIN_IPAM = """#!/bin/busybox sh
# A stand-in for an external IPAM (whereabouts, ...) that needs a file of the host's.
read -r mac < /var/lib/standin/mac || exit 4
echo "IPAM $CNI_COMMAND $CNI_CONTAINERID" >> /var/log/standin/calls || exit 3
if [ "$CNI_COMMAND" = ADD ]; then
    printf '{"cniVersion": "1.0.0", "ips": [{"address": "198.51.100.8/24"}]}'
fi
exit 0
"""


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A directory standing in for the host's / as the daemon mounts it (/hostroot)."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    root = tmp_path / "hostroot"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    _executable(root / "opt/cni/bin/standin", STANDIN)
    _executable(root / "opt/cni/bin/standin-ipam", STANDIN_IPAM)
    (root / "var/lib/standin").mkdir(parents=True)
    (root / "var/lib/standin/mac").write_text(HOST_MAC + "\n")
    (root / "var/log/standin").mkdir(parents=True)
    assert not Path("/opt/cni/bin/standin").exists()
    assert not Path("/var/lib/standin").exists()
    return root  # under tmp_path: removed with it


def _calls(root: Path) -> list[str]:
    path = root / "var/log/standin/calls"
    return path.read_text().splitlines() if path.exists() else []


def _standin_cluster(e2e: E2E) -> Path:
    path = e2e.confdir / "20-standin.conflist"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "standin-net",
                                "plugins": [{"type": "standin"}]}))
    return path


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_external_cluster_network_runs_in_the_host_root(e2e: E2E, host_root: Path) -> None:
    cluster = _standin_cluster(e2e)
    e2e.add_nad("mv", e2e.macvlan_conf("mv"))
    pod = e2e.sandbox("chrooted", networks=[{"name": "mv", "ips": ["198.51.100.7/24"]}])
    conf = e2e.meta_config(clusterNetwork=str(cluster), binDir="/opt/cni/bin")
    if e2e.daemon is None:
        conf["chrootDir"] = str(host_root)  # thin: the meta plugin's own config
    else:
        e2e.reconfigure_daemon({"chrootDir": str(host_root)})  # thick: the daemon's

    rc, out = e2e.run_cni("ADD", pod, config=conf)

    assert rc == 0, (out, e2e.logs()[-3000:])
    # the stand-in read the host's file: its result carries the host's MAC
    assert out["interfaces"] == [{"name": "eth0", "mac": HOST_MAC, "sandbox": pod.netns.path}]
    assert _calls(host_root) == [f"ADD {pod.container_id}"]
    # the built-in macvlan ran in process, in the pod, as without chrootDir
    assert e2e.addresses(pod.netns, "net1") == ["198.51.100.7/24"]
    status = e2e.network_status(pod)
    assert [(s["name"], s["interface"], s.get("mac")) for s in status] == [
        ("standin-net", "eth0", HOST_MAC),
        ("default/mv", "net1", e2e.mac(pod.netns, "net1"))]

    rc, out = e2e.run_cni("DEL", pod, config=conf)
    assert (rc, out) == (0, None), e2e.logs()[-3000:]
    assert _calls(host_root) == [f"ADD {pod.container_id}", f"DEL {pod.container_id}"]
    assert e2e.links(pod.netns) == {"lo"}
    assert pod.container_id not in e2e.delegate_caches()


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_external_ipam_of_a_builtin_runs_in_the_host_root(e2e: E2E, host_root: Path) -> None:
    """macvlan runs in process; the IPAM it delegates to is exec'd chrooted too."""
    cluster = _standin_cluster(e2e)
    e2e.add_nad("mv", e2e.macvlan_conf("mv", ipam={"type": "standin-ipam"}))
    pod = e2e.sandbox("rooted-ipam", networks="mv")
    conf = e2e.meta_config(clusterNetwork=str(cluster), binDir="/opt/cni/bin")
    if e2e.daemon is None:
        conf["chrootDir"] = str(host_root)
    else:
        e2e.reconfigure_daemon({"chrootDir": str(host_root)})

    rc, out = e2e.run_cni("ADD", pod, config=conf)

    assert rc == 0, (out, e2e.logs()[-3000:])
    assert e2e.addresses(pod.netns, "net1") == ["198.51.100.8/24"]
    assert _calls(host_root) == [f"ADD {pod.container_id}", f"IPAM ADD {pod.container_id}"]
    assert e2e.run_cni("DEL", pod, config=conf)[0] == 0
    assert _calls(host_root)[2:] == [f"IPAM DEL {pod.container_id}", f"DEL {pod.container_id}"]


@pytest.mark.parametrize("e2e", MODES, indirect=True)
def test_without_chroot_dir_the_host_plugin_is_not_found(e2e: E2E, host_root: Path) -> None:
    cluster = _standin_cluster(e2e)
    pod = e2e.sandbox("unrooted")
    conf = e2e.meta_config(clusterNetwork=str(cluster), binDir="/opt/cni/bin")

    rc, out = e2e.run_cni("ADD", pod, config=conf)

    assert rc == 1, out
    assert "failed to find plugin 'standin'" in out["msg"], out
    assert _calls(host_root) == []
    assert e2e.links(pod.netns) == {"lo"}


# -- the executor on its own (root: chroot needs CAP_SYS_CHROOT) ------------------------------
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cid-x", "CNI_NETNS": "/run/netns/none",
       "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")


def test_the_standin_fails_outside_the_host_root(as_root: None, host_root: Path) -> None:
    """The control: the same script run from this filesystem cannot read the host's file."""
    with pytest.raises(CNIError) as info:
        ExecExecutor(timeout=10).execute("standin", ENV, b"{}", [str(host_root / "opt/cni/bin")])
    assert info.value.code == 100 and "no /var/lib/standin/mac" in info.value.msg


def test_absolute_symlinks_resolve_inside_the_host_root(as_root: None, host_root: Path) -> None:
    """/opt/cni/bin/standin -> /usr/libexec/cni/standin is the host's /usr/libexec."""
    real = host_root / "usr/libexec/cni/standin"
    real.parent.mkdir(parents=True)
    (host_root / "opt/cni/bin/standin").rename(real)
    (host_root / "opt/cni/bin/standin").symlink_to("/usr/libexec/cni/standin")
    out = ExecExecutor(timeout=10, chroot_dir=str(host_root)).execute(
        "standin", ENV, b"{}", ["/opt/cni/bin"])
    assert out["interfaces"][0]["mac"] == HOST_MAC


def test_chroot_errors_name_the_directory_and_the_fix(as_root: None, host_root: Path,
                                                      tmp_path: Path) -> None:
    missing = tmp_path / "no-such-root"
    with pytest.raises(CNIError) as info:
        ExecExecutor(chroot_dir=str(missing)).execute("standin", ENV, b"{}", ["/opt/cni/bin"])
    assert f"chrootDir {missing} does not exist" in info.value.msg
    assert "mount the host's /" in info.value.details
    with pytest.raises(CNIError) as info:
        ExecExecutor(chroot_dir="hostroot").execute("standin", ENV, b"{}", ["/opt/cni/bin"])
    assert "not an absolute path" in info.value.msg
    with pytest.raises(CNIError) as info:
        ExecExecutor(chroot_dir=str(host_root)).execute("calico", ENV, b"{}", ["/opt/cni/bin"])
    assert info.value.msg == (f"failed to find plugin 'calico' in path [/opt/cni/bin] under "
                              f"chrootDir {host_root}")
    # found on the host, but its interpreter is not there: chroot(8)'s error, explained
    _executable(host_root / "opt/cni/bin/needs-sh", "#!/bin/sh\nexit 0\n")
    with pytest.raises(CNIError) as info:
        ExecExecutor(chroot_dir=str(host_root)).execute("needs-sh", ENV, b"{}",
                                                        ["/opt/cni/bin"])
    assert info.value.msg.startswith(f"cannot execute plugin /opt/cni/bin/needs-sh (chrootDir "
                                     f"{host_root}): chroot: failed to run command")
    assert "interpreter" in info.value.details
