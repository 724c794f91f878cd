"""`netattach doctor`: gather the inputs, run every check, report."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from .checks import DEFAULT_CNI_BIN_DIRS, Inputs, run_checks
from .delegates import DEFAULT_CNI_DIR
from .findings import Finding
from .report import checked_summary, write_report


@dataclass(frozen=True)
class DoctorOptions:
    files: tuple[str, ...] = ()
    kubeconfig: str = ""
    namespace: str = ""
    root: str = "/"
    cni_bin_dirs: tuple[str, ...] = DEFAULT_CNI_BIN_DIRS
    node_name: str = ""
    output: str = "text"
    scan_node: bool = True
    cni_dir: str = DEFAULT_CNI_DIR  # the meta plugin's delegate caches ("" to skip)


def gather(opts: DoctorOptions) -> Inputs:
    """Read the sources, the host config and the kernel (raises SourceError for people)."""
    from .delegates import read_delegate_caches
    from .hostconfig import read_host_config
    from .node import take_snapshot
    from .sources import Sources, from_api, from_yaml

    src = Sources()
    if opts.files:
        src = src + from_yaml(list(opts.files))
    if opts.kubeconfig:
        src = src + from_api(opts.kubeconfig, opts.namespace, opts.node_name)
    nads = tuple(n for n in src.nads if not opts.namespace or n.namespace == opts.namespace)
    pods = tuple(p for p in src.pods if not opts.namespace or p.namespace == opts.namespace)
    return Inputs(nads=nads, pods=pods,
                  node=take_snapshot() if opts.scan_node else None,
                  host=read_host_config(opts.root), cni_bin_dirs=opts.cni_bin_dirs,
                  node_name=opts.node_name,
                  cached=read_delegate_caches(opts.cni_dir) if opts.cni_dir else ())


def diagnose(opts: DoctorOptions) -> list[Finding]:
    return run_checks(gather(opts))


def run_doctor(opts: DoctorOptions, out: TextIO | None = None) -> int:
    """Exit code: 0 clean or warnings only, 1 with an error finding, 2 when inputs fail."""
    from .sources import SourceError

    try:
        inputs = gather(opts)
    except SourceError as e:
        print(f"netattach doctor: {e}", file=sys.stderr)
        return 2
    return write_report(run_checks(inputs), out or sys.stdout, opts.output,
                        checked_summary(inputs))
