"""`netattach explain POD` end to end: a real ADD through the installed executable in the
node namespace, then explain run there too, against the test API server (or cache-only).

Each test breaks one thing the way it breaks on a node (an interface deleted by hand, a NAD
deleted after the ADD, a pod never added here) and checks the table, the JSON, the finding
with its fix, and the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.conftest import E2E, Sandbox

FIELD_REPORT = [{"name": "vlan100-conf", "ips": ["192.0.2.211/24"]},
                {"name": "vlan200-conf", "ips": ["198.51.100.211/24"]}]


def _nads(e2e: E2E) -> None:
    e2e.add_nad("vlan100-conf", e2e.macvlan_conf("vlan100-conf", master=0))
    e2e.add_nad("vlan200-conf", e2e.macvlan_conf("vlan200-conf", master=1))


def _added_pod(e2e: E2E, name: str = "vlan-multi") -> Sandbox:
    _nads(e2e)
    pod = e2e.sandbox(name, networks=FIELD_REPORT)
    rc, out = e2e.run_cni("ADD", pod)
    assert rc == 0, (out, e2e.last_stderr)
    return pod


def explain(e2e: E2E, pod: Sandbox, *args: str, api: bool = True, config: bool = True
            ) -> tuple[int, str, str]:
    """Run `netattach explain` in the node namespace, with the meta config as --config
    (without it: --cni-dir only)."""
    path = e2e.tmp / "00-netattach.conflist"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "netattach-cni-network",
                                "plugins": [e2e.meta_config()]}))
    argv = [sys.executable, "-m", "netattach", "explain", f"{pod.namespace}/{pod.name}",
            *(["--config", str(path)] if config else ["--cni-dir", str(e2e.cni_dir)]), *args]
    argv += ["--kubeconfig", str(e2e.api.kubeconfig_path)] if api else ["--no-api"]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run(["ip", "netns", "exec", e2e.node.name, *argv], capture_output=True,
                          text=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def explain_json(e2e: E2E, pod: Sandbox, api: bool = True, config: bool = True
                 ) -> tuple[int, dict]:
    rc, out, err = explain(e2e, pod, "-o", "json", api=api, config=config)
    assert rc in (0, 1), err
    return rc, json.loads(out)


def _row(doc: dict, ifname: str) -> dict:
    return next(a for a in doc["attachments"] if a["interface"] == ifname)


def _finding(doc: dict, fid: str) -> dict:
    found = [f for f in doc["findings"] if f["id"] == fid]
    assert len(found) == 1, doc["findings"]
    return found[0]


def test_healthy_pod_matches(e2e):
    pod = _added_pod(e2e)

    rc, out, err = explain(e2e, pod)

    assert rc == 0, out + err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NETWORK"))
    assert lines[header].split() == ["NETWORK", "INTERFACE", "TYPE", "NAD", "CACHE", "IN",
                                     "POD", "NODE", "STATUS", "PROBLEM"]
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert rows == [
        ["e2e-cluster", "eth0", "ptp", "file", "ok", "up", "ok", "ok", "-"],
        ["default/vlan100-conf", "net1", "macvlan", "found", "ok", "up", "ok", "ok", "-"],
        ["default/vlan200-conf", "net2", "macvlan", "found", "ok", "up", "ok", "ok", "-"]]
    assert f"sandbox {pod.container_id[:13]}: netns {pod.netns.path};" in out
    assert "everything matches: 3 network(s)" in out

    rc, doc = explain_json(e2e, pod)
    assert rc == 0 and doc["matched"] is True and doc["findings"] == []
    net1 = _row(doc, "net1")
    # the effective config: the NAD's conf as netattach parses it (wrapped into a conflist)
    assert net1["config"]["name"] == "vlan100-conf"
    assert net1["config"]["plugins"][0]["master"] == e2e.nics[0]
    assert net1["config"] == net1["attachedConfig"]
    assert net1["requestedIPs"] == ["192.0.2.211/24"]
    assert net1["cache"] == {"state": "ok", "ips": ["192.0.2.211/24"],
                             "mac": e2e.mac(pod.netns, "net1")}
    assert net1["pod"]["link"]["kind"] == "macvlan"
    assert "192.0.2.211/24" in net1["pod"]["link"]["addresses"]
    assert net1["node"] == {"state": "ok", "devices": [
        {"name": e2e.nics[0], "role": "master", "state": "up",
         "link": net1["node"]["devices"][0]["link"]}]}
    assert net1["status"]["state"] == "ok"
    assert net1["status"]["entry"]["ips"] == ["192.0.2.211"]
    # the cluster network's host end of the veth (ptp) is on the node
    eth0 = _row(doc, "eth0")
    assert [d["role"] for d in eth0["node"]["devices"]] == ["host-side"]
    assert eth0["node"]["state"] == "ok" and eth0["default"] is True
    assert e2e.run_cni("DEL", pod)[0] == 0


def test_net1_deleted_by_hand_is_flagged_with_the_fix(e2e):
    pod = _added_pod(e2e)
    subprocess.run(["ip", "-n", pod.netns.name, "link", "del", "net1"], check=True)

    rc, out, err = explain(e2e, pod)

    assert rc == 1, out + err
    row = next(line for line in out.splitlines() if line.startswith("default/vlan100-conf"))
    assert row.split()[-4:] == ["missing", "ok", "ok", "interface-missing"]
    assert "net1 is missing from the pod's namespace [net1]" in out
    assert "delete the pod (kubectl delete pod -n default vlan-multi) so its sandbox is set " \
           "up again" in out
    rc, doc = explain_json(e2e, pod)
    assert rc == 1 and doc["matched"] is False
    f = _finding(doc, "interface-missing")
    assert f["severity"] == "error" and f["interfaces"] == ["net1"]
    assert f["nad"] == "default/vlan100-conf"
    assert any(f"ip -n {pod.netns.name} link show: no net1" in e for e in f["evidence"])
    assert [a["problems"] for a in doc["attachments"]] == [[], ["interface-missing"], []]
    assert _row(doc, "net2")["pod"]["state"] == "up"


def test_nad_deleted_after_add_is_flagged_and_the_cache_explains(e2e):
    pod = _added_pod(e2e)
    assert e2e.api.delete_nad("vlan100-conf")

    rc, out, err = explain(e2e, pod)

    assert rc == 1, out + err
    assert "NAD default/vlan100-conf is gone, but net1 was attached from it" in out
    assert "re-create NetworkAttachmentDefinition vlan100-conf in namespace default" in out
    rc, doc = explain_json(e2e, pod)
    net1 = _row(doc, "net1")
    assert (net1["nad"], net1["cache"]["state"], net1["pod"]["state"]) == ("missing", "ok",
                                                                          "up")
    assert net1["config"] is None  # netattach has no config for it now
    assert net1["attachedConfig"]["plugins"][0]["master"] == e2e.nics[0]
    f = _finding(doc, "nad-missing")
    assert f["severity"] == "error" and f["reason"] == "NoNetworkFound"
    assert any(f"macvlan on {e2e.nics[0]}" in e for e in f["evidence"]), f
    # the other networks are still explained, and match
    assert [a["problems"] for a in doc["attachments"]] == [[], ["nad-missing"], []]


def test_pod_never_added_on_this_node(e2e):
    _nads(e2e)
    pod = e2e.sandbox("never", networks=FIELD_REPORT)

    rc, out, err = explain(e2e, pod)

    assert rc == 1, out + err
    assert "sandbox: none on this node" in out
    assert "pod default/never was never added by netattach on this node" in out
    rc, doc = explain_json(e2e, pod)
    assert doc["sandbox"] is None
    f = _finding(doc, "never-added")
    assert f["severity"] == "error" and f["interfaces"] == ["eth0", "net1", "net2"]
    assert "the pod is scheduled on node node-1 (spec.nodeName)" in f["evidence"]
    # the plan is still replayed: which networks, under which names, from which NAD
    assert [(a["network"], a["interface"], a["nad"], a["cache"]["state"], a["pod"]["state"])
            for a in doc["attachments"]] == [
        ("e2e-cluster", "eth0", "file", "none", "-"),
        ("default/vlan100-conf", "net1", "found", "none", "-"),
        ("default/vlan200-conf", "net2", "found", "none", "-")]


def test_cache_only_on_a_healthy_pod(e2e):
    pod = _added_pod(e2e)

    rc, out, err = explain(e2e, pod, api=False)

    assert rc == 0, out + err
    assert "read: cache only (no API)" in out
    assert "the pod's annotations, its NADs and its network-status are unknown" in out
    rc, doc = explain_json(e2e, pod, api=False)
    assert rc == 0 and doc["pod"]["inAPI"] is None and doc["sources"]["api"] is None
    assert doc["pod"]["uid"] == pod.uid  # from the delegate cache
    assert [f["id"] for f in doc["findings"]] == ["cache-only"]
    assert [(a["interface"], a["nad"], a["cache"]["state"], a["pod"]["state"],
             a["status"]["state"]) for a in doc["attachments"]] == [
        ("eth0", "file", "ok", "up", "unknown"),
        ("net1", "not-read", "ok", "up", "unknown"),
        ("net2", "not-read", "ok", "up", "unknown")]
    assert _row(doc, "net2")["config"]["plugins"][0]["master"] == e2e.nics[1]
    # cache-only still sees a broken pod
    subprocess.run(["ip", "-n", pod.netns.name, "link", "set", "net2", "down"], check=True)
    rc, doc = explain_json(e2e, pod, api=False)
    assert rc == 1 and _row(doc, "net2")["problems"] == ["interface-down"]
    assert f"ip -n {pod.netns.name} link set net2 up" in _finding(doc, "interface-down")["fix"]


def test_json_shape(e2e):
    pod = _added_pod(e2e)
    subprocess.run(["ip", "-n", pod.netns.name, "link", "del", "net2"], check=True)

    rc, doc = explain_json(e2e, pod)

    assert rc == 1
    assert set(doc) == {"kind", "version", "pod", "sources", "sandbox", "attachments",
                        "findings", "matched", "exitCode"}
    assert (doc["kind"], doc["version"], doc["exitCode"]) == ("NetattachExplanation", 1, 1)
    assert doc["pod"] == {"namespace": "default", "name": "vlan-multi", "uid": pod.uid,
                          "nodeName": "node-1", "inAPI": True}
    assert set(doc["sources"]) == {"api", "config", "cniDir", "confDir"}
    assert doc["sources"]["cniDir"] == str(e2e.cni_dir)
    assert doc["sandbox"] == {"containerID": pod.container_id, "netns": pod.netns.path,
                              "netnsExists": True,
                              "delegateCache": str(e2e.cni_dir / pod.container_id)}
    for a in doc["attachments"]:
        assert set(a) == {"network", "interface", "type", "default", "nad", "planned",
                          "config", "attachedConfig", "requestedIPs", "cache", "pod", "node",
                          "status", "problems"}
        assert set(a["cache"]) == {"state", "ips", "mac"}
        assert set(a["pod"]) == {"state", "link"}
        assert set(a["node"]) == {"state", "devices"}
        assert set(a["status"]) == {"state", "entry"}
    assert set(_row(doc, "net1")["pod"]["link"]) == {"name", "kind", "mac", "mtu", "up",
                                                     "operState", "addresses"}
    assert _row(doc, "net2")["pod"] == {"state": "missing", "link": None}
    [f] = doc["findings"]
    assert set(f) == {"id", "severity", "title", "evidence", "fix", "interfaces", "nad",
                      "reason", "mismatch", "source"}
    assert (f["id"], f["mismatch"], f["source"]) == ("interface-missing", True, "explain")


def test_unreadable_inputs_exit_2(e2e):
    pod = e2e.sandbox("any")
    proc = subprocess.run(["ip", "netns", "exec", e2e.node.name, sys.executable, "-m",
                           "netattach", "explain", "any", "--config",
                           str(e2e.tmp / "missing.conflist")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot read the netattach config" in proc.stderr and proc.stdout == ""
    assert pod.name == "any"


def test_netns_gone_without_del(e2e):
    pod = _added_pod(e2e)
    subprocess.run(["ip", "netns", "del", pod.netns.name], check=True)

    rc, doc = explain_json(e2e, pod)

    assert rc == 1
    assert doc["sandbox"]["netnsExists"] is False
    f = _finding(doc, "netns-gone")
    assert f["interfaces"] == ["eth0", "net1", "net2"]
    assert any(f"crictl stopp {pod.container_id[:13]} && crictl rmp" in x for x in f["fix"])
    assert [a["pod"]["state"] for a in doc["attachments"]] == ["gone", "gone", "gone"]
    # the veth's host end went with the namespace: that is netns-gone, not another finding
    assert [f["id"] for f in doc["findings"]] == ["netns-gone"]


def test_nad_changed_after_add(e2e):
    pod = _added_pod(e2e)
    assert e2e.api.delete_nad("vlan200-conf")
    e2e.add_nad("vlan200-conf", e2e.macvlan_conf("vlan200-conf", master=1, mtu=1400))

    rc, doc = explain_json(e2e, pod)

    assert rc == 1
    f = _finding(doc, "config-changed")
    assert f["severity"] == "warning" and f["interfaces"] == ["net2"]
    assert "changed: plugins[0].mtu" in f["evidence"]
    net2 = _row(doc, "net2")
    assert net2["config"]["plugins"][0]["mtu"] == 1400
    assert "mtu" not in net2["attachedConfig"]["plugins"][0]


def test_without_config_the_cache_names_the_cluster_network(e2e):
    pod = _added_pod(e2e)
    other = e2e.sandbox("other", networks=FIELD_REPORT[:1])

    rc, doc = explain_json(e2e, pod, config=False)

    assert rc == 0, doc["findings"]
    assert [(a["network"], a["interface"], a["nad"]) for a in doc["attachments"]] == [
        ("e2e-cluster", "eth0", "file"), ("default/vlan100-conf", "net1", "found"),
        ("default/vlan200-conf", "net2", "found")]
    assert doc["sources"]["config"] is None
    # never added, no config: eth0's network is not known, the NAD's still is; and the
    # pre-ADD checks say what its ADD would meet: vlan-multi has its address
    rc, doc = explain_json(e2e, other, config=False)
    assert rc == 1
    assert {(f["id"], f["source"]) for f in doc["findings"]} == {
        ("never-added", "explain"), ("cluster-network-unknown", "explain"),
        ("duplicate-address-node", "preflight"), ("duplicate-address-pod", "preflight")}
    dup = _finding(doc, "duplicate-address-pod")
    assert dup["interfaces"] == ["net1"] and dup["mismatch"] is False
    assert "default/vlan-multi" in " ".join(dup["evidence"])
    assert [(a["interface"], a["type"], a["config"] is None) for a in doc["attachments"]] == [
        ("eth0", "", True), ("net1", "macvlan", False)]
