"""`make demo`: the field report's story on one machine, in plain words, checked as it goes.

1. A node with two trunk NICs and a peer on each VLAN; the pod vlan-multi asks for
   vlan100-conf and vlan200-conf with static IPs. A VLAN 100 that netplan left on the first
   NIC makes the pod fail, and the error names it.
2. `netattach doctor` explains it and gives the fix.
3. The fix (`ip link del vlan.100`, no reboot), the pod comes up, `ip a` shows eth0, net1,
   net2, `netattach sandbox explain` finds that every network matches what netattach set
   up, and the peers' pings reach both addresses. Then everything is torn down.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from . import inspect, lifecycle, netns
from .model import SandboxError, load_scenario
from .state import SandboxState
from .topology import Names


class DemoFailed(Exception):
    pass


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def run_demo(directory: str, out: TextIO = sys.stdout) -> int:
    scenario = load_scenario([directory])
    name = lifecycle.sandbox_name(scenario)
    if SandboxState.load(name) is not None:
        lifecycle.down(name, out, quiet=True)
    topo = scenario.topology
    pod = scenario.pods[0]
    try:
        peers = ", ".join(f"{p.name} ({p.address}" + (f", VLAN {p.vlan})" if p.vlan else ")")
                          for p in topo.peers)
        _say(out, f"== The node {topo.node_name}: NICs "
             f"{', '.join(n.name for n in topo.nics)} on a switch; peers {peers}.")
        stale = [f"{d.name} (VLAN {d.vlan_id} on {d.link})" for d in topo.devices]
        if stale:
            _say(out, f"   netplan once configured {', '.join(stale)}; the line is gone from "
                 "/etc/netplan, but `netplan apply` left the device in the kernel.")
        asked = " ".join(pod.annotations.get(lifecycle.NETWORKS_ANNOTATION, "").split())
        _say(out, f"\n== Step 1: create pod {pod.name}; it asks for {asked}")
        state = lifecycle.up([directory], out)
        ps = state.pods[f"{pod.namespace}/{pod.name}"]
        if stale:
            _expect(not ps.ready, "the pod came up although a VLAN device was in the way")
            _expect("file exists" in ps.error and topo.devices[0].name in ps.error,
                    f"the error does not name the culprit: {ps.error}")
            _say(out, "   The pod failed, and the error names the culprit (above).")

            _say(out, "\n== Step 2: ask netattach doctor what is wrong on this node")
            node = Names(state.prefix).node
            cmd = [sys.executable, "-m", "netattach", "doctor", "-f", directory]
            if topo.host_config_root:
                cmd += ["--root", topo.host_config_root]
            doctor = subprocess.run(netns.exec_in(node, cmd), capture_output=True, text=True,
                                    check=False)
            _say(out, _indent(doctor.stdout or doctor.stderr))
            _expect(doctor.returncode == 1 and "vlan-conflict" in doctor.stdout,
                    "doctor did not report the VLAN conflict")

            dev = topo.devices[0].name
            _say(out, f"\n== Step 3: apply the fix, no reboot: ip link del {dev}")
            netns.run(netns.exec_in(node, ["ip", "link", "del", dev]))
            state = lifecycle.up([directory], out)
            ps = state.pods[f"{pod.namespace}/{pod.name}"]
        _expect(ps.ready, f"the pod did not come up: {ps.error}")
        _say(out, f"\n== The pod is running. kubectl exec {pod.name} -- ip -br a:")
        addrs = subprocess.run(netns.exec_in(ps.netns.rsplit("/", 1)[-1],
                                             ["ip", "-br", "address"]),
                               capture_output=True, text=True, check=True).stdout
        _say(out, _indent(addrs))
        for ifname in ("eth0", "net1", "net2"):
            _expect(any(line.startswith(ifname) for line in addrs.splitlines()),
                    f"{ifname} is missing in the pod")
        for line in _link_kinds(ps.netns.rsplit("/", 1)[-1], ("net1", "net2")):
            _say(out, f"    {line}")
        _say(out, "\n   network-status, as the API server stores it:")
        inspect.status(state, out)

        _say(out, f"\n== What netattach did for the pod, compared with what is there: "
             f"netattach sandbox explain {pod.name}")
        code, text = inspect.explain(state, pod.name, out=io.StringIO())
        _say(out, _indent(text))
        _expect(code == 0 and "everything matches" in text,
                f"netattach explain found a mismatch on the running pod (exit {code})")

        _say(out, "\n== The field report's check: each peer pings the pod on its VLAN")
        for peer in topo.peers:
            target = next((ip for s in ps.network_status for ip in s.get("ips", [])
                           if _same_subnet(ip, peer.address)), None)
            _expect(target is not None, f"the pod has no address on {peer.name}'s VLAN")
            proc = subprocess.run(netns.exec_in(Names(state.prefix).peer(peer.name),
                                                ["ping", "-c", "3", "-i", "0.2", "-W", "1",
                                                 str(target)]),
                                  capture_output=True, text=True, check=False)
            summary = next((ln for ln in proc.stdout.splitlines() if "packets transmitted" in ln),
                           proc.stderr.strip())
            _say(out, f"   {peer.name} -> {target}: {summary}")
            _expect(proc.returncode == 0, f"{peer.name} cannot reach {target}")
        _say(out, "\n== Tearing down")
        lifecycle.down(name, out)
        _say(out, "\nDemo finished: the failure was explained and fixed without a reboot.")
        return 0
    except (DemoFailed, SandboxError) as e:
        _say(out, f"\nDemo FAILED: {e}")
        lifecycle.down(name, out, quiet=True)
        return 1
    except BaseException:
        lifecycle.down(name, out, quiet=True)
        raise


def _link_kinds(pod_ns: str, names: tuple[str, ...]) -> list[str]:
    """"net1: vlan 100" for each interface, as the kernel reports it (ip -d link)."""
    import json

    out = []
    for name in names:
        raw = subprocess.run(netns.exec_in(pod_ns, ["ip", "-j", "-d", "link", "show", "dev",
                                                    name]),
                             capture_output=True, text=True, check=False).stdout
        info = (json.loads(raw)[0].get("linkinfo", {}) if raw.strip() else {})
        vid = info.get("info_data", {}).get("id")
        out.append(f"{name}: {info.get('info_kind', '?')}" + (f" {vid}" if vid else ""))
    return out


def _same_subnet(ip: str, cidr: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(ip) in ipaddress.ip_interface(cidr).network


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(str(Path(sys.argv[1]))))
