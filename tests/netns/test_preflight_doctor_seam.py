"""The pre-ADD checks (attach.preflight) run doctor's checks; a broken seam between them is
swallowed at ADD time ("pre-ADD checks skipped" in the log), so test it directly."""

from __future__ import annotations

import pytest

from netattach.attach.delegate_cache import Delegate, PodAttachments
from netattach.attach.networks import as_conflist
from netattach.attach.preflight import check_before_add
from netattach.linux import run_in_netns

pytestmark = pytest.mark.root


def test_check_before_add_reports_a_missing_master(netns_factory) -> None:
    node = netns_factory.make_netns("node")
    conf = as_conflist({"cniVersion": "1.0.0", "name": "mv", "type": "macvlan",
                        "master": "enp99s0", "ipam": {"type": "static"}})
    att = PodAttachments("c" * 64, node.path, "default", "p", "uid", (
        Delegate("default/mv", conf, "net1"),))
    [f] = run_in_netns(node.path, check_before_add, att)
    assert (f.id, f.severity, f.nad) == ("master-missing", "error", "default/mv")
