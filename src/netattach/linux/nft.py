"""nftables through the `nft` command: scripts in, JSON listings out (no shell, ever).

Writes go as one nft script on stdin (`nft -f -`), which the kernel applies as a single
transaction. Reads use `nft -j list ...`. Every call acts on the netns of the calling
thread (a child process inherits it), so run these from a thread inside the namespace you
mean, e.g. a NetnsThread. This module knows nothing about CNI.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from netattach.linux.errors import LinuxNetError, NotFound

NFT = "nft"
COMMENT_MAX = 128  # the kernel's NFT_USERDATA_MAXLEN for comments (knftables' limit too)
TIMEOUT = 55.0


class NftError(LinuxNetError):
    """`nft` refused a script or a listing; the message carries nft's own diagnostic."""


class NftNotFound(NotFound):
    """The table or chain being listed does not exist (nothing to do for a teardown)."""


@dataclass(frozen=True)
class NftRule:
    """One rule from a listing: where it is, its handle and comment, and its raw JSON."""

    family: str
    table: str
    chain: str
    handle: int
    comment: str
    expr: tuple[Any, ...]


def quote(text: str) -> str:
    """A double-quoted nft string; refuses what nft cannot quote (quotes, newlines)."""
    if any(c in text for c in '"\n\r\\'):
        raise ValueError(f"cannot put {text!r} into an nft string (quote, backslash or newline)")
    return f'"{text}"'


def _nft_path() -> str:
    path = shutil.which(NFT)
    if path is None:
        raise NftError("the nft command was not found in PATH; install nftables",
                       op="exec", obj=NFT, errno=errno.ENOENT)
    return path


def run_script(lines: Iterable[str], *, what: str = "nftables change") -> None:
    """Apply `lines` as one nft transaction (all or nothing). NftError on refusal."""
    script = "\n".join(lines) + "\n"
    try:
        proc = subprocess.run([_nft_path(), "-f", "-"], input=script, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise NftError(f"{what}: nft did not answer within {TIMEOUT:g}s", op="apply",
                       obj=what, errno=errno.ETIMEDOUT) from None
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.split())[:600] or f"exit status {proc.returncode}"
        raise NftError(f"{what} failed: {detail}", op="apply", obj=what, errno=0)


def list_json(args: Sequence[str], *, what: str = "") -> list[dict[str, Any]]:
    """`nft -j list <args>` as the list of objects of its "nftables" array.

    NftNotFound if the table/chain named in `args` does not exist.
    """
    try:
        proc = subprocess.run([_nft_path(), "-j", "list", *args], capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise NftError(f"listing {' '.join(args)}: nft did not answer within {TIMEOUT:g}s",
                       op="list", obj=" ".join(args), errno=errno.ETIMEDOUT) from None
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split())
        if "No such file or directory" in err or "does not exist" in err:
            raise NftNotFound(f"{' '.join(args)} does not exist", op="list",
                              obj=" ".join(args), errno=errno.ENOENT)
        raise NftError(f"listing {what or ' '.join(args)} failed: {err[:600]}", op="list",
                       obj=" ".join(args), errno=0)
    if not proc.stdout.strip():
        return []
    return list(json.loads(proc.stdout).get("nftables", []))


def chain_rules(family: str, table: str, chain: str) -> list[NftRule]:
    """The rules of one chain in order; [] when the table or chain does not exist."""
    try:
        objs = list_json(["chain", family, table, chain])
    except NftNotFound:
        return []
    out = []
    for obj in objs:
        rule = obj.get("rule")
        if rule is None:
            continue
        out.append(NftRule(family=rule.get("family", family), table=rule.get("table", table),
                           chain=rule.get("chain", chain), handle=int(rule["handle"]),
                           comment=str(rule.get("comment", "")),
                           expr=tuple(rule.get("expr", ()))))
    return out


def table_exists(family: str, table: str) -> bool:
    try:
        list_json(["table", family, table])
    except NftNotFound:
        return False
    return True


def chain_names(family: str, table: str) -> list[str]:
    """Names of the chains of a table ([] when the table does not exist)."""
    try:
        objs = list_json(["table", family, table])
    except NftNotFound:
        return []
    return [o["chain"]["name"] for o in objs if "chain" in o]


__all__ = ["COMMENT_MAX", "NftError", "NftNotFound", "NftRule", "chain_names", "chain_rules",
           "list_json", "quote", "run_script", "table_exists"]
