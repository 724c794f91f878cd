"""pytest fixture ``kube_api``: a running :class:`FakeKubeAPI` plus a kubeconfig for it.

Use from any test directory by importing the fixture into that directory's conftest::

    from tests.kubeapi.fixture import kube_api  # noqa: F401

The handle (:class:`KubeAPIHandle`) gives ``kubeconfig_path``, object helpers
(``add_pod``, ``add_nad``, ``pod_annotations``, ``events``...), token rotation helpers
and the server's controls (``server.set_unreachable``, ``server.conflict_next``...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .server import EVENTS, NADS, PODS, FakeKubeAPI, LoggedRequest


@dataclass
class KubeAPIHandle:
    """A running fake API server and the files a client needs to reach it."""

    server: FakeKubeAPI
    kubeconfig_path: Path
    token_path: Path
    token: str

    # -- credentials ------------------------------------------------------------------

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, token_file: Path | None = None
    ) -> Path:
        """Write another kubeconfig for this server (literal token or tokenFile)."""
        user: dict[str, Any] = {}
        if token_file is not None:
            user["tokenFile"] = str(token_file)
        if token is not None:
            user["token"] = token
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.server.url}}],
                    "users": [{"name": "netattach", "user": user}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "netattach"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    def rotate_token(self, new_token: str, *, accept_old: bool = False) -> None:
        """Write ``new_token`` to ``token_path`` (as the kubelet does); the server accepts it.

        With ``accept_old`` False the server rejects the old token at once (401).
        """
        tmp = self.token_path.with_suffix(".tmp")
        tmp.write_text(new_token)
        tmp.replace(self.token_path)
        accepted = {new_token} | ({self.token} if accept_old else set())
        self.server.set_tokens(accepted)
        self.token = new_token

    # -- objects ----------------------------------------------------------------------

    def add_pod(
        self,
        name: str,
        namespace: str = "default",
        *,
        node_name: str = "node-1",
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a running-looking pod; returns the stored object (with uid, resourceVersion)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if annotations:
            meta["annotations"] = dict(annotations)
        if labels:
            meta["labels"] = dict(labels)
        return self.server.create(
            PODS,
            {
                "metadata": meta,
                "spec": {
                    "nodeName": node_name,
                    "containers": [{"name": "main", "image": "registry.example/app:1"}],
                },
                "status": {"phase": "Pending"},
            },
        )

    def add_nad(
        self,
        name: str,
        namespace: str = "default",
        config: str | Mapping[str, Any] | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a NAD; ``config``: dict (dumped to JSON), string, or None (no spec.config)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if annotations:
            meta["annotations"] = dict(annotations)
        obj: dict[str, Any] = {"metadata": meta, "spec": {}}
        if config is not None:
            obj["spec"]["config"] = config if isinstance(config, str) else json.dumps(config)
        return self.server.create(NADS, obj)

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.server.get(PODS, namespace, name)

    def pod_annotations(self, name: str, namespace: str = "default") -> dict[str, str]:
        """The pod's current annotations ({} if the pod is gone)."""
        pod = self.pod(name, namespace)
        return dict((pod or {}).get("metadata", {}).get("annotations") or {})

    def delete_pod(self, name: str, namespace: str = "default") -> bool:
        return self.server.delete(PODS, namespace, name)

    def delete_nad(self, name: str, namespace: str = "default") -> bool:
        return self.server.delete(NADS, namespace, name)

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """core/v1 Events recorded so far (all namespaces by default)."""
        return self.server.list(EVENTS, namespace)

    def requests(self) -> list[LoggedRequest]:
        """Every request the server saw, in order (once those in flight are logged)."""
        self.server.settle()
        return list(self.server.requests)


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeAPIHandle]:
    """A fresh fake API server on 127.0.0.1:<ephemeral>, with a kubeconfig using tokenFile."""
    token = "token-1"
    server = FakeKubeAPI(tokens=[token]).start()
    token_path = tmp_path / "token"
    token_path.write_text(token)
    handle = KubeAPIHandle(server, tmp_path / "kubeconfig", token_path, token)
    handle.write_kubeconfig(handle.kubeconfig_path, token_file=token_path)
    try:
        yield handle
    finally:
        server.stop()
