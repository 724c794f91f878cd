"""Before a pod's addresses are configured, ask the wire whether someone already has them.

Off by default. On per network with `"addressProbe"` in the plugin config (`true`, or
`{"probes": 3, "timeoutMs": 300}`), or node-wide with the environment variable
`NETATTACH_ADDRESS_PROBE` (same values, as JSON) of the process that runs the plugin (the
daemon in thick mode); a network's own key wins, so `"addressProbe": false` opts out.

IPv4 is probed with RFC 5227 ARP probes, IPv6 with a DAD neighbour solicitation
(netattach.linux.probe). All addresses of the interface are probed at once: nobody answering
costs the whole budget (300 ms by default), an answer fails the ADD at once, naming the MAC.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netattach.cni.errors import CNIError, Code, plugin_error

if TYPE_CHECKING:
    from netattach.cni.types import Result
    from netattach.linux.netlink import NetlinkSession

log = logging.getLogger("netattach")

PROBE_KEY = "addressProbe"
PROBE_ENV = "NETATTACH_ADDRESS_PROBE"
DEFAULT_PROBES = 3
DEFAULT_TIMEOUT_MS = 300
MAX_PROBES = 10
MAX_TIMEOUT_MS = 5000
IFF_NOARP = 0x80


@dataclass(frozen=True)
class ProbeSettings:
    """Whether to probe, and the budget: `probes` probes spread over `timeout_ms`."""

    enabled: bool = False
    probes: int = DEFAULT_PROBES
    timeout_ms: int = DEFAULT_TIMEOUT_MS


OFF = ProbeSettings()


def _bad(where: str, value: Any) -> CNIError:
    return CNIError(Code.INVALID_NETWORK_CONFIG, f"{where} is invalid",
                    f'{where} must be true, false or {{"probes": 1..{MAX_PROBES}, "timeoutMs": '
                    f"1..{MAX_TIMEOUT_MS}}}, got {json.dumps(value)}")


def _int(obj: Mapping[str, Any], key: str, default: int, top: int, where: str) -> int:
    value = obj.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
        raise _bad(where, dict(obj))
    return value


def parse_setting(value: Any, where: str) -> ProbeSettings:
    """`true` / `false` / `{"probes": N, "timeoutMs": M}` (an object means on)."""
    if isinstance(value, bool):
        return ProbeSettings(enabled=value)
    if isinstance(value, Mapping) and set(value) <= {"probes", "timeoutMs"}:
        return ProbeSettings(True, _int(value, "probes", DEFAULT_PROBES, MAX_PROBES, where),
                             _int(value, "timeoutMs", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS,
                                  where))
    raise _bad(where, value)


def probe_settings(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None
                   ) -> ProbeSettings:
    """The settings for one network: its `"addressProbe"` key, else $NETATTACH_ADDRESS_PROBE,
    else off. CNIError (code 7) naming the key or the variable when the value is invalid."""
    if raw.get(PROBE_KEY) is not None:
        name = raw.get("name")
        return parse_setting(raw[PROBE_KEY], f'network {name!r}: "{PROBE_KEY}"' if name
                             else f'"{PROBE_KEY}"')
    text = (os.environ if environ is None else environ).get(PROBE_ENV, "").strip()
    if not text:
        return OFF
    try:
        value = json.loads(text)
    except ValueError:
        raise _bad(f"${PROBE_ENV}", text) from None
    return parse_setting(value, f"${PROBE_ENV}")


def probe_before_configure(nl: NetlinkSession, ifname: str, result: Result,
                           settings: ProbeSettings) -> None:
    """Probe every address `result` puts on `ifname` (in `nl`'s namespace) before any is
    configured; raise CNIError naming the address, the interface and the MAC that answered.

    The link is brought up for the probe and put back down if it was down, so the caller's
    order (addresses, then link up, which sends the announcements) is unchanged. A probe that
    cannot run on this link (not Ethernet) is logged and skipped.
    """
    if not settings.enabled:
        return
    wanted = [ip.address for ip in result.ips
              if ip.interface is not None and 0 <= ip.interface < len(result.interfaces)
              and result.interfaces[ip.interface].name == ifname]
    if not wanted:
        return
    from netattach.linux import LinuxNetError
    from netattach.linux.probe import ProbeBudget, ProbeError, probe_addresses

    link = nl.link(ifname)
    if link.kind == "ipvlan" or link.flags & IFF_NOARP:
        # ipvlan cannot hand the slave an ARP reply addressed to 0.0.0.0 (it goes to the
        # master); NOARP links (ipvlan l3) have no ARP at all. IPv6 DAD works on both.
        skipped = [a for a in wanted if a.version == 4]
        if skipped:
            log.info("address probe: no ARP probe for %s on %s (%s link)",
                     ", ".join(str(a) for a in skipped), ifname, link.kind or "NOARP")
        wanted = [a for a in wanted if a.version == 6]
        if not wanted:
            return
    budget = ProbeBudget(settings.probes, settings.timeout_ms / 1000)
    try:
        if not link.admin_up:
            nl.set_up(ifname)
        try:
            found = probe_addresses(ifname, [a.ip for a in wanted], netns=nl.handle,
                                    budget=budget)
        finally:
            if not link.admin_up:
                nl.set_down(ifname)
    except ProbeError as e:
        log.warning("address probe skipped on %s: %s", ifname, e)
        return
    except LinuxNetError as e:
        raise plugin_error(f"failed to probe the addresses of {ifname!r}: {e}",
                           "see the kernel's reason; or turn the probe off with "
                           f'"{PROBE_KEY}": false') from None
    if found:
        ip, mac = next(iter(found.items()))
        addr = next(a for a in wanted if a.ip == ip)
        how = "an ARP probe" if ip.version == 4 else "a duplicate address detection probe"
        raise plugin_error(
            f"address {addr} for {ifname} is already in use: {mac} answered {how} on "
            f"{ifname} (addressProbe: {settings.probes} probes in {settings.timeout_ms} ms)",
            f"give this pod another address (its \"ips\" in k8s.v1.cni.cncf.io/networks, or "
            f"the NAD's ipam addresses), or free {ip} on the host with MAC {mac} (`ip -br "
            f"link | grep -i {mac}` on a candidate host, or the switch's MAC table)")
