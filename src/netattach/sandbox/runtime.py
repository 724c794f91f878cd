"""Playing the container runtime: the `netattach` CNI executable called as containerd would."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import netns


@dataclass(frozen=True)
class CniResult:
    ok: bool
    output: dict[str, Any] | None
    stderr: str

    @property
    def message(self) -> str:
        if self.output and not self.ok:
            details = self.output.get("details", "")
            return self.output.get("msg", "") + (f"\n  fix: {details}" if details else "")
        return self.stderr.strip()


META_CONFIG = "netattach.conf"  # the meta config as a file in the state dir


def container_id(namespace: str, name: str, attempt: int = 0) -> str:
    return hashlib.sha256(f"{namespace}/{name}/{attempt}".encode()).hexdigest()[:32]


def meta_config(state_dir: Path, kubeconfig: Path) -> dict[str, Any]:
    """The netattach CNI config the sandbox's runtime hands to every pod."""
    return {"cniVersion": "1.0.0", "name": "netattach", "type": "netattach",
            "kubeconfig": str(kubeconfig),
            "clusterNetwork": str(state_dir / "net.d" / "10-default.conflist"),
            "confDir": str(state_dir / "multus.d"), "cniDir": str(state_dir / "cni"),
            "binDir": str(state_dir / "bin")}


def default_network(state_dir: Path, subnet: str) -> dict[str, Any]:
    """eth0: a bridge on the node with host-local addresses from `subnet`."""
    return {"cniVersion": "1.0.0", "name": "default", "plugins": [{
        "type": "bridge", "bridge": "cni0", "isGateway": True,
        "ipam": {"type": "host-local", "dataDir": str(state_dir / "ipam"),
                 "ranges": [[{"subnet": subnet}]]}}]}


def call(command: str, node_ns: str, state_dir: Path, config: dict[str, Any], pod_netns: str,
         cid: str, pod_namespace: str, pod_name: str, uid: str) -> CniResult:
    """Exec `<state>/bin/netattach` inside the node namespace with a runtime's env + stdin."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": pod_netns,
        "CNI_IFNAME": "eth0", "CNI_PATH": f"{state_dir / 'bin'}:/usr/lib/cni",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_namespace};K8S_POD_NAME={pod_name};"
                    f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={uid}",
    }
    proc = subprocess.run(netns.exec_in(node_ns, [str(state_dir / "bin" / "netattach")]),
                          input=json.dumps(config), env=env, capture_output=True, text=True,
                          check=False)
    try:
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        out = None
    return CniResult(proc.returncode == 0, out, proc.stderr)
