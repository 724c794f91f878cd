"""Path settings of the plugins: a NUL character is a config error naming the key, never a
ValueError out of the file system calls ("this is a bug")."""

from __future__ import annotations

import pytest

from netattach.cni.errors import CNIError, Code
from netattach.cni.request import request_from_conf
from netattach.plugins import tuning, vlan

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/absent",
       "CNI_IFNAME": "net1"}


@pytest.mark.parametrize("module,raw,key", [
    (tuning, {"type": "tuning", "dataDir": "/run/cni/\0tuning"}, "dataDir"),
    (vlan, {"type": "vlan", "master": "eth9", "vlanId": 5, "shared": True,
            "sharedStateDir": "/run/\0netattach"}, "sharedStateDir"),
])
def test_a_nul_in_a_path_is_refused_naming_the_key(module, raw, key):
    request = request_from_conf(ENV, {"cniVersion": "1.0.0", "name": "n", **raw})
    with pytest.raises(CNIError) as e:
        module.load_conf(request)
    assert (e.value.code, e.value.msg) == (Code.INTERNAL, f"{key} contains a NUL character")
    clean = {k: (v.replace("\0", "") if isinstance(v, str) else v) for k, v in raw.items()}
    module.load_conf(request_from_conf(ENV, {"cniVersion": "1.0.0", "name": "n", **clean}))
