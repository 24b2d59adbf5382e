"""What a command reads, so that none of its outputs replaces it."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from artem_vr.atomic._fs import NOT_INPUT_FIX
from artem_vr.errors import UsageError


class InputsRead:
    """The files one command reads; :func:`refuse_inputs` refuses each of them as an output.

    A command creates one, seeds it with what it knows it will read (its input, the style's
    files) and hands it to the readers it calls (``read_image(path, inputs)``), which note what
    they open. Paths, not inode numbers, are kept (an inode can be reused once a file is
    deleted); the newest 4096 are remembered. Thread-safe; iterating gives the paths.
    """

    MAX = 4096

    def __init__(self, paths: Iterable[str | os.PathLike | None] = ()):
        self._paths: "OrderedDict[str, None]" = OrderedDict()
        self._lock = threading.Lock()
        for p in paths:
            if p is not None:
                self.note(p)

    def note(self, path: str | os.PathLike) -> None:
        key = os.path.abspath(os.fspath(path))
        with self._lock:
            self._paths[key] = None
            self._paths.move_to_end(key)
            while len(self._paths) > self.MAX:
                self._paths.popitem(last=False)

    def __iter__(self):
        with self._lock:
            return iter(list(self._paths))

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"InputsRead({list(self)!r})"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` are the same file (links and hard links included), or would be."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where they resolve to
        return Path(a).resolve() == Path(b).resolve()


def refuse_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> None:
    """UsageError if ``output`` is the same file as any of ``inputs`` (paths, or an :class:`InputsRead`)."""
    for inp in list(inputs):
        if inp is None or not os.fspath(inp):
            continue
        if same_file(output, inp):
            shown = "the input" if os.path.abspath(os.fspath(inp)) == os.path.abspath(os.fspath(output)) else f"the input {inp}"
            raise UsageError(f"{what} {output} is the same file as {shown}", NOT_INPUT_FIX)


def keep_inputs(inputs: Iterable) -> "InputsRead | list":
    """``inputs`` as writers keep it: an :class:`InputsRead` stays live (files read later count)."""
    return inputs if isinstance(inputs, InputsRead) else [i for i in inputs if i is not None]
