"""tuning: a chained plugin that sets sysctls and link attributes in the pod (plugins/meta/tuning).

Reads like the reference: load config, ADD (sysctls, backup, MAC/promisc/MTU/allmulti/
txQLen), DEL (restore the backup; always succeeds), CHECK. STATUS succeeds (BasePlugin).

Differences from the reference, on purpose:
- A key containing '/' is used as is (so interface names with dots work); only keys
  without '/' have their dots turned into slashes.
- CHECK substitutes IFNAME like ADD does (the reference forgets to).
- A failed ADD restores the link attributes it changed from the backup and removes it.
- A MAC is never set on a link without one of its own (lo): DEL could not restore it.
- A repeated ADD keeps the first ADD's backup (the reference overwrites it with the values
  the first ADD set, so DEL "restores" those).
- DEL removes the backup file whatever happens: also when the link or netns is gone, or a
  value cannot be restored (the reference leaves it behind).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netattach.cni import schema
from netattach.cni.errors import plugin_error
from netattach.cni.request import Request
from netattach.cni.rollback import rollback
from netattach.cni.skel import BasePlugin
from netattach.cni.types import Result
from netattach.fsutil import write_atomically
from netattach.linux import LinuxNetError, NetnsNotFound, netlink_session
from netattach.linux.netlink import NetlinkSession
from netattach.plugins.pod_links import pod_session

DEFAULT_DATA_DIR = "/run/cni/tuning"
ALLOWLIST_PATH = "/etc/cni/tuning/allowlist.conf"
_NOT_NEGATIVE = schema.at_least(0, "leave mtu and txQLen unset to keep the interface's values")


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class TuningConf:
    """The tuning keys after args.cni overrides; None means "leave alone"."""

    sysctl: tuple[tuple[str, str], ...] = ()
    mac: str = schema.setting("mac", str, "")
    promisc: bool = schema.setting("promisc", bool, False)
    mtu: int = schema.setting("mtu", int, 0, check=_NOT_NEGATIVE)
    txqlen: int | None = schema.setting("txQLen", int, None, check=_NOT_NEGATIVE)
    allmulti: bool | None = schema.setting("allmulti", bool, None)
    data_dir: str = schema.setting("dataDir", str, DEFAULT_DATA_DIR, empty_is_default=True,
                                   check=schema.no_nul_named("dataDir"))

    @property
    def changes_link(self) -> bool:
        return bool(self.mac or self.mtu or self.promisc or self.allmulti is not None
                    or self.txqlen is not None)


# args.cni may override every link key (not dataDir), worded as a field of NetConf.Args.Cni
_ARGS_CNI = schema.GoNetConf("NetConf.args.cni")
_OVERRIDABLE = ("mac", "promisc", "mtu", "txqlen", "allmulti")


def _sysctl_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise plugin_error(f"failed to load netconf: {where} must map keys to strings",
                           'e.g. "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}')
    return dict(value)


class _Obj(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers which keys it saw twice."""

    dupes: tuple[str, ...] = ()


def _remember_dupes(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj(pairs)
    keys = [k for k, _ in pairs]
    obj.dupes = tuple(sorted({k for k in keys if keys.count(k) > 1}))
    return obj


def reject_duplicate_sysctls(stdin: bytes) -> None:
    """Two identical keys in "sysctl" are an error (JSON decoders would keep the last)."""
    try:
        top = json.loads(stdin, object_pairs_hook=_remember_dupes)
    except ValueError:
        return  # the core already rejected undecodable stdin
    sysctl = top.get("sysctl") if isinstance(top, dict) else None
    if isinstance(sysctl, _Obj) and sysctl.dupes:
        raise plugin_error("duplicated sysctl keys are not allowed",
                           f"sysctl key(s) {', '.join(sysctl.dupes)} appear more than once")


def load_conf(request: Request) -> TuningConf:
    """Parse the config; MAC: conf < CNI_ARGS MAC < runtimeConfig.mac < args.cni.mac."""
    raw = request.config.raw
    sysctl = _sysctl_map(raw.get("sysctl"), "sysctl")
    conf = schema.load(TuningConf, raw, schema.GO_NETCONF)
    mac = conf.mac
    if request.args.raw:
        request.args.validate(("MAC",))
        if request.args.get("MAC"):
            mac = request.args.get("MAC")
    rt_mac = request.config.runtime_config.get("mac")
    if isinstance(rt_mac, str) and rt_mac:
        mac = rt_mac
    conf = replace(conf, mac=mac)
    cni = request.config.cni_args
    if cni:
        sysctl.update(_sysctl_map(cni.get("sysctl"), "args.cni.sysctl"))
        keys = dict(schema.keys_of(TuningConf))
        conf = replace(conf, **{name: schema.read(cni, keys[name], _ARGS_CNI)
                                for name in _OVERRIDABLE if keys[name].name in cni})
    return replace(conf, sysctl=tuple(sysctl.items()),
                   mac=normalise_mac(conf.mac) if conf.mac else "")


def _data_dir(raw: Mapping[str, Any]) -> str:
    """dataDir as DEL needs it: the only key it reads, so a config ADD would refuse for
    another key still finds (and removes) the backup."""
    value = raw.get("dataDir")
    return value if isinstance(value, str) and value else DEFAULT_DATA_DIR


def normalise_mac(mac: str) -> str:
    parts = mac.split(":")
    try:
        if len(parts) != 6 or not all(len(p) == 2 for p in parts):
            raise ValueError
        return ":".join(f"{int(p, 16):02x}" for p in parts)
    except ValueError:
        raise plugin_error(f"invalid args {mac} for MAC addr: invalid MAC address",
                           "give a MAC such as 02:00:5e:00:53:01") from None


def sysctl_key(key: str, ifname: str) -> str:
    """The '/'-separated key under /proc/sys; `invalid net sysctl key` outside net/."""
    path = key if "/" in key else key.replace(".", "/")
    path = path.replace("IFNAME", ifname, 1)
    full = os.path.normpath(os.path.join("/proc/sys", path))
    if not full.startswith("/proc/sys/net/"):
        raise plugin_error(f'invalid net sysctl key: "{path}"',
                           "tuning only sets network sysctls (net.*), which are per namespace")
    return full[len("/proc/sys/"):]


def read_allowlist(path: str = ALLOWLIST_PATH) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return None
    except OSError as e:
        raise plugin_error(f"failed to read sysctl allowlist {path}: {e.strerror}",
                           "fix the file's permissions or remove it") from None


def validate_allowlist(conf: TuningConf, path: str = ALLOWLIST_PATH) -> None:
    allow = read_allowlist(path)
    if allow is None:
        return
    for key, _ in conf.sysctl:
        try:
            ok = any(re.search(pattern, key) for pattern in allow)
        except re.error as e:
            raise plugin_error(f"invalid pattern in {path}: {e}",
                               "each line of the allowlist is a regular expression") from None
        if not ok:
            raise plugin_error(f"Sysctl {key} is not allowed. Only the following sysctls are "
                               f"allowed: [{' '.join(allow)}]",
                               f"add a pattern for {key} to {path} or drop it from the config")


# -- backup ---------------------------------------------------------------------------------
def backup_path(data_dir: str, container_id: str, ifname: str) -> Path:
    return Path(data_dir) / f"{container_id}_{ifname}.json"


def create_backup(nl: NetlinkSession, ifname: str, path: Path, conf: TuningConf) -> None:
    """Save the values `conf` is about to change (same JSON keys as the reference)."""
    try:
        link = nl.link(ifname)
    except LinuxNetError as e:
        raise plugin_error(f'failed to get "{ifname}": {e}',
                           "the previous plugin's interface is missing") from None
    current: dict[str, Any] = {}
    if conf.mac:
        current["mac"] = link.mac
    if conf.promisc:
        current["promisc"] = link.promisc
    if conf.mtu:
        current["mtu"] = link.mtu
    if conf.allmulti is not None:
        current["allmulti"] = link.allmulti
    if conf.txqlen is not None:
        current["txqlen"] = link.txqlen
    # A repeated ADD must not save the values the first one set as "original": what an
    # existing backup holds stays, only keys it lacks are added.
    saved = {**current, **_read_backup(path)}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(path, json.dumps(saved, indent=1).encode(), mode=0o600)
    except OSError as e:
        raise plugin_error(f"failed to save file {path}: {e.strerror}",
                           "tuning keeps its backups in dataDir; make it writable") from None


ZERO_MAC = "00:00:00:00:00:00"


def refuse_unrestorable_mac(nl: NetlinkSession, ifname: str) -> None:
    """A link without a MAC of its own (lo: 00:00:00:00:00:00) cannot get it back on DEL
    (the kernel refuses an all-zero address): refuse to change it, before changing anything."""
    link = nl.find_link(ifname)
    if link is not None and (link.mac or ZERO_MAC) == ZERO_MAC:
        raise plugin_error(f'failed to set MAC of "{ifname}": it has no MAC address of its own '
                           f"({ZERO_MAC}), which DEL could never put back",
                           f'drop "mac" for {ifname}: set MACs only on Ethernet-like '
                           "interfaces")


def _read_backup(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def restore_backup(nl: NetlinkSession, ifname: str, path: Path) -> list[str]:
    """Put the saved values back; returns the failures (the file stays if any)."""
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        path.unlink(missing_ok=True)  # unreadable: nothing we can restore
        return []
    if nl.find_link(ifname) is None:
        path.unlink(missing_ok=True)
        return []
    failures = []
    steps = (("mtu", "MTU", lambda v: nl.set_link(ifname, mtu=int(v)) if v else None),
             ("mac", "MAC address", lambda v: nl.set_link(ifname, mac=v) if v else None),
             ("promisc", "promiscuous mode", lambda v: nl.set_link(ifname, promisc=bool(v))),
             ("allmulti", "all-multicast mode", lambda v: nl.set_link(ifname, allmulti=bool(v))),
             ("txqlen", "tx queue len", lambda v: nl.set_link(ifname, txqlen=int(v))))
    for key, what, apply in steps:
        if key in saved and saved[key] is not None:
            try:
                apply(saved[key])
            except LinuxNetError as e:
                failures.append(f"failed to restore {what}: {e}")
    if not failures:
        path.unlink(missing_ok=True)
    return failures


# -- the plugin -------------------------------------------------------------------------------
def _link_step(what: str, ifname: str, fn: Any) -> None:
    try:
        fn()
    except LinuxNetError as e:
        raise plugin_error(f"failed to set {what} of {ifname!r}: {e}",
                           "see the kernel's reason above") from None


class TuningPlugin(BasePlugin):
    type_name = "tuning"

    def add(self, request: Request) -> Result:
        reject_duplicate_sysctls(request.stdin)
        conf = load_conf(request)
        validate_allowlist(conf)
        prev = request.config.prev_result
        if prev is None:
            raise plugin_error("Required prevResult missing",
                               "tuning is a chained plugin: put it after an interface plugin "
                               "in a conflist")
        ifname = request.ifname
        keys = [(sysctl_key(k, ifname), v) for k, v in conf.sysctl]
        backup = backup_path(conf.data_dir, request.container_id, ifname)
        with pod_session(request) as nl:
            if conf.mac:
                refuse_unrestorable_mac(nl, ifname)
            for key, value in keys:
                try:
                    nl.sysctl_set(key, value)
                except LinuxNetError as e:
                    raise plugin_error(f"failed to set sysctl {key} to {value!r}: {e}",
                                       "check the key exists in the pod and the value is "
                                       "valid") from None
            if not conf.changes_link:
                return prev
            with rollback(f"tuning ADD of {ifname}") as undo:
                create_backup(nl, ifname, backup, conf)
                undo.defer(restore_backup, nl, ifname, backup)
                if conf.mac:
                    _link_step("MAC", ifname, lambda: nl.set_link(ifname, mac=conf.mac))
                    prev = replace(prev, interfaces=tuple(
                        replace(i, mac=conf.mac) if i.name == ifname else i
                        for i in prev.interfaces))
                if conf.promisc:
                    _link_step("promisc", ifname, lambda: nl.set_link(ifname, promisc=True))
                if conf.mtu:
                    _link_step("MTU", ifname, lambda: nl.set_link(ifname, mtu=conf.mtu))
                if conf.allmulti is not None:
                    _link_step("allmulti", ifname,
                               lambda: nl.set_link(ifname, allmulti=conf.allmulti))
                if conf.txqlen is not None:
                    _link_step("txqueuelen", ifname,
                               lambda: nl.set_link(ifname, txqlen=conf.txqlen))
        return prev

    def delete(self, request: Request) -> None:
        """Restore the backup, then remove it; always succeeds (problems go to stderr).

        The backup goes even when a value cannot be put back (lo's all-zero MAC, a link
        that refuses it): DEL reports success, so nothing would ever read the file again.
        """
        backup = backup_path(_data_dir(request.config.raw), request.container_id,
                             request.ifname)
        try:
            if not backup.is_file():
                return
        except OSError:
            return
        try:
            if request.netns:
                with netlink_session(request.netns) as nl:
                    for failure in restore_backup(nl, request.ifname, backup):
                        print(f"tuning: DEL {request.ifname}: {failure}", file=sys.stderr)
        except NetnsNotFound:
            pass  # the pod's namespace is gone, and its links with it
        except Exception as e:  # noqa: BLE001 - DEL must not fail
            print(f"tuning: DEL could not restore {request.ifname}: {e}", file=sys.stderr)
        finally:
            with contextlib.suppress(OSError):
                backup.unlink(missing_ok=True)

    def check(self, request: Request) -> None:
        reject_duplicate_sysctls(request.stdin)
        conf = load_conf(request)
        if request.config.prev_result is None:
            raise plugin_error("Required prevResult missing",
                               "CHECK needs the ADD result as prevResult (cniVersion 0.4.0+)")
        ifname = request.ifname
        with pod_session(request) as nl:
            for key, want in conf.sysctl:
                path = sysctl_key(key, ifname)
                try:
                    have = nl.sysctl_get(path)
                except LinuxNetError as e:
                    raise plugin_error(f"failed to read sysctl {path}: {e}",
                                       "the key does not exist in the pod") from None
                if have != want:
                    raise plugin_error(f"Error: Tuning configured value of /proc/sys/{path} is "
                                       f"{want}, current value is {have}",
                                       "something changed the sysctl after ADD")
            link = nl.find_link(ifname)
            if link is None:
                raise plugin_error(f"Cannot find container link {ifname}",
                                   f"{ifname} is gone from {request.netns}")
            if conf.mac and conf.mac != link.mac:
                raise plugin_error(f"Error: Tuning configured Ethernet of {ifname} is "
                                   f"{conf.mac}, current value is {link.mac}",
                                   "something changed the MAC after ADD")
            if conf.promisc != link.promisc:
                raise plugin_error(f"Error: Tuning link {ifname} configured promisc is "
                                   f"{str(conf.promisc).lower()}, current value is "
                                   f"{int(link.promisc)}", "something changed promisc")
            if conf.mtu and conf.mtu != link.mtu:
                raise plugin_error(f"Error: Tuning configured MTU of {ifname} is {conf.mtu}, "
                                   f"current value is {link.mtu}", "something changed the MTU")
            if conf.allmulti is not None and conf.allmulti != link.allmulti:
                raise plugin_error(f"Error: Tuning configured all-multicast mode of {ifname} "
                                   f"is {str(conf.allmulti).lower()}, current value is "
                                   f"{str(link.allmulti).lower()}", "something changed allmulti")
            if conf.txqlen is not None and conf.txqlen != link.txqlen:
                raise plugin_error(f"Error: Tuning configured Transmit Queue Length of {ifname} "
                                   f"is {conf.txqlen}, current value is {link.txqlen}",
                                   "something changed txqueuelen")


__all__ = ["TuningConf", "TuningPlugin", "load_conf", "sysctl_key"]
