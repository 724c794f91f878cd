"""How the meta plugin runs a delegate type: built-ins in process, anything else by exec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netattach.builtins import is_builtin, load_plugin
from netattach.cni.invoke import ExecExecutor
from netattach.cni.request import request_from_env
from netattach.cni.skel import dispatch


@dataclass(frozen=True)
class HybridExecutor:
    """An `Executor` for `Invoker`: same env + stdin contract for both kinds of plugin."""

    external: ExecExecutor = field(default_factory=ExecExecutor)

    def execute(self, plugin_type: str, env: Mapping[str, str], stdin: bytes,
                path: Sequence[str]) -> Any:
        if not is_builtin(plugin_type):
            return self.external.execute(plugin_type, env, stdin, path)
        request = request_from_env(env, stdin)
        result = dispatch(load_plugin(plugin_type), request, env)
        return None if result is None else result.to_json(request.config.cni_version)
