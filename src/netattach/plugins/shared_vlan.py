"""Shared VLANs: one host VLAN device per (master, vlanId), many pods on it.

The kernel allows one VLAN device per (parent, VLAN id), so the reference vlan plugin
gives one pod per VLAN per node. With `"shared": true` the vlan plugin instead keeps one
VLAN device `<master>.<vlanId>` in the host namespace (reusing any existing device for
that pair, whoever made it), reference-counts its users in a small state file, and gives
each pod a macvlan (bridge mode, default) or ipvlan on it. The device is deleted with its
last user, and only if netattach created it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netattach.cni.errors import plugin_error
from netattach.fsutil import write_atomically

if TYPE_CHECKING:
    from netattach.linux import Link
    from netattach.linux.netlink import NetlinkSession

DEFAULT_STATE_DIR = "/run/netattach/shared-vlans"


@dataclass(frozen=True)
class SharedRecord:
    """Who uses the host device of one (master, vlanId), and whether netattach made it."""

    device: str
    ifindex: int
    created: bool
    users: tuple[str, ...]


class SharedVlans:
    """The state directory; every change happens under an exclusive flock."""

    def __init__(self, state_dir: str = "") -> None:
        self.dir = Path(state_dir or DEFAULT_STATE_DIR)

    def _path(self, master: str, vlan_id: int) -> Path:
        return self.dir / f"{master}.{vlan_id}.json"

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_CREAT | os.O_RDONLY, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read(self, master: str, vlan_id: int) -> SharedRecord | None:
        try:
            data = json.loads(self._path(master, vlan_id).read_text())
            return SharedRecord(str(data["device"]), int(data["ifindex"]), bool(data["created"]),
                                tuple(data["users"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, master: str, vlan_id: int, record: SharedRecord | None) -> None:
        path = self._path(master, vlan_id)
        if record is None:
            path.unlink(missing_ok=True)
            return
        write_atomically(path, json.dumps({"device": record.device, "ifindex": record.ifindex,
                                           "created": record.created,
                                           "users": list(record.users)}).encode())


def device_name(master: str, vlan_id: int) -> str:
    """`<master>.<vlanId>`, shortened to the kernel's 15 characters when needed."""
    suffix = f".{vlan_id}"
    return master[:15 - len(suffix)] + suffix


def find_device(host: NetlinkSession, master: Link, vlan_id: int) -> Link | None:
    """The VLAN device of (master, vlanId) in the host namespace, whatever its name."""
    return next((link for link in host.links("vlan")
                 if link.parent_index == master.index and link.vlan_id == vlan_id
                 and link.link_netnsid is None), None)


def host_device(host: NetlinkSession, master: Link, vlan_id: int) -> Link:
    """Like find_device, for CHECK: a missing device is an error saying what to do."""
    device = find_device(host, master, vlan_id)
    if device is None:
        raise plugin_error(f"shared vlan device for VLAN {vlan_id} on {master.name} is missing",
                           "it was deleted under the pods using it; DEL and ADD them again")
    return device


def acquire(store: SharedVlans, host: NetlinkSession, master: Link, vlan_id: int, user: str
            ) -> Link:
    """The host VLAN device for (master, vlanId), created if missing; `user` is counted."""
    from netattach.linux import LinkExists, LinuxNetError

    with store.locked():
        record = store.read(master.name, vlan_id)
        device = find_device(host, master, vlan_id)
        if device is None:
            name = device_name(master.name, vlan_id)
            try:
                host.create_vlan(name, master.index, vlan_id)
            except LinkExists:
                raise plugin_error(
                    f"failed to create shared vlan {name}: VLAN {vlan_id} on {master.name} is "
                    "held in another namespace", "a pod created it with the non-shared vlan "
                    "plugin; delete that pod or its device (netattach doctor shows which)") \
                    from None
            except LinuxNetError as e:
                raise plugin_error(f"failed to create shared vlan {name}: {e}",
                                   f"the kernel refused VLAN {vlan_id} on {master.name}") \
                    from None
            device = host.set_up(name)
            record = SharedRecord(device.name, device.index, True, ())
        elif record is None or record.ifindex != device.index:
            # someone else's device (netplan's vlan.100, say): use it, never delete it
            record = SharedRecord(device.name, device.index, False, ())
            if not device.admin_up:
                device = host.set_up(device.name)
        users = record.users if user in record.users else (*record.users, user)
        store.write(master.name, vlan_id, SharedRecord(record.device, record.ifindex,
                                                       record.created, users))
        return device


def release(store: SharedVlans, host: NetlinkSession | None, master: str, vlan_id: int,
            user: str) -> None:
    """Forget `user`; delete the host device with its last user if netattach created it."""
    with store.locked():
        record = store.read(master, vlan_id)
        if record is None or user not in record.users:
            return
        users = tuple(u for u in record.users if u != user)
        if users:
            store.write(master, vlan_id, SharedRecord(record.device, record.ifindex,
                                                      record.created, users))
            return
        if record.created and host is not None:
            link = host.find_link(record.device)
            if link is not None and link.index == record.ifindex:
                host.delete_link(record.device)
        store.write(master, vlan_id, None)
