"""What the `artem-vr train ...` configurations share: each is a frozen dataclass of the command
line's values, built once from the parsed arguments and checked when it is made."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, fields
from types import SimpleNamespace

from artem_vr.limits import check_max_megapixels


class TrainCommandConfig:
    """Base of a train command's frozen dataclass (a field for each command-line value it takes,
    named as argparse names them); each subclass checks its own ranges in ``__post_init__``."""

    @classmethod
    def from_args(cls, args):
        """The command line's values (lists as tuples); the Namespace goes no further than this."""
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        if "max_megapixels" in values:  # first: a bad limit is refused before anything else (None: the default)
            values["max_megapixels"] = check_max_megapixels(values["max_megapixels"])
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def field_defaults(cls) -> SimpleNamespace:
    """The defaults of a config dataclass's fields by name (``d.size``): what its command line
    offers, so each default is written once, in the config."""
    return SimpleNamespace(**{f.name: f.default if f.default_factory is MISSING else f.default_factory()
                              for f in fields(cls) if f.default is not MISSING or f.default_factory is not MISSING})


#: a run whose steps left take longer than this (seconds) is told so once, with how to shorten it
LONG_RUN_S = 2 * 3600


def _about(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 10 * 3600 else f"{seconds / 3600:.0f} h"


class LongRunNote:
    """One line, after the first few steps, when the steps left will take longer than
    :data:`LONG_RUN_S` (a default run on a CPU: about a day): the estimate, the ``--iters`` that
    fits in that time, and ``also`` (the trainer's other ways to shorten it). Call :meth:`step`
    after each step; ``write`` prints the line to stderr (``print``, or the progress bar's ``tqdm.write``)."""

    TIMED = 3  # steps timed after the first (the first warms up: not counted)

    def __init__(self, start: int, iters: int, also: str = "",
                 write: Callable[..., None] | None = None):
        self.start, self.iters, self.also = start, iters, also
        self.write = write or print
        self.steps, self.t1, self.said = 0, 0.0, False

    def step(self) -> None:
        if self.said:
            return
        self.steps += 1
        now = time.monotonic()
        if self.steps == 1:
            self.t1 = now
            return
        if self.steps <= self.TIMED:
            return
        self.said = True  # once, long or not
        per = (now - self.t1) / (self.steps - 1)
        left = self.iters - self.start - self.steps
        if per * left <= LONG_RUN_S:
            return
        fit = int(LONG_RUN_S / per)
        fit = max(10, fit // 100 * 100 if fit >= 100 else fit // 10 * 10)
        self.write(f"note: at {per:.3g} s a step, the {left} steps left take about {_about(per * left)} here; "
                   f"for about {_about(LONG_RUN_S)} give --iters {self.start + fit}"
                   + (f", or {self.also}" if self.also else ""), file=sys.stderr)
