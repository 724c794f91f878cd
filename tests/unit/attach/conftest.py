"""Fixtures for the meta plugin's unit tests (fakes in support.py)."""

import pytest

from .support import FakeNads, nad_config


@pytest.fixture
def nads() -> FakeNads:
    return FakeNads({
        ("kube-system", "cluster"): nad_config("cluster-net", "bridge"),
        ("kube-system", "alt-cluster"): nad_config("alt-net", "bridge"),
        ("kube-system", "dflt-1"): nad_config("dflt-1-net"),
        ("kube-system", "dflt-2"): nad_config("dflt-2-net"),
        ("team-a", "net-a"): nad_config("a-net"),
        ("team-a", "net-b"): nad_config("b-net", "ipvlan"),
        ("team-b", "net-x"): nad_config("x-net"),
        ("shared", "net-s"): nad_config("s-net"),
        ("default", "net-d"): nad_config("d-net"),
    })
