"""ADD either fully succeeds or leaves nothing: one undo mechanism for every plugin.

Go plugins `defer` the undo of each step; this is the same on `contextlib.ExitStack`:

    with rollback("macvlan ADD of net1") as undo:
        create_link(...)
        undo.defer(delete_link, ...)
        result = ipam_add(request)
        undo.defer(ipam_del, request)
        configure(...)
    # success: nothing is undone. Any exception in the block (a CNIError, an OSError, a
    # bug, KeyboardInterrupt) runs every deferred undo in reverse order, then propagates.

An undo that fails itself is logged and the others still run: the ADD's own error is what
the runtime must see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

log = logging.getLogger("netattach")


class Undo:
    """The undo steps of one operation, run in reverse on failure."""

    def __init__(self, stack: ExitStack, what: str) -> None:
        self._stack = stack
        self._what = what

    def defer(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Undo `fn(*args, **kwargs)` if the operation fails from here on."""
        def quietly() -> None:
            try:
                fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the operation's own error matters more
                log.warning("%s failed; undoing %s also failed: %s", self._what,
                            getattr(fn, "__name__", "a step"), e)
        self._stack.callback(quietly)


@contextmanager
def rollback(what: str) -> Iterator[Undo]:
    """A block whose deferred undo steps run only when it raises (see the module doc)."""
    with ExitStack() as stack:
        yield Undo(stack, what)
        stack.pop_all()
