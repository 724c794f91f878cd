"""`netattach explain`'s output: a table like kubectl's, the networks, then the findings
(evidence and fix); or `-o json` (`Explanation.to_json`, documented in docs/doctor.md)."""

from __future__ import annotations

import json
import textwrap
from typing import TextIO

from .model import ERROR, Explanation, Row

COLUMNS = ("NETWORK", "INTERFACE", "TYPE", "NAD", "CACHE", "IN POD", "NODE", "STATUS",
           "PROBLEM")


def _cells(r: Row) -> tuple[str, ...]:
    return (r.network, r.interface, r.type or "-", r.nad, r.cache, r.in_pod, r.node_state,
            r.status, ",".join(r.problems) or "-")


def table(rows: tuple[Row, ...]) -> list[str]:
    lines = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return ["   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]


def _head(e: Explanation) -> list[str]:
    pod = f"pod {e.namespace}/{e.name}"
    if e.uid:
        pod += f" (uid {e.uid})"
    if e.node_name:
        pod += f" on node {e.node_name}"
    if e.in_api is False:
        pod += ": not in the API server"
    out = [pod]
    if e.sandbox is not None:
        s = e.sandbox
        out.append(f"sandbox {s.container_id[:13]}: netns {s.netns}"
                   + ("" if s.netns_exists else " (gone)") + f"; delegate cache {s.cache_file}")
    else:
        out.append("sandbox: none on this node")
    source = f"API {e.api}" if e.api else "cache only (no API)"
    config = f"meta config {e.config_source}" if e.config_source else "meta config defaults"
    out.append(f"read: {source}; {config} (cniDir {e.cni_dir}, confDir {e.conf_dir})")
    return out


def _networks(e: Explanation, width: int) -> list[str]:
    wrap = textwrap.TextWrapper(width=width, initial_indent="        ",
                                subsequent_indent="          ", break_long_words=False,
                                break_on_hyphens=False)
    out = ["networks:"]
    for r in e.rows:
        what = "the cluster network" if r.default else f"NAD {r.network}: {r.nad}"
        out.append(f"  {r.interface:<6}{r.network} ({what})")
        config = r.config if r.config is not None else r.attached_config
        if config is not None:
            label = "config" if r.config is not None else "attached config"
            out.append(wrap.fill(f"{label}: {_compact(config)}"))
        if r.config is not None and r.attached_config is not None \
                and r.config != r.attached_config:
            out.append(wrap.fill("attached config: "
                                 + _compact(r.attached_config)))
        if r.requested_ips:
            out.append(wrap.fill(f"requested ips: {', '.join(r.requested_ips)}"))
        if r.cache != "none":
            out.append(wrap.fill(f"result cache: {', '.join(r.result_ips) or 'no address'}"
                                 + (f", MAC {r.result_mac}" if r.result_mac else "")))
        if r.pod_link is not None:
            lk = r.pod_link
            out.append(wrap.fill(f"in the pod: {lk.kind or 'device'} {lk.mac}, "
                                 f"{'up' if lk.admin_up else 'down'} ({lk.oper_state}), "
                                 f"{', '.join(lk.addresses) or 'no address'}"))
        for d in r.node:
            out.append(wrap.fill(f"node: {d.role} {d.name} {d.state}"))
        if r.status_entry is not None:
            s = r.status_entry
            out.append(wrap.fill(f"network-status: {s.interface} "
                                 f"{', '.join(s.ips) or 'no address'}"
                                 + (f", MAC {s.mac}" if s.mac else "")))
    return out


def _compact(config: object) -> str:
    return json.dumps(config, separators=(", ", ": "))


def _findings(e: Explanation, colour: bool, width: int) -> list[str]:
    from netattach.doctor.report import finding_block

    out: list[str] = []
    for f in e.findings:
        where = f" [{', '.join(f.interfaces)}]" if f.interfaces else ""
        notes = ["      (a pre-ADD check)"] if f.source == "preflight" else []
        out += finding_block(f.severity, f"{f.id:<22} {f.title}{where}", notes, f.evidence,
                             f.fix, colour=colour, width=width)
    return out


def render_text(e: Explanation, *, colour: bool = False, width: int = 100) -> str:
    lines = [*_head(e), ""]
    lines += table(e.rows) if e.rows else ["no networks to show"]
    if e.rows:
        lines += ["", *_networks(e, width)]
    lines.append("")
    lines += _findings(e, colour, width)
    counted = [f for f in e.findings if f.counts]
    if e.matched:
        lines.append(f"everything matches: {len(e.rows)} network(s)"
                     + (f"; {len(e.findings)} note(s)" if e.findings else ""))
    else:
        errors = sum(f.severity == ERROR for f in counted)
        lines.append(f"{len(counted)} problem(s): {errors} error(s), "
                     f"{len(counted) - errors} mismatch warning(s)")
    return "\n".join(lines) + "\n"


def render_json(e: Explanation) -> str:
    return json.dumps(e.to_json(), indent=2) + "\n"


def write_report(e: Explanation, out: TextIO, fmt: str = "text") -> int:
    """Write the report; return the exit code (0 all matches, 1 otherwise)."""
    if fmt == "json":
        out.write(render_json(e))
    else:
        out.write(render_text(e, colour=out.isatty()))
    return e.exit_code
