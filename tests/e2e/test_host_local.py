"""host-local: our executable against the reference Go plugin on one shared store.

Real executables, real files, real exit codes; addresses from the documentation ranges.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

GO = Path("/usr/lib/cni/host-local")


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Path:
    bindir = tmp_path_factory.mktemp("bin")
    subprocess.run([sys.executable, "-m", "netattach", "install-bin", str(bindir)], check=True,
                   capture_output=True)
    return bindir / "host-local"


def conf(data_dir, version="1.0.0", **ipam):
    ipam = {"type": "host-local", "dataDir": str(data_dir),
            "ranges": [[{"subnet": "192.0.2.0/28"}], [{"subnet": "2001:db8::/124"}]], **ipam}
    return json.dumps({"cniVersion": version, "name": "hl-net", "ipam": ipam}).encode()


def cni(binary, command, stdin, cid="c1", ifname="eth0", args="", extra=None):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/none",
           "CNI_IFNAME": ifname, "CNI_PATH": "/usr/lib/cni", "CNI_ARGS": args,
           "PATH": os.environ["PATH"], **(extra or {})}
    proc = subprocess.run([str(binary)], input=stdin, env=env, capture_output=True)
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, out


def addrs(result):
    return [ip["address"] for ip in result["ips"]]


def store_files(data_dir):
    return sorted(p.name for p in (data_dir / "hl-net").iterdir())


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_results_as_reference(ours, tmp_path, version):
    for binary, sub in ((GO, "go"), (ours, "py")):
        d = tmp_path / sub
        results = [cni(binary, "ADD", conf(d, version, routes=[{"dst": "0.0.0.0/0"}]),
                       cid=f"c{i}") for i in range(3)]
        assert all(rc == 0 for rc, _ in results)
        if sub == "go":
            expected = [r for _, r in results]
        else:
            assert [r for _, r in results] == expected
    assert store_files(tmp_path / "go") == store_files(tmp_path / "py")
    for name in store_files(tmp_path / "go"):
        assert (tmp_path / "go" / "hl-net" / name).read_bytes() == \
            (tmp_path / "py" / "hl-net" / name).read_bytes()


def test_shared_store_interoperates(ours, tmp_path):
    c = conf(tmp_path)
    assert addrs(cni(GO, "ADD", c, cid="go1")[1]) == ["192.0.2.2/28", "2001:db8::2/124"]
    # ours continues the round robin from the Go plugin's last_reserved_ip
    assert addrs(cni(ours, "ADD", c, cid="py1")[1]) == ["192.0.2.3/28", "2001:db8::3/124"]
    assert addrs(cni(GO, "ADD", c, cid="go2")[1]) == ["192.0.2.4/28", "2001:db8::4/124"]
    # each releases what the other allocated
    assert cni(ours, "DEL", c, cid="go1") == (0, None)
    assert cni(GO, "DEL", c, cid="py1") == (0, None)
    assert store_files(tmp_path) == ["192.0.2.4", "2001:db8::4", "last_reserved_ip.0",
                                     "last_reserved_ip.1", "lock"]
    # CHECK agrees on both sides
    assert cni(ours, "CHECK", c, cid="go2")[0] == 0
    rc, err = cni(ours, "CHECK", c, cid="gone")
    assert rc == 1 and "Failed to find address added by container gone" in err["msg"]


def test_requested_ip_gateway_and_duplicates(ours, tmp_path):
    c = conf(tmp_path)
    rc, out = cni(ours, "ADD", c, cid="a", args="IgnoreUnknown=1;K8S_POD_NAME=p;IP=192.0.2.9")
    assert rc == 0 and addrs(out)[0] == "192.0.2.9/28"
    rc, err = cni(ours, "ADD", c, cid="b", args="IP=192.0.2.9")
    assert rc == 1 and "192.0.2.9 is not available" in err["msg"] and "held by a" in err["details"]
    rc, err = cni(ours, "ADD", c, cid="b", args="IP=192.0.2.1")
    assert rc == 1 and "is subnet's gateway" in err["msg"]
    rc, err = cni(ours, "ADD", c, cid="b", args="IP=203.0.113.5")
    assert rc == 1 and "failed to allocate all requested IPs: 203.0.113.5" in err["msg"]
    rc, err = cni(ours, "ADD", c, cid="a")
    assert rc == 1 and "duplicate allocation is not allowed" in err["msg"]
    # nothing of the failed ADDs stays behind
    assert [f for f in store_files(tmp_path) if f[0].isdigit()] == ["192.0.2.9", "2001:db8::2"]


def test_exhaustion_and_wrap_around(ours, tmp_path):
    c = conf(tmp_path, ranges=[[{"subnet": "192.0.2.0/29", "rangeStart": "192.0.2.2",
                                 "rangeEnd": "192.0.2.4"}]])
    got = [addrs(cni(ours, "ADD", c, cid=f"c{i}")[1])[0] for i in range(3)]
    assert got == ["192.0.2.2/29", "192.0.2.3/29", "192.0.2.4/29"]
    rc, err = cni(ours, "ADD", c, cid="c9")
    assert rc == 1 and "no IP addresses available in range set: 192.0.2.2-192.0.2.4" in err["msg"]
    cni(ours, "DEL", c, cid="c0")
    assert addrs(cni(ours, "ADD", c, cid="c9")[1]) == ["192.0.2.2/29"]


@pytest.mark.parametrize("ipam,fragment", [
    ({"ranges": []}, "no IP ranges specified"),
    ({"ranges": [[{"subnet": "192.0.2.1/24"}]]}, "network has host bits set"),
    ({"ranges": [[{"subnet": "192.0.2.0/31"}]]}, "too small to allocate from"),
    ({"ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": "198.51.100.1"}]]}, "not in network"),
    ({"ranges": [[{"subnet": "192.0.2.0/24"}, {"subnet": "2001:db8::/64"}]]},
     "mixed address families"),
    ({"ranges": [[{"subnet": "192.0.2.0/24"}], [{"subnet": "192.0.2.0/25"}]]}, "overlaps"),
])
def test_config_errors_same_code_as_reference(ours, tmp_path, ipam, fragment):
    c = conf(tmp_path, **ipam)
    rc_go, err_go = cni(GO, "ADD", c)
    rc_py, err_py = cni(ours, "ADD", c)
    assert rc_go == rc_py == 1 and err_go["code"] == err_py["code"]
    assert fragment in err_py["msg"] and err_py["details"]


def test_64_parallel_adds_get_distinct_ips(ours, tmp_path):
    c = conf(tmp_path, ranges=[[{"subnet": "198.51.100.0/24"}]])
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: cni(ours, "ADD", c, cid=f"par{i}"), range(64)))
    assert all(rc == 0 for rc, _ in results)
    ips = {addrs(r)[0] for _, r in results}
    assert len(ips) == 64


def test_gc_frees_exactly_the_stale_allocations(ours, tmp_path):
    c = conf(tmp_path, "1.1.0")
    for cid in ("keep", "stale1", "stale2"):
        assert cni(ours, "ADD", c, cid=cid)[0] == 0
    gc = json.loads(c)
    gc["cni.dev/valid-attachments"] = [{"containerID": "keep", "ifname": "eth0"}]
    rc, _ = cni(ours, "GC", json.dumps(gc).encode(), cid="", ifname="")
    assert rc == 0
    assert [f for f in store_files(tmp_path) if f[0].isdigit()] == ["192.0.2.2", "2001:db8::2"]
    assert (tmp_path / "hl-net" / "192.0.2.2").read_bytes() == b"keep\r\neth0"


def test_dns_from_resolv_conf(ours, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# comment\nnameserver 192.0.2.53\nsearch a.test b.test\ndomain a.test\n"
                      "options ndots:2\n;x\n")
    c = conf(tmp_path, resolvConf=str(resolv))
    assert cni(ours, "ADD", c)[1]["dns"] == cni(GO, "ADD", c, cid="c2")[1]["dns"] == {
        "nameservers": ["192.0.2.53"], "domain": "a.test", "search": ["a.test", "b.test"],
        "options": ["ndots:2"]}


# Runs argv[2:] in a private mount namespace with argv[1] bound over /var/lib, so a plugin
# that wrongly falls back to the default store (/var/lib/cni/networks) writes there instead.
_OWN_VAR_LIB = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for ok in (libc.unshare(0x00020000) == 0,                                # CLONE_NEWNS
           libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) == 0,  # MS_REC|MS_PRIVATE
           libc.mount(sys.argv[1].encode(), b"/var/lib", None, 0x1000, None) == 0):  # MS_BIND
    if not ok:
        raise OSError(ctypes.get_errno(), "mount namespace")
os.execv(sys.argv[2], sys.argv[2:])
"""


def cni_own_var_lib(var_lib, binary, command, stdin, cid="c1", ifname="eth0"):
    """`cni()` with /var/lib replaced by the directory `var_lib` for this one call."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/none",
           "CNI_IFNAME": ifname, "CNI_PATH": "/usr/lib/cni", "PATH": os.environ["PATH"]}
    proc = subprocess.run([sys.executable, "-c", _OWN_VAR_LIB, str(var_lib), str(binary)],
                          input=stdin, env=env, capture_output=True)
    assert b"Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None


@pytest.mark.parametrize("data_dir", [False, 0, [], {}, 5, ["/tmp"], "a\u0000b"])
def test_gc_and_status_refuse_the_data_dirs_add_refuses(ours, tmp_path, data_dir):
    """A dataDir ADD refuses never makes GC or STATUS fall back to the default store."""
    var_lib = tmp_path / "var-lib"
    var_lib.mkdir()
    c = json.loads(conf(tmp_path, "1.1.0"))
    c["ipam"]["dataDir"] = data_dir
    c["cni.dev/valid-attachments"] = []
    stdin = json.dumps(c).encode()
    rc, add = cni_own_var_lib(var_lib, ours, "ADD", stdin)
    assert rc == 1 and add["msg"] == "ipam.dataDir and ipam.resolvConf must be strings", add
    for verb in ("GC", "STATUS"):
        assert cni_own_var_lib(var_lib, ours, verb, stdin, cid="", ifname="") == (1, add), verb
    assert list(var_lib.iterdir()) == []  # the default store was never touched


def test_gc_status_need_ipam_like_add_and_del_creates_nothing(ours, tmp_path):
    var_lib = tmp_path / "var-lib"
    var_lib.mkdir()
    bare = json.dumps({"cniVersion": "1.1.0", "name": "hl-net", "type": "host-local"}).encode()
    rc, add = cni_own_var_lib(var_lib, ours, "ADD", bare)
    assert rc == 1 and add["msg"] == "IPAM config missing 'ipam' key"
    for verb in ("GC", "STATUS"):
        assert cni_own_var_lib(var_lib, ours, verb, bare, cid="", ifname="") == (1, add), verb
    assert list(var_lib.iterdir()) == []
    c = conf(tmp_path / "hl", "1.1.0")
    for verb, cid in (("DEL", "c1"), ("GC", ""), ("CHECK", "c1")):
        rc, _ = cni(ours, verb, c, cid=cid, ifname="eth0" if cid else "")
        assert rc == (1 if verb == "CHECK" else 0), verb
    assert not (tmp_path / "hl").exists()  # releasing nothing leaves nothing behind


def test_a_file_as_data_dir_is_a_plugin_error(ours, tmp_path):
    (tmp_path / "file").write_text("")
    c = conf(tmp_path / "file")
    rc, err = cni(ours, "ADD", c)
    assert rc == 1 and "cannot use the store" in err["msg"], err
    assert "ipam.dataDir must name a directory" in err["details"]
    assert cni(ours, "DEL", c) == (0, None)  # no allocation can be under a file
