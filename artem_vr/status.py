"""The terminal status line: :class:`StatusPrinter` prints the run's
:class:`~artem_vr.contracts.Status` every few seconds, so no run is silent."""

from __future__ import annotations

from artem_vr.timing import PeriodicThread


class StatusPrinter:
    """Prints ``feed.status().line()`` every ``period`` seconds on its own thread, so no run is
    silent (before the first frame it says it is waiting). ``with StatusPrinter(feed):``."""

    def __init__(self, feed, period: float = 5.0, printer=print):
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
