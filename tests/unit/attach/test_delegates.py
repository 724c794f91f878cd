"""check_requested_ips: the addresses a pod asked for are the ones it got."""

import pytest

from netattach.attach.delegate_cache import Delegate
from netattach.attach.delegates import check_requested_ips
from netattach.cni.config import NetConfList
from netattach.cni.errors import CNIError, Code
from netattach.cni.types import Result

CONFLIST = NetConfList.from_object({"cniVersion": "1.0.0", "name": "a-net",
                                    "plugins": [{"type": "macvlan"}, {"type": "tuning"}]})


def delegate(*ips):
    return Delegate("team-a/net-a", CONFLIST, "net1", requested_ips=ips)


def result(*addresses):
    return Result.from_json({"cniVersion": "1.0.0",
                             "ips": [{"address": a} for a in addresses]})


@pytest.mark.parametrize("requested,got", [
    ((), ()),
    ((), ("192.0.2.9/24",)),                         # nothing asked: anything goes
    (("192.0.2.5/24",), ("192.0.2.5/24",)),
    (("192.0.2.5",), ("192.0.2.5/24",)),             # a bare IP is the same request
    (("192.0.2.5/32",), ("192.0.2.5/24",)),          # the prefix is not compared
    (("2001:db8::5/64", "192.0.2.5/24"), ("192.0.2.5/24", "2001:db8:0::5/64")),
])
def test_requested_ips_honoured(requested, got):
    check_requested_ips(delegate(*requested), result(*got))


@pytest.mark.parametrize("requested,got,shown", [
    (("192.0.2.5/24",), ("192.0.2.6/24",), "192.0.2.6"),
    (("192.0.2.5/24",), (), "no address"),
    (("192.0.2.5/24", "2001:db8::5/64"), ("192.0.2.5/24",), "192.0.2.5"),
])
def test_requested_ips_ignored_is_refused(requested, got, shown):
    with pytest.raises(CNIError) as e:
        check_requested_ips(delegate(*requested), result(*got))
    assert e.value.code == Code.INTERNAL
    assert e.value.msg == f"requested ips {', '.join(requested)} but the attachment got {shown}"
    assert e.value.details.startswith("network team-a/net-a (plugins macvlan, tuning) ignored "
                                      "the request")
