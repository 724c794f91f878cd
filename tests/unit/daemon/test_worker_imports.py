"""A worker process runs `netattach.daemon`'s __init__ first: it must not import what only
the daemon's main process uses (metrics, its HTTP server, the Kubernetes client)."""

from __future__ import annotations

import json
import subprocess
import sys

DAEMON_ONLY = ("prometheus_client", "http.server", "lightkube", "httpx2", "netattach.daemon.main",
               "netattach.daemon.metrics")


def test_a_worker_imports_nothing_of_the_daemons_main_process():
    code = ("import json, sys, netattach.daemon.worker; "
            f"print(json.dumps([m for m in {DAEMON_ONLY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
