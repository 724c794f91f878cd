"""Findings for people (a table, colour only on a tty) and for tools (-o json)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
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


def finding_block(severity: str, headline: str, notes: Sequence[str],
                  evidence: Sequence[str], fix: Sequence[str], *, colour: bool = False,
                  width: int = 100) -> list[str]:
    """A finding as text (doctor's and explain's): severity and headline, `notes` as they
    are, then evidence and fix wrapped and indented, then a blank line."""
    wrap = textwrap.TextWrapper(width=width, initial_indent="      ",
                                subsequent_indent="        ")
    sev = severity.upper().ljust(7)
    if colour:
        sev = f"{_COLOURS.get(severity, '')}{sev}{_RESET}"
    lines = [f"{sev} {headline}", *notes]
    for title, items in (("evidence", evidence), ("fix", fix)):
        if items:
            lines.append(f"    {title}:")
            lines += [wrap.fill(x) for x in items]
    return [*lines, ""]


def render_text(findings: list[Finding], *, colour: bool = False, width: int = 100,
                checked: str = "") -> str:
    """One block per finding: severity, id, title, then evidence and fix, indented; then
    the `checked` line (what was looked at)."""
    tail = f"{checked}\n" if checked else ""
    if not findings:
        return f"netattach doctor: no findings.\n{tail}"
    lines: list[str] = []
    for f in findings:
        lines += finding_block(f.severity, f"{f.id:<24} {f.title}",
                               [f"      nad: {f.nad}"] if f.nad else [], f.evidence, f.fix,
                               colour=colour, width=width)
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
