"""A finding: one thing wrong (or worth knowing) about the node or a NAD, with proof and fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)  # most severe first


@dataclass(frozen=True)
class Finding:
    """`evidence` says which device, namespace, file:line or NAD shows it; `fix` what to run.

    `reason` is the stable Kubernetes event reason (VLANConflict, MasterMissing...).
    """

    id: str
    severity: str
    title: str
    evidence: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    nad: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "evidence": list(self.evidence), "fix": list(self.fix), "nad": self.nad,
                "reason": self.reason}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def has_errors(findings: list[Finding]) -> bool:
    return any(f.is_error for f in findings)
