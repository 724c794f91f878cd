"""Fixtures for netattach.kube tests: ``kube_api`` (fake API server + kubeconfig)."""

from tests.kubeapi.fixture import kube_api  # noqa: F401
