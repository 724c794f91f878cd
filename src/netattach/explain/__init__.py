"""netattach.explain: one pod, replayed and compared with what is there (read-only).

`gather` reads the sources (the API server, the meta plugin's config, the delegate cache,
libcni's result cache, the pod's netns, the node's links) into a `Gathered`; `compare`
turns it into an `Explanation` (one row per attachment, findings with evidence and a fix);
`report` renders it as a table or JSON. `run_explain` is what `netattach explain` calls.
Nothing here changes the node or the API.
"""

from __future__ import annotations

from .main import run_explain
from .model import ExplainOptions, Explanation

__all__ = ["ExplainOptions", "Explanation", "run_explain"]
