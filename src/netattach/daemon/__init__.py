"""The node daemon of thick mode (`netattach daemon`): CNI requests from netattach-shim
over a unix socket, served by the same core as thin mode, with watch caches, metrics and
config generation. See docs/thick-mode.md."""

from .config import DaemonConfig, DaemonConfigError
from .main import run

__all__ = ["DaemonConfig", "DaemonConfigError", "run"]
