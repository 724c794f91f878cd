"""Findings for people (a table, colour only on a tty) and for tools (-o json)."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, TextIO

from .findings import ERROR, WARNING, Finding, has_errors

if TYPE_CHECKING:
    from .checks import Inputs

_COLOURS = {ERROR: "\033[31m", WARNING: "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def checked_summary(inp: Inputs) -> str:
    """What doctor looked at, so "no findings" is never mistaken for "nothing checked"."""
    parts = []
    if inp.nads or inp.pods:
        parts.append(f"{_count(len(inp.nads), 'NAD')} and {_count(len(inp.pods), 'pod')}")
    else:
        parts.append("no NADs (give -f FILE or --kubeconfig to check them)")
    if inp.node is not None:
        links = len(inp.node.node_links())
        parts.append(f"the node: {_count(links, 'link')} in its namespace, links and "
                     f"addresses in {_count(len(inp.node.namespaces), 'namespace')}")
    if inp.cached:
        parts.append(f"{_count(len(inp.cached), 'delegate cache')} (pod sandboxes on the node)")
    if inp.host is not None:
        parts.append(f"host network config under {inp.host.root}: "
                     f"{_count(len(inp.host.files), 'file')}")
    return "checked " + "; ".join(parts)


def render_text(findings: list[Finding], *, colour: bool = False, width: int = 100,
                checked: str = "") -> str:
    """One block per finding: severity, id, title, then evidence and fix, indented; then
    the `checked` line (what was looked at)."""
    tail = f"{checked}\n" if checked else ""
    if not findings:
        return f"netattach doctor: no findings.\n{tail}"
    lines: list[str] = []
    wrap = textwrap.TextWrapper(width=width, initial_indent="      ",
                                subsequent_indent="        ")
    for f in findings:
        sev = f.severity.upper().ljust(7)
        if colour:
            sev = f"{_COLOURS.get(f.severity, '')}{sev}{_RESET}"
        lines.append(f"{sev} {f.id:<24} {f.title}")
        if f.nad:
            lines.append(f"      nad: {f.nad}")
        if f.evidence:
            lines.append("    evidence:")
            lines += [wrap.fill(e) for e in f.evidence]
        if f.fix:
            lines.append("    fix:")
            lines += [wrap.fill(x) for x in f.fix]
        lines.append("")
    errors = sum(f.severity == ERROR for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    lines.append(f"{len(findings)} finding(s): {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines) + "\n" + tail


def render_json(findings: list[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2) + "\n"


def write_report(findings: list[Finding], out: TextIO, fmt: str = "text",
                 checked: str = "") -> int:
    """Write the report; return the exit code (1 with any error-level finding, else 0)."""
    if fmt == "json":
        out.write(render_json(findings))
    else:
        out.write(render_text(findings, colour=out.isatty(), checked=checked))
    return 1 if has_errors(findings) else 0
