"""What the `artem-vr train ...` kinds share: each kind's configuration is a frozen dataclass of
the command line's values, built once from the parsed arguments and checked when it is made; the
options for the concepts the kinds have in common (hold-out, checkpoints, samples, loss lines,
device, seed, ...) are defined once here, so each is the same option with the same meaning and help
in every kind that has it (:func:`add_shared_arguments`). Earlier spellings stay accepted, unshown.
No torch: the command lines are built from this without loading it."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from types import SimpleNamespace

from artem_vr.errors import Interrupted, InvalidNumber, UsageError, check_at_least, shown
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


# ------------------------------------------------------------------ the options the kinds share


def _amp_help(default: bool | None) -> str:
    said = "on for CUDA" if default is None else "on" if default else "off"
    return f"mixed precision on CUDA; no effect on the CPU (default: {said})"


#: config field -> (option, earlier spelling still taken or None, argparse keywords or a function
#: of the field's default giving them); the order is --help's
SHARED_OPTIONS: dict[str, tuple] = {
    "out_dir": ("--out-dir", None, dict(type=Path, metavar="DIR",
                help="where NAME.safetensors and NAME.md go (default: your styles folder, see `artem-vr doctor`)")),
    "force": ("--force", None, dict(action="store_true", help="replace an existing model NAME, or take a shipped model's name")),
    "run_dir": ("--run-dir", None, dict(type=Path, metavar="DIR",
                help="the run folder: checkpoints and samples (default: runs/NAME in the user data folder)")),
    "resume": ("--resume", None, dict(action="store_true", help="continue from the run folder's last checkpoint")),
    "checkpoint_every": ("--checkpoint-every", "--ckpt-every", dict(
        type=int, metavar="N", help="save a checkpoint (for --resume) every N steps (default %(default)s; 0: at the end only)")),
    "sample_every": ("--sample-every", None, dict(
        type=int, metavar="N", help="write a sample image to the run folder every N steps (default %(default)s; 0: at the end only)")),
    "holdout": ("--holdout", "--holdout-every", dict(
        type=int, metavar="N", help="hold out every N-th file of each sorted folder: never trained on, scored at the end "
                                    "(`artem-vr eval --holdout N` picks the same files; default %(default)s; 0: none)")),
    "time_limit": ("--time-limit", None, dict(
        type=float, metavar="MIN", help="stop after this many minutes of training steps and write the model as it is then, as at "
                                        "the end (its card says where it stopped; default: no limit)")),
    "device": ("--device", None, dict(help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")),
    "amp": ("--amp", None, lambda default: dict(action=argparse.BooleanOptionalAction, help=_amp_help(default))),
    "threads": ("--threads", None, dict(type=int, metavar="N", help="torch CPU threads (default: torch's)")),
    "workers": ("--workers", None, dict(type=int, metavar="N",
                help="DataLoader worker processes cropping the photos (default %(default)s: in the training process)")),
    "seed": ("--seed", None, dict(type=int, help="random seed: the crops, the batches and the initial weights (default %(default)s)")),
    "log_every": ("--log-every", None, dict(type=int, metavar="N", help="write a loss line every N steps (default %(default)s; 0: none)")),
    "no_progress": ("--no-progress", None, dict(action="store_true", help="no progress bar (the loss lines stay: for logs)")),
}


def add_shared_arguments(p: argparse.ArgumentParser, config) -> None:
    """The shared options (:data:`SHARED_OPTIONS`) whose field ``config`` (a config dataclass)
    has, with its defaults, in a group of their own; an earlier spelling is taken, unshown."""
    d = field_defaults(config)
    names = {f.name for f in fields(config)}
    group = p.add_argument_group("options shared by the train kinds")
    for name, (option, old, kw) in SHARED_OPTIONS.items():
        if name not in names:
            continue
        default = getattr(d, name)
        kw = kw(default) if callable(kw) else kw
        group.add_argument(option, dest=name, default=default, **kw)
        if old:  # same destination; its default is the shown option's
            p.add_argument(old, dest=name, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                           **{k: v for k, v in kw.items() if k != "help"})


def check_holdout(every: int) -> None:
    """``--holdout N``: 0 (none) or 2 and more (1 would hold out every file)."""
    check_at_least(("--holdout", every, 0, 10))
    if every == 1:
        raise UsageError("--holdout 1 would hold out every file, leaving none to train on",
                         "give 0 to hold out none, or 2 or more (every N-th file of each folder)")


def check_time_limit(minutes: float | None) -> None:
    """``--time-limit MIN``: not given (no limit), or a finite number of minutes above 0."""
    if minutes is None:
        return
    if not math.isfinite(minutes):
        raise InvalidNumber(f"--time-limit {minutes} is not a finite number", "give minutes, e.g. --time-limit 30")
    if not minutes > 0:
        raise UsageError(f"--time-limit {shown(minutes)} must be above 0",
                         "give minutes, e.g. --time-limit 30, or leave it out for no limit")


class TimeLimit:
    """``--time-limit MIN`` of a run: its clock starts when this is made (just before the first
    step); the trainer asks :meth:`reached` after each step and, when it is, stops there and
    writes what it writes at the end (the model and its card; its checkpoint, where it keeps one)."""

    def __init__(self, minutes: float | None):
        self.minutes = minutes
        self.end = time.monotonic() + minutes * 60 if minutes else None

    def reached(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def stopped(self, iteration: int, iters: int) -> str:
        """The progress log's line when the run stops at ``iteration`` of ``iters``."""
        return stopped_early(self.minutes, iteration, iters)


def stopped_early(minutes: float, iteration: int, iters: int) -> str:
    """Why a run ended at ``iteration`` of ``iters`` (its log line, and its model card's note)."""
    return f"stopped early: the --time-limit of {minutes:g} min was reached after iteration {iteration} of {iters}"


def say_resumable(e: BaseException | None, ckpt: Path, every: int) -> None:
    """On an interrupt: what was kept and how to go on (said on the CLI's "interrupted" line);
    ``every``: the run's --checkpoint-every."""
    if isinstance(e, Interrupted):
        e.outcome = (f"the last checkpoint is kept in {ckpt.parent}: the same command with --resume continues from it"
                     if ckpt.exists() else "nothing was saved yet (" + (f"the first checkpoint comes at step {every})" if every
                                                                        else "--checkpoint-every 0: the checkpoint comes at the end)"))


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
    fits in that time, ``also`` (the trainer's other ways to shorten it) and ``--time-limit``.
    Nothing when the run has a ``time_limit`` (its --time-limit: already bounded). Call :meth:`step`
    after each step; ``write`` prints the line to stderr (``print``, or the progress bar's ``tqdm.write``)."""

    TIMED = 3  # steps timed after the first (the first warms up: not counted)

    def __init__(self, start: int, iters: int, also: str = "",
                 write: Callable[..., None] | None = None, time_limit: float | None = None):
        self.start, self.iters = start, iters
        self.also = ", or ".join(x for x in (also, "--time-limit MINUTES (it stops and saves then)") if x)
        self.write = write or print
        self.steps, self.t1, self.said = 0, 0.0, time_limit is not None

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
