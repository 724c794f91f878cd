"""The meta plugin's delegate caches on this node, read-only: which sandbox asked for what.

One file per pod sandbox in the meta plugin's cniDir (`/var/lib/cni/multus` by default),
written by the meta plugin before any delegate runs and removed by DEL: so the caches name
every pod sandbox on this node and the networks, interfaces and addresses it asked for,
even when the API server is out of reach.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netattach.attach.delegate_cache import DEFAULT_CNI_DIR

if TYPE_CHECKING:
    from netattach.attach.delegate_cache import PodAttachments


def netns_key(path: str) -> str:
    """A namespace's identity as "st_dev:st_ino" ("" when `path` is gone or empty)."""
    if not path:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_dev}:{st.st_ino}"


@dataclass(frozen=True)
class CachedDelegate:
    """One attachment of a cached sandbox: `name` is "ns/nad" (the conf name for eth0)."""

    name: str
    network: str
    ifname: str
    config: str  # the delegate's conflist, as JSON text
    requested_ips: tuple[str, ...] = ()
    is_default: bool = False


@dataclass(frozen=True)
class CachedPod:
    """One pod sandbox: the delegate cache file `origin`, or the ADD being checked."""

    container_id: str
    netns: str
    pod_namespace: str
    pod_name: str
    delegates: tuple[CachedDelegate, ...] = ()
    origin: str = ""
    netns_id: str = ""  # netns_key(netns) when read

    @property
    def pod_ref(self) -> str:
        """ "ns/name", or "sandbox <id>" when the cache names no pod."""
        if self.pod_name:
            return f"{self.pod_namespace}/{self.pod_name}"
        return f"sandbox {self.container_id[:12]}"


def from_attachments(att: PodAttachments, origin: str = "") -> CachedPod:
    """A CachedPod from the meta plugin's delegate cache entry."""
    return CachedPod(
        container_id=att.container_id, netns=att.netns, pod_namespace=att.pod_namespace,
        pod_name=att.pod_name, origin=origin, netns_id=netns_key(att.netns),
        delegates=tuple(CachedDelegate(
            d.name, d.network, d.ifname, d.conflist.source.decode("utf-8", "replace"),
            tuple(str(ip) for ip in d.requested_ips), bool(d.is_default))
            for d in att.delegates))


def read_delegate_caches(cni_dir: str = DEFAULT_CNI_DIR, *, exclude: str = "",
                         mentioning: Collection[str] | None = None) -> tuple[CachedPod, ...]:
    """Every readable delegate cache in `cni_dir` (but container `exclude`); () if none.
    `mentioning`: only those that may name one of these texts (DelegateCache.mentioning)."""
    from netattach.attach.delegate_cache import DelegateCache

    cache = DelegateCache(Path(cni_dir))
    entries = cache.all() if mentioning is None else cache.mentioning(mentioning)
    return tuple(from_attachments(att, str(cache.path(att.container_id)))
                 for att in entries if att.container_id != exclude)
