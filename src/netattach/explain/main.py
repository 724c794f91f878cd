"""`netattach explain POD`: gather, compare, report."""

from __future__ import annotations

import sys
from typing import TextIO

from .model import ExplainInputError, ExplainOptions


def run_explain(opts: ExplainOptions, out: TextIO | None = None) -> int:
    """Exit code: 0 everything matches, 1 a mismatch or an error finding, 2 when an input
    cannot be read (the message on stderr says which and what to do)."""
    from .compare import explain
    from .gather import gather
    from .report import write_report

    try:
        gathered = gather(opts)
    except ExplainInputError as e:
        print(f"netattach explain: {e}", file=sys.stderr)
        return 2
    return write_report(explain(gathered), out or sys.stdout, opts.output)
