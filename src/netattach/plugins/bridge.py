"""bridge: a veth pair from the pod to a Linux bridge on the host (plugins/main/bridge).

Reads like the reference: load config, ADD (bridge, veth, macspoofchk, IPAM, gateway,
ipMasq, port state), DEL, CHECK, STATUS. The "host" is the network namespace of the
calling thread: the bridge, the host veth and the nftables rules live there.

Differences from the reference, on purpose:
- ipMasq always uses nftables (the reference's nftables backend layout: table
  `inet cni_plugins_masquerade`, one commented rule per attachment), so DEL removes
  exactly this attachment's rules even when the pod's netns is already gone.
- DEL also tears down macspoofchk and masquerading when the netns is gone.
- A failed ADD removes the veth, the nftables rules and the IPAM allocation.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from netattach.cni import schema
from netattach.cni.errors import CNIError, plugin_error
from netattach.cni.request import Command, Request
from netattach.cni.rollback import Undo, rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import DNS, Interface, IPConfig, Result, Route
from netattach.linux import AddressExists, LinkKindMismatch, LinuxNetError, nft, validate_ifname
from netattach.linux.netlink import NetlinkSession, netlink_session
from netattach.plugins.address_probe import probe_settings
from netattach.plugins.addressing import configure_iface
from netattach.plugins.checks import validate_ips, validate_routes
from netattach.plugins.delegation import ipam_add, ipam_del, ipam_gc, ipam_status, run_ipam
from netattach.plugins.pod_links import delete_link_in_netns, pod_session, require_absent

DEFAULT_BRIDGE = "cni0"
PORT_UP_RETRIES_MS = (0, 50, 500, 1000, 1000)
DEFAULT_VLAN = 1  # the kernel's default_pvid; removed from ports unless preserveDefaultVlan

# ipMasq, nftables layout of the reference's pkg/ip/ipmasq_nftables_linux.go
MASQ_TABLE = "cni_plugins_masquerade"
MASQ_CHAIN = "masq_checks"
MASQ_TABLE_COMMENT = "Masquerading for plugins from github.com/containernetworking/plugins"
MASQ_CHAIN_COMMENT = ("Masquerade traffic from certain IPs to any (non-multicast) IP outside "
                      "their subnet")

# macspoofchk, layout of the reference's pkg/link/spoofcheck.go
SPOOF_TABLE = "nat"
SPOOF_BASE_CHAIN = "PREROUTING"


# -- configuration --------------------------------------------------------------------------
def _bridge_name(value: str) -> tuple[str, str] | None:
    """A "bridge" the kernel cannot create: refused by ADD (DEL has nothing to do with it)."""
    try:
        validate_ifname(value)
    except ValueError as e:
        return (f'invalid "bridge": {e}', "name the bridge with at most 15 bytes and no "
                '"/", ":", spaces or control characters (default "cni0")')
    return None


@dataclass(frozen=True)
class BridgeConf:
    """The bridge plugin's keys, defaults as in the reference's loadNetConf."""

    name: str
    bridge: str = schema.setting("bridge", str, DEFAULT_BRIDGE, empty_is_default=True)
    is_gateway: bool = schema.setting("isGateway", bool, False)
    is_default_gateway: bool = schema.setting("isDefaultGateway", bool, False)
    force_address: bool = schema.setting("forceAddress", bool, False)
    ip_masq: bool = schema.setting("ipMasq", bool, False)
    ip_masq_backend: str = schema.setting("ipMasqBackend", str, "", check=schema.one_of(
        ("", "iptables", "nftables"), "unknown ipmasq backend {value!r}",
        'ipMasqBackend is "iptables" or "nftables" (netattach always uses nftables)'))
    mtu: int = schema.setting("mtu", int, 0, check=schema.at_least(
        0, "leave mtu unset or give a positive value"))
    hairpin_mode: bool = schema.setting("hairpinMode", bool, False)
    promisc_mode: bool = schema.setting("promiscMode", bool, False)
    vlan: int = schema.setting("vlan", int, 0, check=schema.between(
        0, 4094, "invalid VLAN ID {value} (must be between 0 and 4094)",
        '"vlan" is 0 (none) or 1..4094'))
    vlan_trunk: tuple[int, ...] | None = None  # None: no "vlanTrunk" key
    preserve_default_vlan: bool = schema.setting("preserveDefaultVlan", bool, True)
    macspoofchk: bool = schema.setting("macspoofchk", bool, False)
    enable_dad: bool = schema.setting("enabledad", bool, False)
    disable_container_interface: bool = schema.setting("disableContainerInterface", bool,
                                                       False)
    port_isolation: bool = schema.setting("portIsolation", bool, False)
    mac: str = ""
    ipam_type: str = ""
    dns: DNS = DNS()

    @property
    def vlan_filtering(self) -> bool:
        return self.vlan != 0 or self.vlan_trunk is not None


def _trunk_int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise plugin_error(f"failed to load netconf: vlanTrunk {key} must be an integer, got "
                           f"{value!r}", 'vlanTrunk items are {"minID": 10, "maxID": 20} or '
                           '{"id": 30}')
    return value


def collect_vlan_trunk(items: Any) -> tuple[int, ...] | None:
    """vlanTrunk as a sorted, de-duplicated tuple; errors as the reference's collectVlanTrunk."""
    if items is None:
        return None
    if not isinstance(items, list):
        raise plugin_error("failed to load netconf: vlanTrunk must be a list",
                           'e.g. "vlanTrunk": [{"minID": 10, "maxID": 20}, {"id": 30}]')
    fix = "VLAN ids are 1..4094 and minID <= maxID"
    vids: set[int] = set()
    for item in items:
        if not isinstance(item, dict):
            raise plugin_error("failed to load netconf: vlanTrunk items must be objects",
                               'e.g. {"minID": 10, "maxID": 20} or {"id": 30}')
        lo, hi, vid = (_trunk_int(item, k) for k in ("minID", "maxID", "id"))
        if lo is not None and hi is not None:
            if not 0 < lo <= 4094:
                raise plugin_error("incorrect trunk minID parameter", fix)
            if not 0 < hi <= 4094:
                raise plugin_error("incorrect trunk maxID parameter", fix)
            if hi < lo:
                raise plugin_error("minID is greater than maxID in trunk parameter", fix)
            vids.update(range(lo, hi + 1))
        elif lo is None and hi is not None:
            raise plugin_error("minID and maxID should be configured simultaneously, minID is "
                               "missing", f"add minID next to maxID {hi}")
        elif lo is not None and hi is None:
            raise plugin_error("minID and maxID should be configured simultaneously, maxID is "
                               "missing", f"add maxID next to minID {lo}")
        if vid is not None:
            if not 0 < vid <= 4094:
                raise plugin_error("incorrect trunk id parameter", fix)
            vids.add(vid)
    return tuple(sorted(vids)) if vids else None


def _check_mac(mac: str, source: str) -> str:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise plugin_error(f"invalid args {mac} for MAC addr: invalid MAC address",
                           f"{source} must be a MAC such as 02:00:5e:00:53:01")
    try:
        return ":".join(f"{int(p, 16):02x}" for p in parts)
    except ValueError:
        raise plugin_error(f"invalid args {mac} for MAC addr: invalid MAC address",
                           f"{source} must be a MAC such as 02:00:5e:00:53:01") from None


def load_conf(request: Request) -> BridgeConf:
    """Parse and validate the bridge config; MAC: CNI_ARGS < args.cni.mac < runtimeConfig.mac."""
    raw = request.config.raw
    trunk = collect_vlan_trunk(raw.get("vlanTrunk"))
    mac = ""
    if request.args.raw:
        request.args.validate(("MAC",))
        if request.args.get("MAC"):
            mac = _check_mac(request.args.get("MAC"), "CNI_ARGS MAC")
    cni_mac = request.config.cni_args.get("mac")
    if isinstance(cni_mac, str) and cni_mac:
        mac = _check_mac(cni_mac, "args.cni.mac")
    rt_mac = request.config.runtime_config.get("mac")
    if isinstance(rt_mac, str) and rt_mac:
        mac = _check_mac(rt_mac, "runtimeConfig.mac")
    conf = schema.load(BridgeConf, raw, schema.GO_NETCONF, name=request.config.name,
                       vlan_trunk=trunk, mac=mac, ipam_type=request.config.ipam_type,
                       dns=request.config.dns)
    if conf.vlan > 0 and trunk is not None:
        raise plugin_error("cannot set vlan and vlanTrunk at the same time",
                           "a bridge port is either an access port (vlan) or a trunk "
                           "(vlanTrunk); keep one of them")
    # isDefaultGateway implies isGateway
    return replace(conf, is_gateway=True) if conf.is_default_gateway else conf


def unique_id(container_id: str, ifname: str) -> str:
    return f"{container_id}-{ifname}"


@contextlib.contextmanager
def kernel_step(what: str, fix: str = "see the kernel's reason above") -> Iterator[None]:
    """Turn a netattach.linux failure inside the block into a CNI error about `what`."""
    try:
        yield
    except LinuxNetError as e:
        raise plugin_error(f"{what}: {e}", fix) from None


# -- bridge and veth --------------------------------------------------------------------------
def setup_bridge(host: NetlinkSession, conf: BridgeConf) -> Interface:
    """Create or adopt the bridge, up, accept_ra=0 (reference ensureBridge)."""
    try:
        host.ensure_bridge(conf.bridge, mtu=conf.mtu or None,
                           vlan_filtering=True if conf.vlan_filtering else None,
                           promisc=True if conf.promisc_mode else None)
    except LinkKindMismatch:
        raise plugin_error(f"failed to create bridge {conf.bridge!r}: {conf.bridge!r} already "
                           "exists but is not a bridge",
                           f'pick another "bridge" name or remove the existing {conf.bridge} '
                           "link") from None
    except LinuxNetError as e:
        raise plugin_error(f"failed to create bridge {conf.bridge!r}: {e}",
                           "see the kernel's reason above") from None
    with contextlib.suppress(LinuxNetError):
        host.sysctl_set(f"net/ipv6/conf/{conf.bridge}/accept_ra", 0)
    with kernel_step(f"failed to set bridge {conf.bridge!r} up"):
        br = host.set_up(conf.bridge)
    return Interface(name=br.name, mac=br.mac or "")


def setup_port(host: NetlinkSession, port: str, bridge: str, *, hairpin: bool,
               isolated: bool, vlan: int, trunk: tuple[int, ...] | None,
               preserve_default_vlan: bool) -> None:
    """Attach host veth `port` to the bridge: master, hairpin, isolation, VLANs."""
    with kernel_step(f"failed to connect {port!r} to bridge {bridge}"):
        host.set_link(port, master=bridge)
    with kernel_step(f"failed to setup hairpin mode for {port}"):
        host.set_bridge_port(port, hairpin=hairpin, isolated=True if isolated else None)
    if (vlan or trunk) and not preserve_default_vlan:
        with kernel_step(f"failed to remove default vlan on interface {port!r}"):
            host.bridge_vlan_del(port, DEFAULT_VLAN)
    if vlan:
        with kernel_step(f"failed to setup vlan tag on interface {port!r}",
                         "the bridge needs vlan_filtering (kernel CONFIG_BRIDGE_VLAN_FILTERING)"):
            host.bridge_vlan_add(port, vlan, pvid=True, untagged=True)
    for vid in trunk or ():
        with kernel_step(f"failed to setup vlan tag on interface {port!r}",
                         "the bridge needs vlan_filtering (kernel CONFIG_BRIDGE_VLAN_FILTERING)"):
            host.bridge_vlan_add(port, vid)


def setup_veth(host: NetlinkSession, pod: NetlinkSession, request: Request, conf: BridgeConf
               ) -> tuple[Interface, Interface]:
    """Create the pair from inside the pod with the peer in the host (reference SetupVeth)."""
    with kernel_step(f"failed to create veth {request.ifname!r} in {request.netns}"):
        pair = pod.create_veth(request.ifname, peer_netns=host.handle, mtu=conf.mtu or None,
                               mac=conf.mac or None)
    with kernel_step(f"failed to set host veth {pair.peer_name!r} up"):
        host.set_up(pair.peer_name)
    with contextlib.suppress(LinuxNetError):
        host.sysctl_set(f"net/ipv6/conf/{pair.peer_name}/accept_ra", 0)
    cont = pod.link(request.ifname)
    setup_port(host, pair.peer_name, conf.bridge, hairpin=conf.hairpin_mode,
               isolated=conf.port_isolation, vlan=conf.vlan, trunk=conf.vlan_trunk,
               preserve_default_vlan=conf.preserve_default_vlan)
    hostv = host.link(pair.peer_name)
    return (Interface(name=hostv.name, mac=hostv.mac or ""),
            Interface(name=cont.name, mac=cont.mac or "", sandbox=request.netns))


# -- gateways ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gateways:
    """Per family: the gateway addresses (gw/prefix) that go on the bridge."""

    v4: tuple[ipaddress.IPv4Interface, ...] = ()
    v6: tuple[ipaddress.IPv6Interface, ...] = ()


def calc_gateways(result: Result, conf: BridgeConf) -> tuple[Result, Gateways]:
    """IPs point at the container (index 2), gateway = network+1 when isGateway and none,
    a default route per family with isDefaultGateway (reference calcGateways)."""
    ips: list[IPConfig] = []
    routes = list(result.routes)
    default_found = {4: False, 6: False}
    gws: dict[int, list[Any]] = {4: [], 6: []}
    for ip in result.ips:
        fam = ip.address.version
        gw = ip.gateway
        if gw is None and conf.is_gateway:
            gw = ip.address.network.network_address + 1
        ips.append(replace(ip, interface=2, gateway=gw))
        if conf.is_default_gateway and not default_found[fam]:
            zero = ipaddress.ip_network("0.0.0.0/0" if fam == 4 else "::/0")
            if not any(r.gw is not None and r.dst == zero for r in routes):
                routes.append(Route(dst=zero, gw=gw))
            default_found[fam] = True
        if conf.is_gateway and gw is not None:
            gws[fam].append(ipaddress.ip_interface(f"{gw}/{ip.address.network.prefixlen}"))
    return (replace(result, ips=tuple(ips), routes=tuple(routes)),
            Gateways(tuple(gws[4]), tuple(gws[6])))


def ensure_addr(host: NetlinkSession, link: str, gw: Any, force: bool) -> None:
    """Put gateway address `gw` on `link`; other v4 (or overlapping v6) addresses conflict."""
    for a in host.addresses(link, family=gw.version):
        if a.interface == gw:
            return
        if gw.version == 4 or gw.ip in a.interface.network or a.ip in gw.network:
            if not force:
                raise plugin_error(f"{link!r} already has an IP address different from {gw}",
                                   f"remove {a.interface} from {link}, use another subnet, or "
                                   'set "forceAddress": true to replace it')
            with kernel_step(f"could not remove IP address from {link!r}"):
                host.del_address(link, a.interface)
    with kernel_step(f"could not add IP address to {link!r}"), \
            contextlib.suppress(AddressExists):
        host.add_address(link, gw)
    # pin the MAC, or the bridge takes the lowest port MAC and changes as ports churn
    with kernel_step(f"could not set {link}'s mac"):
        current = host.link(link)
        if current.mac:
            host.set_link(link, mac=current.mac)


def ensure_vlan_interface(host: NetlinkSession, conf: BridgeConf) -> Interface:
    """The `<bridge>.<vlan>` veth in the host that carries the gateway of a VLAN."""
    name = f"{conf.bridge}.{conf.vlan}"
    if len(name.encode()) > 15:
        raise plugin_error(f"faild to create vlan gateway {name!r}: name too long",
                           f"the gateway interface is named <bridge>.<vlan>; shorten the "
                           f"bridge name {conf.bridge!r} so that it fits in 15 characters")
    link = host.find_link(name)
    if link is None:
        with kernel_step(f"faild to create vlan gateway {name!r}",
                         "the bridge name plus '.<vlan>' must fit in 15 characters"):
            pair = host.create_veth(name)
            host.set_up(pair.peer_name)
        try:
            setup_port(host, pair.peer_name, conf.bridge, hairpin=False, isolated=False,
                       vlan=conf.vlan, trunk=None,
                       preserve_default_vlan=conf.preserve_default_vlan)
            with kernel_step(f"failed to up {name!r}"):
                host.set_up(name)
        except CNIError:
            with contextlib.suppress(LinuxNetError):
                host.delete_link(name)
            raise
        link = host.link(name)
    return Interface(name=link.name, mac=link.mac or "")


def enable_ip_forward(host: NetlinkSession, family: int) -> None:
    key = "net/ipv4/ip_forward" if family == 4 else "net/ipv6/conf/all/forwarding"
    with kernel_step("failed to enable forwarding"):
        if host.sysctl_get(key) != "1":
            host.sysctl_set(key, 1)


def setup_gateways(host: NetlinkSession, conf: BridgeConf, gws: Gateways,
                   result: Result) -> Result:
    vlan_iface: Interface | None = None
    for family, addrs in ((4, gws.v4), (6, gws.v6)):
        for gw in addrs:
            if conf.vlan:
                if vlan_iface is None:
                    vlan_iface = ensure_vlan_interface(host, conf)
                    result = replace(result, interfaces=(*result.interfaces, vlan_iface))
                try:
                    ensure_addr(host, vlan_iface.name, gw, conf.force_address)
                except CNIError as e:
                    raise plugin_error(f"failed to set vlan interface for bridge with addr: "
                                       f"{e.msg}", e.details) from None
            else:
                try:
                    ensure_addr(host, conf.bridge, gw, conf.force_address)
                except CNIError as e:
                    raise plugin_error(f"failed to set bridge addr: {e.msg}", e.details) \
                        from None
        if addrs:
            enable_ip_forward(host, family)
    return result


def wait_port_up(host: NetlinkSession, port: str) -> str:
    """Poll the host veth until oper state UP (reference retries); return its MAC."""
    state = "UNKNOWN"
    for sleep_ms in PORT_UP_RETRIES_MS:
        time.sleep(sleep_ms / 1000)
        with kernel_step(f"failed to look up host veth {port!r}"):
            link = host.link(port)
        state = link.oper_state
        if state == "UP":
            return link.mac or ""
    raise plugin_error(f"bridge port in error state: {state}",
                       f"host veth {port} did not come up; check the bridge and the "
                       "container end of the pair")


# -- nftables: ipMasq (reference ipmasq_nftables_linux.go) --------------------------------
def _hash16(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()[:16]


def masq_instance_hash(network: str, ifname: str, container_id: str) -> str:
    return f"{_hash16(network)}-{_hash16(f'{ifname}:{container_id}')}"


def masq_comment(network: str, ifname: str, container_id: str) -> str:
    strip = lambda s: s.replace('"', "").replace("\\", "")  # noqa: E731
    text = (f"{masq_instance_hash(network, ifname, container_id)}, net: {strip(network)}, "
            f"if: {strip(ifname)}, id: {strip(container_id)}")
    return text[:nft.COMMENT_MAX]


def setup_ipmasq(addresses: list[Any], network: str, ifname: str, container_id: str) -> None:
    """Masquerade traffic from `addresses` to anything outside their subnet (non-multicast)."""
    prefix = masq_instance_hash(network, ifname, container_id)
    stale = [r for r in nft.chain_rules("inet", MASQ_TABLE, MASQ_CHAIN)
             if r.comment.startswith(prefix)]
    t = f"inet {MASQ_TABLE}"
    lines = [
        f"add table {t} {{ comment {nft.quote(MASQ_TABLE_COMMENT)} ; }}",
        f"add chain {t} {MASQ_CHAIN} {{ comment {nft.quote(MASQ_CHAIN_COMMENT)} ; }}",
        f"add chain {t} postrouting {{ type nat hook postrouting priority srcnat ; }}",
        f"flush chain {t} postrouting",
        f"add rule {t} postrouting ip daddr 224.0.0.0/4 return",
        f"add rule {t} postrouting ip6 daddr ff00::/8 return",
        f"add rule {t} postrouting goto {MASQ_CHAIN}",
        *(f"delete rule {t} {MASQ_CHAIN} handle {r.handle}" for r in stale),
    ]
    comment = nft.quote(masq_comment(network, ifname, container_id))
    for addr in addresses:
        fam = "ip" if addr.version == 4 else "ip6"
        lines.append(f"add rule {t} {MASQ_CHAIN} {fam} saddr {addr.ip} {fam} daddr != "
                     f"{addr.network} masquerade comment {comment}")
    nft.run_script(lines, what=f"setting up ipMasq for {container_id}/{ifname}")


def teardown_ipmasq(network: str, ifname: str, container_id: str) -> None:
    """Delete this attachment's masquerade rules (found by their comment); none is fine."""
    prefix = masq_instance_hash(network, ifname, container_id)
    rules = [r for r in nft.chain_rules("inet", MASQ_TABLE, MASQ_CHAIN)
             if r.comment.startswith(prefix)]
    if rules:
        nft.run_script([f"delete rule inet {MASQ_TABLE} {MASQ_CHAIN} handle {r.handle}"
                        for r in rules], what=f"removing ipMasq for {container_id}/{ifname}")


# -- nftables: macspoofchk (reference pkg/link/spoofcheck.go) -------------------------------
def spoof_chains(ref_id: str) -> tuple[str, str]:
    iface_chain = f"cni-br-iface-{ref_id}"
    return iface_chain, f"{iface_chain}-mac"


def setup_spoofcheck(host_iface: str, mac: str, ref_id: str) -> None:
    """Frames entering the bridge from `host_iface` must carry source MAC `mac`."""
    iface_chain, mac_chain = spoof_chains(ref_id)
    t = f"bridge {SPOOF_TABLE}"
    comment = nft.quote(f"macspoofchk-{ref_id}")
    try:
        nft.run_script([
            f"add table {t}",
            f"add chain {t} {SPOOF_BASE_CHAIN} {{ type filter hook prerouting priority -300 ; "
            "policy accept ; }",
            f"add chain {t} {iface_chain}",
            f"add chain {t} {mac_chain}",
        ], what="declaring the macspoofchk table and chains")
        nft.run_script([
            f"flush chain {t} {iface_chain}",
            f"flush chain {t} {mac_chain}",
            f"add rule {t} {SPOOF_BASE_CHAIN} iifname {nft.quote(host_iface)} jump "
            f"{iface_chain} comment {comment}",
            f"add rule {t} {iface_chain} jump {mac_chain} comment {comment}",
            f"add rule {t} {mac_chain} ether saddr {mac} return comment {comment}",
            f"add rule {t} {mac_chain} drop comment {comment}",
        ], what="adding the macspoofchk rules")
    except LinuxNetError as e:
        raise plugin_error(f"failed to setup spoof-check: {e}",
                           "macspoofchk needs nftables (the nft command and the kernel's "
                           "nf_tables bridge family)") from None


def teardown_spoofcheck(ref_id: str) -> None:
    """Remove the base-chain rule and both per-attachment chains; absent parts are fine."""
    iface_chain, mac_chain = spoof_chains(ref_id)
    t = f"bridge {SPOOF_TABLE}"
    comment = f"macspoofchk-{ref_id}"
    lines = [f"delete rule {t} {SPOOF_BASE_CHAIN} handle {r.handle}"
             for r in nft.chain_rules("bridge", SPOOF_TABLE, SPOOF_BASE_CHAIN)
             if r.comment == comment]
    present = set(nft.chain_names("bridge", SPOOF_TABLE))
    for chain in (iface_chain, mac_chain):
        if chain in present:
            lines.append(f"flush chain {t} {chain}")
    for chain in (iface_chain, mac_chain):
        if chain in present:
            lines.append(f"delete chain {t} {chain}")
    if lines:
        nft.run_script(lines, what=f"removing macspoofchk {ref_id}")


# -- the plugin -------------------------------------------------------------------------------
class BridgePlugin(BasePlugin):
    type_name = "bridge"

    def add(self, request: Request) -> Result:
        conf = load_conf(request)
        probe_settings(request.config.raw)  # a bad value fails before anything is made
        if (problem := _bridge_name(conf.bridge)) is not None:
            raise plugin_error(*problem)
        if conf.hairpin_mode and conf.promisc_mode:
            raise plugin_error("cannot set hairpin mode and promiscuous mode at the same time",
                               'set only one of "hairpinMode" and "promiscMode"')
        if conf.disable_container_interface and conf.ipam_type:
            raise plugin_error("cannot use IPAM when DisableContainerInterface flag is set",
                               'remove "ipam" or "disableContainerInterface"')
        with netlink_session(None) as host, rollback(f"bridge ADD of {request.ifname}") as undo:
            br_iface = setup_bridge(host, conf)
            with pod_session(request) as pod:
                require_absent(pod, request.ifname, request.netns)
                undo.defer(delete_link_in_netns, request.netns, request.ifname)
                host_iface, cont_iface = setup_veth(host, pod, request, conf)
                result = Result(interfaces=(br_iface, host_iface, cont_iface))
                ref_id = unique_id(request.container_id, request.ifname)
                if conf.macspoofchk:
                    undo.defer(teardown_spoofcheck, ref_id)
                    setup_spoofcheck(host_iface.name, cont_iface.mac, ref_id)
                if conf.ipam_type:
                    undo.defer(ipam_del, request)
                    result = self._add_l3(request, conf, host, pod, result, undo)
                elif not conf.disable_container_interface:
                    with kernel_step(f"failed to set {request.ifname!r} up"):
                        pod.set_up(request.ifname)
            if not conf.disable_container_interface:
                host_iface = replace(host_iface, mac=wait_port_up(host, host_iface.name))
            with kernel_step(f"could not lookup {conf.bridge!r}"):
                br = host.link(conf.bridge)
            interfaces = list(result.interfaces)
            interfaces[0] = replace(br_iface, mac=br.mac or "")
            interfaces[1] = host_iface
            result = replace(result, interfaces=tuple(interfaces))
        if not conf.dns.is_empty():
            result = replace(result, dns=conf.dns)
        return result

    def _add_l3(self, request: Request, conf: BridgeConf, host: NetlinkSession,
                pod: NetlinkSession, result: Result, undo: Undo) -> Result:
        ipam = ipam_add(request)
        result = replace(result, ips=ipam.ips, routes=ipam.routes, dns=ipam.dns)
        result, gws = calc_gateways(result, conf)
        ifname = request.ifname
        with contextlib.suppress(LinuxNetError):
            if conf.enable_dad:
                pod.sysctl_set(f"net/ipv6/conf/{ifname}/enhanced_dad", 1)
                pod.sysctl_set(f"net/ipv6/conf/{ifname}/accept_dad", 1)
            else:
                pod.sysctl_set(f"net/ipv6/conf/{ifname}/accept_dad", 0)
        with contextlib.suppress(LinuxNetError):
            pod.sysctl_set(f"net/ipv4/conf/{ifname}/arp_notify", 1)
        configure_iface(pod, ifname, result, probe_settings(request.config.raw))
        if conf.is_gateway:
            result = setup_gateways(host, conf, gws, result)
        if conf.ip_masq:
            undo.defer(teardown_ipmasq, conf.name, ifname, request.container_id)
            try:
                setup_ipmasq([ip.address for ip in result.ips], conf.name, ifname,
                             request.container_id)
            except LinuxNetError as e:
                raise plugin_error(f"failed to set up ipMasq: {e}",
                                   "ipMasq needs nftables (the nft command and nf_tables with "
                                   "NAT in the kernel)") from None
        return result

    def delete(self, request: Request) -> None:
        conf = load_conf(request)
        errors: list[CNIError] = []
        # the container veth first (its host peer goes with it); gone netns/link is fine
        try:
            with kernel_step(f"failed to delete {request.ifname!r} in {request.netns}"):
                delete_link_in_netns(request.netns, request.ifname)
        except CNIError as e:
            errors.append(e)
        if conf.ipam_type:
            try:
                ipam_del(request)
            except CNIError as e:
                errors.append(e)
        if conf.macspoofchk:
            try:
                teardown_spoofcheck(unique_id(request.container_id, request.ifname))
            except LinuxNetError as e:  # the reference only logs this one
                print(f"bridge: failed to teardown spoof-check: {e}", file=sys.stderr)
        if conf.ipam_type and conf.ip_masq:
            # rules are found by comment, so this works even when the netns is gone
            try:
                teardown_ipmasq(conf.name, request.ifname, request.container_id)
            except LinuxNetError as e:
                errors.append(plugin_error(f"failed to remove ipMasq rules: {e}",
                                           "remove them by hand with nft (table inet "
                                           f"{MASQ_TABLE}) and retry DEL"))
        if errors:
            raise errors[0]

    def check(self, request: Request) -> None:
        conf = load_conf(request)
        if conf.ipam_type:
            run_ipam(request, Command.CHECK)
        prev = request.config.prev_result
        if prev is None:
            raise plugin_error("Required prevResult missing",
                               "CHECK needs the ADD result as prevResult (cniVersion 0.4.0+)")
        br_if = next((i for i in prev.interfaces if i.name == conf.bridge), None)
        cont_if = next((i for i in prev.interfaces
                        if i.name == request.ifname and i.sandbox == request.netns), None)
        with netlink_session(None) as host:
            br = self._check_bridge(host, br_if, conf)
            if cont_if is None:
                sandbox = next((i.sandbox for i in prev.interfaces
                                if i.name == request.ifname), "")
                raise plugin_error(f"Sandbox in prevResult {sandbox} doesn't match configured "
                                   f"netns: {request.netns}",
                                   "the cached result is for another sandbox")
            with pod_session(request) as pod:
                cont = pod.find_link(request.ifname)
                if cont is None:
                    raise plugin_error(f"Interface name {request.ifname} not found",
                                       f"{request.ifname} was removed from {request.netns}")
                if cont.kind != "veth":
                    raise plugin_error(f"Error: Container interface {cont.name} not of type "
                                       "veth", "something replaced the interface after ADD")
                if cont_if.mac and cont_if.mac != cont.mac:
                    raise plugin_error(f"Interface {cont.name} Mac {cont_if.mac} doesn't match "
                                       f"container Mac: {cont.mac}",
                                       "something changed the MAC after ADD")
                veth_found = False
                for intf in prev.interfaces:
                    if intf.name in (conf.bridge, request.ifname) or intf.sandbox:
                        continue
                    link = host.find_link(intf.name)
                    if link is None:
                        raise plugin_error(f"Interface name {intf.name} not found",
                                           f"the host veth {intf.name} is gone")
                    if link.kind != "veth" or link.index != cont.parent_index or \
                            link.parent_index != cont.index or link.master != br.index:
                        continue
                    if intf.mac and intf.mac != link.mac:
                        raise plugin_error(f"Interface {intf.name} Mac doesn't match: "
                                           f"{intf.mac} not found",
                                           "something changed the host veth's MAC")
                    veth_found = True
                    break
                if not veth_found:
                    raise plugin_error(f"CNI veth created for bridge {conf.bridge} was not "
                                       "found", "the host end of the pair is gone or left "
                                       "the bridge")
                index = next(i for i, x in enumerate(prev.interfaces) if x is cont_if)
                validate_ips(pod, request.ifname, prev, index)
                validate_routes(pod, request.ifname, prev)

    @staticmethod
    def _check_bridge(host: NetlinkSession, br_if: Interface | None, conf: BridgeConf) -> Any:
        if br_if is None:
            raise plugin_error(f"CNI created bridge {conf.bridge} in host namespace was not "
                               "found", "prevResult does not list the bridge")
        br = host.find_link(conf.bridge)
        if br is None:
            raise plugin_error(f"Interface name {conf.bridge} not found",
                               "the bridge was removed after ADD")
        if br.kind != "bridge":
            raise plugin_error(f"Interface {conf.bridge} does not have link type of bridge",
                               "something replaced the bridge")
        if br_if.mac and br_if.mac != br.mac:
            raise plugin_error(f"Bridge interface {conf.bridge} Mac doesn't match: {br_if.mac}",
                               "the bridge MAC changed after ADD")
        if br.promisc != conf.promisc_mode:
            raise plugin_error(f"Bridge interface {conf.bridge} configured Promisc Mode "
                               f"{str(conf.promisc_mode).lower()} doesn't match current state: "
                               f"{str(br.promisc).lower()} ", "something changed promisc")
        return br

    def gc(self, request: Request) -> None:
        ipam_gc(request)

    def status(self, request: Request) -> None:
        ipam_status(request)


__all__ = ["BridgeConf", "BridgePlugin", "calc_gateways", "collect_vlan_trunk", "load_conf"]
