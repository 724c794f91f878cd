"""Boots the real QEMU guest (two boots, about 3 s each): exit code, streams, env, cwd."""

from __future__ import annotations

import io
import os
import time

import pytest

from netattach import guest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the guest harness needs root")


def test_exit_code_streams_env_and_cwd() -> None:
    assert guest.available() is None
    out, err = io.BytesIO(), io.BytesIO()
    script = 'echo out; echo err >&2; echo "var=$NAT_GUEST_VAR"; echo "cwd=$(pwd)"; exit 7'
    rc = guest.run(["/bin/sh", "-c", script], env={"NAT_GUEST_VAR": "a b 'c' \"d\""},
                   cwd="/usr/share", timeout=120, stdout=out, stderr=err)
    assert rc == 7
    assert out.getvalue().decode().splitlines() == [
        "out", "var=a b 'c' \"d\"", "cwd=/usr/share",
    ]
    assert err.getvalue() == b"err\n"


def test_timeout_kills_the_guest() -> None:
    started = time.monotonic()
    with pytest.raises(guest.GuestTimeout) as caught:
        guest.run(["/bin/sleep", "600"], cwd="/", timeout=8,
                  stdout=io.BytesIO(), stderr=io.BytesIO())
    assert time.monotonic() - started < 30
    assert "8 s" in str(caught.value)
