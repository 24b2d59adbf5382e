"""A hung OpenXR runtime must not hang the app: a watchdog over the XR frame loop.

The OpenXR calls that can block (``xrWaitFrame``, ``xrEndFrame``, ``xrPollEvent``, swapchain
waits) run in the main thread, inside C; a runtime whose service is stopped (not killed) never
answers them, and Python cannot interrupt a C call — not even for Ctrl-C, whose handler runs
only when the call returns. :class:`RuntimeWatchdog` runs beside the loop in a thread:

* the watchdog lives as long as the XR output (its ExitStack enters it first, so it also watches
  the teardown, which calls into the runtime too);
* the loop calls :meth:`beat` once per iteration; no beat for ``timeout_s`` → one line ("the
  OpenXR runtime stopped responding …"), the run's open recordings are finished so that they
  play (the :class:`~artem_vr.recording.OpenRecordings` it is given), and the process exits with
  code 2;
* a signal (SIGINT, SIGTERM, SIGHUP) is seen through :func:`signal.set_wakeup_fd` even while the
  main thread is stuck in C: if the loop has not ended ``signal_grace_s`` after it, the same
  clean-up runs and the process exits with 128 + the signal.

A responsive loop never notices the watchdog: a signal ends it through the normal path
(``errors.Interrupted``) and leaving the ``with`` block stops the thread.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from artem_vr.recording import OpenRecordings
from artem_vr.timing import PeriodicThread

DEFAULT_TIMEOUT_S = 10.0


def _emergency_exit(message: str, code: int, recordings: OpenRecordings | None) -> None:
    print(f"artem-vr run: error: {message}", file=sys.stderr, flush=True)
    if recordings is not None:
        recordings.close_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class RuntimeWatchdog:
    """``with RuntimeWatchdog(10.0) as dog:`` around the frame loop, ``dog.beat()`` each iteration.
    ``recordings``: the run's open recordings, finished before an emergency exit."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, signal_grace_s: float = 3.0, poll_s: float = 0.1, *,
                 recordings: OpenRecordings | None = None):
        if not timeout_s > 0:
            raise ValueError(f"watchdog timeout must be positive, got {timeout_s}")
        self.timeout_s, self.signal_grace_s, self.poll_s = float(timeout_s), float(signal_grace_s), float(poll_s)
        self._last = time.monotonic()
        self._thread = PeriodicThread(self.poll_s, self._check, "xr-watchdog")
        self._rfd = self._wfd = None
        self._old_wakeup = -1
        self._signal: tuple[int, float] | None = None
        self.recordings = recordings
        self._armed = False  # set by the first beat: start-up and the first stylized frame may take long

    def beat(self) -> None:
        """The frame loop made progress; the first beat arms the no-progress timeout."""
        self._last = time.monotonic()
        self._armed = True

    def __enter__(self):
        self._last = time.monotonic()
        if threading.current_thread() is threading.main_thread():
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)
            os.set_blocking(self._rfd, False)
            self._old_wakeup = signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._thread.stop()
        if self._wfd is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            os.close(self._wfd)
            os.close(self._rfd)
            self._rfd = self._wfd = None

    def _pending_signal(self) -> None:
        if self._rfd is None:
            return
        try:
            data = os.read(self._rfd, 64)
        except BlockingIOError:
            return
        if data and self._signal is None:
            self._signal = (data[-1], time.monotonic())

    def _check(self) -> None:
        self._pending_signal()
        now = time.monotonic()
        if self._signal is not None and now - self._signal[1] > self.signal_grace_s:
            signum = self._signal[0]
            name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
            _emergency_exit(f"{name} while the OpenXR runtime was not answering: stopped; what was recorded "
                            "is kept", 128 + signum, self.recordings)
        if self._armed and now - self._last > self.timeout_s:
            _emergency_exit(f"the OpenXR runtime stopped responding (no frame for {self.timeout_s:.0f} s) — "
                            "restart SteamVR / monado-service; what was recorded is kept", 2, self.recordings)
