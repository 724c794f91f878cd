"""Pure helpers of netattach.linux (no root, no kernel)."""

from __future__ import annotations

import errno
import re
import struct
import subprocess
import sys

import pytest

from netattach.linux import (
    AddressExists,
    LinkExists,
    LinkNotFound,
    NetlinkOperationError,
    NetnsError,
    NetnsNotFound,
    RouteExists,
    error_from_errno,
    temp_link_name,
    validate_ifname,
)
from netattach.linux import _rtnl as r
from netattach.linux.records import scope_value
from netattach.linux.sysctl import sysctl_path


def test_temp_link_name_shape_and_randomness():
    names = {temp_link_name() for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"veth[0-9a-f]{8}", n) for n in names)
    assert temp_link_name("mv").startswith("mv") and len(temp_link_name("mv")) == 10
    with pytest.raises(ValueError):
        temp_link_name("toolongpfx")


@pytest.mark.parametrize("name", ["eth0", "net1", "vlan.100", "a" * 15, "br-x_y"])
def test_valid_ifnames(name):
    validate_ifname(name)


@pytest.mark.parametrize("name", ["", "a" * 16, ".", "..", "a/b", "a b", "a:b", "a\tb"])
def test_invalid_ifnames(name):
    with pytest.raises(ValueError):
        validate_ifname(name)


@pytest.mark.parametrize(
    ("code", "what", "cls"),
    [
        (errno.EEXIST, "link", LinkExists),
        (-errno.EEXIST, "vlan link", LinkExists),
        (errno.EEXIST, "address", AddressExists),
        (errno.EEXIST, "route", RouteExists),
        (errno.ENODEV, "link", LinkNotFound),
        (errno.ENOENT, "netns", NetnsNotFound),
        (errno.EPERM, "netns", NetnsError),
        (errno.EOPNOTSUPP, "link", NetlinkOperationError),
    ],
)
def test_errno_mapping(code, what, cls):
    err = error_from_errno(code, op="create", obj="net1", what=what, where="on parent 'eth0'",
                           detail="kernel says no")
    assert type(err) is cls
    assert err.errno == abs(code)
    assert err.obj == "net1"
    text = str(err)
    assert "net1" in text and "on parent 'eth0'" in text and "kernel says no" in text


def test_sysctl_keys_are_restricted_to_net():
    assert sysctl_path("net/ipv4/conf/vlan.100/arp_notify") == \
        "/proc/sys/net/ipv4/conf/vlan.100/arp_notify"
    for bad in ("kernel/hostname", "net/../kernel/x", "net", "net//x"):
        with pytest.raises(ValueError):
            sysctl_path(bad)


def test_scope_value():
    assert scope_value("link") == 253 and scope_value("host") == 254
    assert scope_value(None) is None and scope_value(200) == 200
    with pytest.raises(ValueError):
        scope_value("galaxy")


def test_attribute_encoding_is_padded_and_nested():
    a = r.nested(r.IFLA_LINKINFO, [r.string(r.IFLA_INFO_KIND, "vlan"),
                                   r.nested(r.IFLA_INFO_DATA, [r.u16(r.IFLA_VLAN_ID, 100)])])
    data = a.encode()
    assert len(data) % 4 == 0
    length, atype = struct.unpack_from("=HH", data)
    assert (length, atype) == (len(data), r.IFLA_LINKINFO)
    assert b"vlan\0" in data
    assert r.mac_bytes("02:00:00:00:00:01") == bytes([2, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError):
        r.mac_bytes("02:00:00:00:01")


def test_parse_ack_with_extack_message():
    seq = 7
    inner = struct.pack("=IHHII", 32, r.RTM_NEWLINK, 5, seq, 0)
    msg = b"Unknown device type\0"
    tlv = struct.pack("=HH", 4 + len(msg), r.NLMSGERR_ATTR_MSG) + msg
    tlv += b"\0" * (-len(tlv) % 4)
    body = struct.pack("=i", -errno.EOPNOTSUPP) + inner + tlv
    hdr = struct.pack("=IHHII", 16 + len(body), r.NLMSG_ERROR,
                      r.NLM_F_CAPPED | r.NLM_F_ACK_TLVS, seq, 0)
    assert r.parse_ack(hdr + body, seq) == (errno.EOPNOTSUPP, "Unknown device type")
    ok = struct.pack("=IHHII", 36, r.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", 0) + inner
    assert r.parse_ack(ok, seq) == (0, "")


def test_importing_the_package_does_not_import_pyroute2():
    code = "import sys, netattach.linux; print('pyroute2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
