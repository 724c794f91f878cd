"""host-local's store in a temp dir: the Go plugin's file layout, reserve/release, owners."""

import fcntl
import ipaddress
import os
import stat

import pytest

from netattach.ipam.hostlocal.store import Allocation, Store


def ip(text):
    return ipaddress.ip_address(text)


@pytest.fixture
def store(tmp_path):
    with Store("hl-net", str(tmp_path)) as s:
        yield s


def test_layout_is_the_go_plugins(store, tmp_path):
    assert store.dir == tmp_path / "hl-net"
    assert store.reserve(" cid-1 ", "net1", ip("192.0.2.5"), 0)
    assert store.reserve("cid-2", "eth0", ip("2001:db8::5"), 1)
    assert (store.dir / "192.0.2.5").read_bytes() == b"cid-1\r\nnet1"
    assert (store.dir / "2001:db8::5").read_bytes() == b"cid-2\r\neth0"
    assert (store.dir / "last_reserved_ip.0").read_text() == "192.0.2.5"
    assert (store.dir / "last_reserved_ip.1").read_text() == "2001:db8::5"
    assert sorted(os.listdir(store.dir)) == ["192.0.2.5", "2001:db8::5", "last_reserved_ip.0",
                                             "last_reserved_ip.1", "lock"]
    for name in ("192.0.2.5", "last_reserved_ip.0", "lock"):
        assert stat.S_IMODE((store.dir / name).stat().st_mode) == 0o600


def test_reserve_twice_refused(store):
    assert store.reserve("cid-1", "net1", ip("192.0.2.5"), 0)
    assert not store.reserve("cid-2", "net1", ip("192.0.2.5"), 0)
    assert (store.dir / "192.0.2.5").read_bytes() == b"cid-1\r\nnet1"  # the holder kept it
    assert store.last_reserved(0) == ip("192.0.2.5")


def test_last_reserved(store):
    assert store.last_reserved(0) is None
    store.reserve("cid-1", "net1", ip("192.0.2.5"), 0)
    store.reserve("cid-1", "net1", ip("192.0.2.9"), 0)
    assert store.last_reserved(0) == ip("192.0.2.9")
    assert store.last_reserved(1) is None
    (store.dir / "last_reserved_ip.1").write_text("garbage")
    assert store.last_reserved(1) is None
    (store.dir / "last_reserved_ip.2").write_text("198.51.100.7\n")  # Go tolerates whitespace
    assert store.last_reserved(2) == ip("198.51.100.7")


def test_release_and_by_owner(store):
    store.reserve("cid-1", "net1", ip("192.0.2.5"), 0)
    store.reserve("cid-1", "net1", ip("2001:db8::5"), 1)
    store.reserve("cid-1", "net2", ip("192.0.2.6"), 0)
    store.reserve("cid-2", "net1", ip("192.0.2.7"), 0)
    assert sorted(map(str, store.by_owner("cid-1", "net1"))) == ["192.0.2.5", "2001:db8::5"]
    assert store.by_owner(" cid-1 ", "net2") == [ip("192.0.2.6")]
    assert store.by_owner("cid-3", "net1") == []
    store.release(ip("192.0.2.5"))
    store.release(ip("192.0.2.5"))  # twice is fine
    assert store.by_owner("cid-1", "net1") == [ip("2001:db8::5")]
    assert sorted(map(str, store.release_owner("cid-1", "net1"))) == ["2001:db8::5"]
    assert [a.ip for a in store.allocations()] == [ip("192.0.2.6"), ip("192.0.2.7")]
    assert store.release_owner("cid-1", "net1") == []


def test_release_owner_falls_back_to_legacy_id_only_files(store):
    (store.dir / "192.0.2.5").write_text("cid-1")  # written by an old plugin version
    (store.dir / "192.0.2.6").write_text("cid-1\r\nnet9")
    assert list(store.allocations()) == [Allocation(ip("192.0.2.5"), "cid-1", ""),
                                         Allocation(ip("192.0.2.6"), "cid-1", "net9")]
    assert store.release_owner("cid-1", "net1") == [ip("192.0.2.5")]
    assert [a.ip for a in store.allocations()] == [ip("192.0.2.6")]
    # with a file of its own, the legacy one is not touched
    (store.dir / "192.0.2.5").write_text("cid-1")
    assert store.release_owner("cid-1", "net9") == [ip("192.0.2.6")]
    assert [a.ip for a in store.allocations()] == [ip("192.0.2.5")]


def test_corrupt_and_foreign_files(store):
    (store.dir / "README").write_text("not an allocation")
    (store.dir / "192.0.2.300").write_text("cid-x\r\nnet1")  # not an address
    (store.dir / "192.0.2.8").mkdir()  # a directory named like an address
    (store.dir / "192.0.2.9").write_bytes(b"\xff\xfe\x00garbage")
    (store.dir / "192.0.2.10").write_bytes(b"  cid-3 \r\n net1 \n")
    assert list(store.allocations()) == [
        Allocation(ip("192.0.2.10"), "cid-3", "net1"),
        Allocation(ip("192.0.2.9"), "\ufffd\ufffd\x00garbage", "")]
    assert store.by_owner("cid-3", "net1") == [ip("192.0.2.10")]
    # whatever is there, an address whose name is taken is not handed out
    assert not store.reserve("cid-1", "net1", ip("192.0.2.8"), 0)
    assert not store.reserve("cid-1", "net1", ip("192.0.2.9"), 0)
    assert store.release_owner("cid-1", "net1") == []
    assert (store.dir / "README").exists()


def test_allocations_of_a_missing_dir(tmp_path):
    assert list(Store("never-made", str(tmp_path)).allocations()) == []


def test_the_lock_is_held_while_open(tmp_path):
    with Store("hl-net", str(tmp_path)) as s:
        fd = os.open(s.dir / "lock", os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(tmp_path / "hl-net" / "lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on exit
    finally:
        os.close(fd)
