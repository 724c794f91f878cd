"""What address safety costs an ADD: the on-the-wire probe (answered and unanswered) and the
pre-ADD duplicate-address check as sandboxes pile up. Run by hand as root:
`.venv/bin/python bench/address_probe.py [--repeat N] [--namespaces N]`.

Everything runs in namespaces it creates (natp-*) and removes; addresses are 192.0.2.0/24
and 2001:db8::/32. Figures are printed as measured (median, and min..max), nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PREFIX = "natp-"


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


def timed(fn: Callable[[], object], repeat: int) -> str:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return f"{statistics.median(runs):8.2f} ms  ({min(runs):.2f}..{max(runs):.2f}, n={repeat})"


def cleanup() -> None:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--namespaces", type=int, default=50)
    args = ap.parse_args()

    from netattach.attach.delegate_cache import Delegate, PodAttachments
    from netattach.cni.errors import CNIError
    from netattach.cni.types import Interface, IPConfig, Result
    from netattach.doctor.preadd import address_findings_before_add
    from netattach.linux import netlink_session, run_in_netns
    from netattach.linux.probe import ProbeBudget, probe_addresses
    from netattach.plugins.address_probe import ProbeSettings, probe_before_configure

    cleanup()
    try:
        pod, other, node = f"{PREFIX}pod", f"{PREFIX}other", f"{PREFIX}node"
        for ns in (pod, other, node):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"{PREFIX}a", "type", "veth", "peer", "name", f"{PREFIX}b")
        sh("ip", "link", "set", f"{PREFIX}a", "netns", pod)
        sh("ip", "link", "set", f"{PREFIX}b", "netns", other)
        sh("ip", "-n", other, "link", "set", f"{PREFIX}b", "up")
        sh("ip", "-n", other, "addr", "add", "192.0.2.2/24", "dev", f"{PREFIX}b")
        sh("ip", "-n", other, "addr", "add", "2001:db8::2/64", "dev", f"{PREFIX}b", "nodad")
        sh("ip", "-n", pod, "link", "set", f"{PREFIX}a", "up")
        dev, path = f"{PREFIX}a", f"/run/netns/{pod}"
        budget = ProbeBudget()
        print(f"probe budget: {budget.probes} probes in {budget.timeout * 1000:.0f} ms")
        cases = {
            "answered, 1 IPv4": ["192.0.2.2"],
            "answered, 1 IPv6": ["2001:db8::2"],
            "unanswered, 1 IPv4": ["192.0.2.3"],
            "unanswered, 1 IPv6": ["2001:db8::3"],
            "unanswered, 2 IPv4 + 2 IPv6": ["192.0.2.3", "192.0.2.4", "2001:db8::3",
                                            "2001:db8::4"],
        }
        for label, ips in cases.items():
            print(f"  linux.probe {label:<30}",
                  timed(lambda ips=ips: probe_addresses(dev, ips, netns=path), args.repeat))

        # as configure_iface calls it: the pod's session is open, the new link is down
        with netlink_session(path) as nl:
            def helper(address: str) -> None:
                res = Result(interfaces=(Interface(dev),),
                             ips=(IPConfig(ipaddress.ip_interface(address), interface=0),))
                nl.set_down(dev)
                with contextlib.suppress(CNIError):  # the answered case raises, by design
                    probe_before_configure(nl, dev, res, ProbeSettings(True))
            print("  plugin helper (link up, probe, down)   answered",
                  timed(lambda: helper("192.0.2.2/24"), args.repeat))
            print("  plugin helper (link up, probe, down) unanswered",
                  timed(lambda: helper("192.0.2.3/24"), args.repeat))
            print("  (set_down alone, for comparison)               ",
                  timed(lambda: nl.set_down(dev), args.repeat))

        # the pre-ADD duplicate-address check, as sandboxes pile up on the node
        conf = json.dumps({"cniVersion": "1.0.0", "name": "mv", "type": "macvlan",
                           "master": f"{PREFIX}m", "ipam": {"type": "static"}}).encode()
        sh("ip", "-n", node, "link", "add", f"{PREFIX}m", "type", "veth", "peer", "name",
           f"{PREFIX}n")
        cache = Path(f"/run/{PREFIX}cni")
        cache.mkdir(exist_ok=True)

        def before_add(*ips: str) -> Callable[[], object]:
            att = PodAttachments("c" * 64, f"/run/netns/{pod}", "default", "new", "uid", (
                Delegate("default/mv", "mv", conf, "net1", requested_ips=ips),))
            return lambda: run_in_netns(f"/run/netns/{node}", address_findings_before_add,
                                        att, str(cache))
        from netattach.attach.delegate_cache import DelegateCache

        base = len(subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout.splitlines())
        for count in (0, args.namespaces):
            for i in range(count):
                name = f"{PREFIX}s{i}"
                if not Path(f"/run/netns/{name}").exists():
                    sh("ip", "netns", "add", name)
                    sh("ip", "-n", name, "addr", "add", "127.0.0.2/8", "dev", "lo")
                    DelegateCache(cache).save(PodAttachments(
                        f"{i:064d}", f"/run/netns/{name}", "default", f"p{i}", "u", (
                            Delegate("default/mv", "mv", conf, "net1",
                                     requested_ips=(f"198.51.100.{i % 250 + 1}/24",)),)))
            print(f"  pre-ADD address check, {count:3d} sandboxes (+{base} other "
                  f"namespaces), static IP  ",
                  timed(before_add("192.0.2.77/24"), args.repeat))
        print(f"  pre-ADD address check, no fixed address (host-local){'':13}",
              timed(before_add(), args.repeat))
    finally:
        cleanup()
        subprocess.run(["rm", "-rf", f"/run/{PREFIX}cni"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
