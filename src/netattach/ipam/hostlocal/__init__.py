"""The `host-local` IPAM plugin: addresses from ranges, remembered in files on this node.

Same configuration, allocation order (round-robin from `last_reserved_ip`), on-disk layout
and locking as containernetworking/plugins, so Go and Python plugins can share a store.
GC (CNI 1.1) frees every allocation whose attachment is not in `cni.dev/valid-attachments`.
DEL, like GC, needs only the network name and the store, not ranges ADD would accept.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import replace

from netattach.cni.errors import CNIError, Code, plugin_error
from netattach.cni.request import Request
from netattach.cni.skel import BasePlugin
from netattach.cni.types import IPAddress, IPConfig, IPInterface, Result

from .config import HostLocalConfig, load_config, parse_resolv_conf, require_ipam, store_paths
from .ranges import RangeSet
from .store import Store

__all__ = ["HostLocalIPAM"]


def _allocate(store: Store, rangeset: RangeSet, idx: int, container_id: str, ifname: str,
              requested: IPAddress | None) -> IPConfig:
    """One address from `rangeset` for (container, ifname), the requested one if given."""
    if requested is not None:
        r = rangeset.range_for(requested)
        if r is None:  # pragma: no cover - callers only pass addresses inside the set
            raise plugin_error(f"requested IP {requested} is not in range set {rangeset}",
                               "this is a bug in host-local: please report it")
        if requested == r.gateway:
            raise plugin_error(f"requested ip {requested} is subnet's gateway",
                               f"ask for another address in {r.subnet}")
        if not store.reserve(container_id, ifname, requested, idx):
            owner = next((f"{a.container_id} ({a.ifname})" for a in store.allocations()
                          if a.ip == requested), "another attachment")
            raise plugin_error(
                f"requested IP address {requested} is not available in range set {rangeset}",
                f"it is held by {owner} in {store.dir}; free it there or request another")
        return IPConfig(address=_iface(requested, r.subnet.prefixlen), gateway=r.gateway)
    for held in store.by_owner(container_id, ifname):
        if rangeset.contains(held):
            raise plugin_error(f"{held} has been allocated to {container_id}, duplicate "
                               "allocation is not allowed",
                               "DEL the attachment before adding it again")
    for candidate, r in rangeset.iterate_from(store.last_reserved(idx)):
        if store.reserve(container_id, ifname, candidate, idx):
            return IPConfig(address=_iface(candidate, r.subnet.prefixlen), gateway=r.gateway)
    raise plugin_error(f"no IP addresses available in range set: {rangeset}",
                       f"every address is allocated (see {store.dir}); widen the range, or "
                       "free stale allocations with a CNI GC")


def _iface(addr: IPAddress, prefix: int) -> IPInterface:
    return ipaddress.ip_interface(f"{addr}/{prefix}")


class HostLocalIPAM(BasePlugin):
    type_name = "host-local"

    def add(self, request: Request) -> Result:
        cfg = load_config(request)
        dns = parse_resolv_conf(cfg.resolv_conf) if cfg.resolv_conf else None
        requested = list(cfg.requested)
        ips: list[IPConfig] = []
        with Store(cfg.network, cfg.data_dir) as store:
            try:
                for idx, rangeset in enumerate(cfg.range_sets):
                    mine = next((ip for ip in requested if rangeset.contains(ip)), None)
                    if mine is not None:
                        requested.remove(mine)
                    try:
                        ips.append(_allocate(store, rangeset, idx, request.container_id,
                                             request.ifname, mine))
                    except CNIError as err:
                        raise CNIError(err.code, f"failed to allocate for range {idx}: {err.msg}",
                                       err.details) from None
                if requested:
                    raise plugin_error(
                        "failed to allocate all requested IPs: "
                        + " ".join(str(ip) for ip in requested),
                        f"no range set of network {cfg.network!r} contains them; ranges are "
                        + "; ".join(str(s) for s in cfg.range_sets))
            except CNIError:
                for done in ips:  # only what this call reserved, never an earlier attachment
                    store.release(done.address.ip)
                raise
        result = Result(ips=tuple(ips), routes=cfg.routes)
        return replace(result, dns=dns) if dns else result

    def delete(self, request: Request) -> None:
        """Free what (container, ifname) holds. Only the network name and the store are
        read: a DEL completes even for a config whose ranges ADD refuses (Go's fails)."""
        cfg = _store_config(request)
        with Store(cfg.network, cfg.data_dir, create=False) as store:
            store.release_owner(request.container_id, request.ifname)

    def check(self, request: Request) -> None:
        cfg = load_config(request)
        with Store(cfg.network, cfg.data_dir, create=False) as store:
            if not store.by_owner(request.container_id, request.ifname):
                raise plugin_error(
                    f"host-local: Failed to find address added by container "
                    f"{request.container_id}",
                    f"no allocation for interface {request.ifname} in {store.dir}")

    def gc(self, request: Request) -> None:
        """Free every allocation whose (container, ifname) is not a valid attachment."""
        cfg = _store_config(request)
        valid = {(a.container_id, a.ifname) for a in request.config.valid_attachments or ()}
        valid_ids = {cid for cid, _ in valid}
        with Store(cfg.network, cfg.data_dir, create=False) as store:
            for a in list(store.allocations()):
                keep = (a.container_id, a.ifname) in valid if a.ifname else \
                    a.container_id in valid_ids
                if not keep:
                    store.release(a.ip)

    def status(self, request: Request) -> None:
        cfg = _store_config(request)
        base = cfg.data_dir or "/var/lib/cni/networks"
        probe = base
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if probe and not os.access(probe, os.W_OK):
            raise CNIError(Code.PLUGIN_NOT_AVAILABLE,
                           f"host-local: data directory {base} is not writable",
                           "give the CNI plugins write access to it")


def _store_config(request: Request) -> HostLocalConfig:
    """DEL, GC and STATUS need only the network name and dataDir, not valid ranges; "ipam"
    and its paths are checked exactly as ADD checks them."""
    data_dir, resolv = store_paths(require_ipam(request))
    return HostLocalConfig(request.config.name, request.config.cni_version, (), (), (),
                           data_dir, resolv)
