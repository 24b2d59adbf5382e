"""What a running command says while it works, so none is silent: :class:`StatusPrinter` prints
`run`'s status line every few seconds; :class:`Progress` shows a counted job's progress (`stylize`
on a video) — a bar on a terminal, a plain line every few seconds anywhere else."""

from __future__ import annotations

import sys
import time

from artem_vr.text import is_terminal
from artem_vr.timing import PeriodicThread

#: seconds between two status or progress lines
PERIOD_S = 5.0


class StatusPrinter:
    """Prints ``feed.status().line()`` every ``period`` seconds on its own thread, so no run is
    silent (before the first frame it says it is waiting). ``with StatusPrinter(feed):``."""

    def __init__(self, feed, period: float = PERIOD_S, printer=print):
        self.feed, self.period, self._print = feed, period, printer
        self._thread = PeriodicThread(period, self._line, "status")
        self.lines = 0

    def _line(self) -> None:
        st = self.feed.status()
        if st.age_ms is None:
            self._print(f"[status] waiting for the first stylized frame ({st.method} on "
                        f"{self.feed.device}) · source {st.source_text()}")
        else:
            self._print(f"[status] {st.line()}")
        self.lines += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._thread.stop()


class Progress:
    """Progress of a job of ``total`` steps (None: not known) on ``stream`` (stderr).

    On a terminal: tqdm's bar, redrawn in place. Anywhere else (a log file, a pipe, CI) a bar
    would be a line per update, so: a plain line at most every ``period`` seconds, as `run`'s
    status line (``[progress] WHAT 120/280 frames (43 %), 3.2 frames/s, about 50 s left``), and
    none for a job done within the first period (its result line says what was done).
    ``with Progress(total, "generator:starry_night") as p: ... p.update()``."""

    def __init__(self, total: int | None, what: str, unit: str = "frame", stream=None, period: float = PERIOD_S,
                 clock=time.monotonic):
        self.total, self.what, self.unit = total or None, what, unit
        self.stream = stream if stream is not None else sys.stderr
        self.period, self._clock = period, clock
        self.done = 0
        self.lines = 0
        self._bar = None
        if is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit=unit, desc=what, file=self.stream)
        self._start = self._last = clock()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last >= self.period:
            self._last = now
            print(self.line(now - self._start), file=self.stream, flush=True)
            self.lines += 1

    def line(self, elapsed: float) -> str:
        """The plain progress line after ``elapsed`` seconds."""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        units = f"{self.unit}s"
        if self.total is None:
            return f"[progress] {self.what} {self.done} {units}, {rate:.1f} {units}/s"
        text = f"[progress] {self.what} {self.done}/{self.total} {units} ({100 * self.done / self.total:.0f} %), " \
               f"{rate:.1f} {units}/s"
        if rate > 0 and self.done < self.total:
            text += f", about {(self.total - self.done) / rate:.0f} s left"
        return text

    def clear(self) -> None:
        """Make room for a line of another kind (a note): the bar is wiped, then redrawn by the next update."""
        if self._bar is not None:
            self._bar.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
