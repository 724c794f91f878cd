"""Which API credentials the daemon uses: a kubeconfig when configured, else the pod's
service account (the daemon end to end: tests/e2e/test_daemon_in_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netattach.daemon.config import DaemonConfig, DaemonConfigError
from netattach.daemon.main import resolve_credentials

IN_POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def _load(tmp_path: Path, text: str, **flags: object) -> DaemonConfig:
    path = tmp_path / "daemon.json"
    path.write_text(text)
    return DaemonConfig.load(str(path), {"node_name": "node-1", **flags})


def test_service_account_when_there_is_no_kubeconfig(tmp_path: Path) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("t")
    cfg = _load(tmp_path, f'{{"serviceAccountDir": "{sa}"}}')
    assert cfg.kubeconfig == "" and cfg.service_account_dir == str(sa)
    resolved = resolve_credentials(cfg, IN_POD)
    assert resolved.in_cluster_dir == str(sa)
    # every request's meta plugin then asks the daemon's client (its kube_factory)
    assert resolved.override({"kubeconfig": "/elsewhere"})["kubeconfig"] == resolved.kubeconfig
    assert "serviceAccountDir" not in resolved.override({})  # a daemon key, not passed on
    assert resolve_credentials(cfg, {}).kubeconfig == ""  # not in a pod: no NADs
    (sa / "token").unlink()
    assert resolve_credentials(cfg, IN_POD).kubeconfig == ""  # no token mounted


def test_a_configured_kubeconfig_wins(tmp_path: Path) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("t")
    cfg = _load(tmp_path, f'{{"serviceAccountDir": "{sa}"}}', kubeconfig="/etc/kc")
    resolved = resolve_credentials(cfg, IN_POD)
    assert (resolved.kubeconfig, resolved.in_cluster_dir) == ("/etc/kc", "")


def test_the_service_account_needs_the_node_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("t")
    path = tmp_path / "daemon.json"
    path.write_text(f'{{"serviceAccountDir": "{sa}"}}')
    cfg = DaemonConfig.load(str(path), {})
    with pytest.raises(DaemonConfigError, match="node name is unknown"):
        resolve_credentials(cfg, IN_POD)


@pytest.mark.parametrize("settings,problem", [
    ('{"logFormat": "xml"}', "logFormat must be text or json, got 'xml'"),
    ('{"metricsAddress": "nocolon"}', "metricsAddress must be HOST:PORT, got 'nocolon'"),
    ('{"kubeconfig": "/etc/kc"}', "the node name is unknown"),
])
def test_the_daemon_config_is_validated_whole(tmp_path: Path, monkeypatch, settings,
                                              problem) -> None:
    """These checks once sat after a `return` inside validate() and never ran."""
    monkeypatch.delenv("NODE_NAME", raising=False)
    path = tmp_path / "daemon.json"
    path.write_text(settings)
    with pytest.raises(DaemonConfigError, match=problem):
        DaemonConfig.load(str(path), {})
