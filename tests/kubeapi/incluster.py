"""What a pod sees of its cluster, for in-cluster credential tests.

* :func:`make_tls`: a CA and a server certificate for 127.0.0.1 (openssl CLI), so the
  fake API server can speak HTTPS and clients must verify it against the CA, as they
  verify the real one against the service account's ``ca.crt``.
* :class:`ServiceAccountVolume`: the projected service-account volume the kubelet mounts
  at /var/run/secrets/kubernetes.io/serviceaccount, in its atomic-writer layout
  (``token -> ..data/token``, ``..data -> ..<timestamp>``); :meth:`rotate` swaps
  ``..data`` in one rename, as the kubelet does when it refreshes the token.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FILES = ("token", "ca.crt", "namespace")


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    @property
    def server_pair(self) -> tuple[str, str]:
        return str(self.cert), str(self.key)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_tls(directory: Path, ip: str = "127.0.0.1") -> TLSFiles:
    """A throw-away CA and a server certificate for `ip`, signed by it, in `directory`."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca),
             "-subj", "/CN=netattach-test-ca", "-days", "2")
    _openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-set_serial", "1", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return TLSFiles(ca, cert, key)


class ServiceAccountVolume:
    """A service-account token volume under `directory`, as the kubelet writes it."""

    def __init__(self, directory: Path, token: str, ca: Path, namespace: str = "kube-system"):
        self.directory = directory
        self._ca = ca.read_bytes()
        self._namespace = namespace
        self._generation = 0
        directory.mkdir(parents=True)
        self._publish(token)
        for name in FILES:
            (directory / name).symlink_to(f"..data/{name}")

    def _publish(self, token: str) -> None:
        self._generation += 1
        stamp = self.directory / f"..2026_01_01_00_00_{self._generation:02d}.000000001"
        stamp.mkdir(mode=0o755)
        (stamp / "token").write_text(token)
        (stamp / "ca.crt").write_bytes(self._ca)
        (stamp / "namespace").write_text(self._namespace)
        data = self.directory / "..data"
        old = data.resolve() if data.is_symlink() else None
        tmp = self.directory / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.replace(tmp, data)
        if old is not None:
            shutil.rmtree(old)

    def rotate(self, token: str) -> None:
        """The kubelet's refresh: a new timestamped dir, ..data switched in one rename."""
        self._publish(token)
