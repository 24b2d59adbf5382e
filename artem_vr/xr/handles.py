"""Ownership of XR handles: each one is created and destroyed inside one ``with`` block.

:func:`owned` wraps a create/destroy pair as a context manager; owners compose them with
``contextlib.ExitStack`` so a failure half-way unwinds what was made, in reverse order.
Every creation and destruction is written to a :class:`HandleLedger`, which is how the tests
(and ``--debug``) check that an exit leaves no handle behind and that teardown ran in reverse.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

log = logging.getLogger(__name__)
H = TypeVar("H")


@dataclass
class HandleLedger:
    """Record of (event, kind, id) for every handle: event is "create" or "destroy"."""

    events: list[tuple[str, str, int]] = field(default_factory=list)
    _next: int = 0

    def created(self, kind: str) -> int:
        self._next += 1
        self.events.append(("create", kind, self._next))
        return self._next

    def destroyed(self, kind: str, ident: int) -> None:
        self.events.append(("destroy", kind, ident))

    def live(self) -> list[tuple[str, int]]:
        """Handles created and not (yet) destroyed, oldest first."""
        gone = {i for ev, _, i in self.events if ev == "destroy"}
        return [(k, i) for ev, k, i in self.events if ev == "create" and i not in gone]

    def destroyed_in_reverse(self) -> bool:
        """True when every destruction was of the newest live handle (strict LIFO)."""
        stack: list[int] = []
        for ev, _, i in self.events:
            if ev == "create":
                stack.append(i)
            elif not stack or stack.pop() != i:
                return False
        return True

    def count(self, kind: str, event: str = "create") -> int:
        return sum(1 for ev, k, _ in self.events if ev == event and k == kind)


@contextmanager
def owned(ledger: HandleLedger, kind: str, create: Callable[[], H], destroy: Callable[[H], None]) -> Iterator[H]:
    """Create a handle, yield it, destroy it on exit (also on error), record both in ``ledger``."""
    handle = create()
    ident = ledger.created(kind)
    log.debug("created %s #%d", kind, ident)
    try:
        yield handle
    finally:
        try:
            destroy(handle)
        finally:
            ledger.destroyed(kind, ident)
            log.debug("destroyed %s #%d", kind, ident)


class StackOwner:
    """Base of the XR owners: ``_open()`` builds handles into ``self._stack``; a failure half-way
    unwinds what was made, and leaving the ``with`` block destroys everything in reverse order."""

    def __init__(self):
        self._stack = ExitStack()

    def _open(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()
