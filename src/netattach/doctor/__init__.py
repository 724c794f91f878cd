"""netattach.doctor: findings about a node and its NADs, each with evidence and a fix.

It only reads (the kernel, host network config files, NADs and pods); it never changes
the node. `run_doctor` is what `netattach doctor` calls; `checks` holds one function per
check, fed by `Inputs`, so they can be tested on synthetic `NodeSnapshot`s.
"""

from __future__ import annotations

from .findings import ERROR, INFO, WARNING, Finding, has_errors, sort_findings

__all__ = ["ERROR", "INFO", "WARNING", "Finding", "has_errors", "sort_findings"]
