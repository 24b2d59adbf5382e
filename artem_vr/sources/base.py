"""The frame-source interface: a capture thread and latest-frame semantics.

A source captures on its own thread and keeps only the newest :class:`~artem_vr.frames.Frame`
(RGB uint8 (H, W, 3), capture time, index). Consumers call :meth:`FrameSource.read_latest`
(never blocks) or :meth:`FrameSource.wait_frame` (blocks until a newer frame than the one they
have). Frames the consumer was too slow to take are dropped: there is no queue, so no latency
builds up. When the stream ends, :attr:`ended` becomes True and waiting returns ``None``.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

import numpy as np

from artem_vr.frames import Frame, LatestSlot, check_rgb8


class FrameSource(ABC):
    """Base class: subclasses implement :meth:`_open`, :meth:`_grab` and :meth:`_close`.

    ``_grab`` returns an RGB uint8 frame, or ``None`` at end of stream; it raises
    :class:`~artem_vr.errors.SourceError` when the device fails (live sources reconnect).

    Capture time: every frame is stamped with ``time.monotonic()`` the moment ``_grab`` returns
    it (when the frame reached us, before any checks or hand-off), never later in the pipeline;
    ``Frame.t`` travels through the worker into ``StylizedFrame.source_t``. A source that knows
    its frame was exposed earlier (the simulated camera with its capture delay) returns
    ``(image, t)`` with that monotonic time instead.
    """

    name = "source"
    #: what to call this source in messages (its spec or URL); subclasses set it
    label = "source"
    #: nominal frames per second when known (file, image, sample, screen), else None
    fps: float | None = None
    #: seconds between frames for sources that produce them on their own clock (file, image)
    pace: float | None = None

    def __init__(self, stereo: str | None = None):
        self.stereo = stereo
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()  # set as the capture thread ends
        self._index = 0
        self.ended = False
        self.error: BaseException | None = None
        self.frames_captured = 0
        #: set by live sources while they reconnect (monotonic time the stream was lost), else None

    # -- to implement ---------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _grab(self) -> np.ndarray | None: ...

    def _close(self) -> None:
        pass

    # -- lifecycle ------------------------------------------------------------------
    #: opening reads only a file (a video, an image, a panorama): quick, no device, no network
    opens_a_file = False

    def check(self) -> None:
        """Refuse now what :meth:`start` would refuse of the file this source reads (it cannot be
        read, is no video or image OpenCV decodes, is over the size limit), without capturing: a
        command says so before it spends seconds loading a model. Sources that open a device or a
        stream (cameras, URLs, the screen) are only tried by start()."""
        if self.opens_a_file:
            self._open()
            self._close()

    def start(self) -> "FrameSource":
        """Open the device (errors raise here, in the caller's thread) and start capturing.

        Starting a source that is already running does nothing (so ``with src.start():`` works).
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        self._open()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._slot.close()
        self._close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- consumer side --------------------------------------------------------------
    def read_latest(self) -> Frame | None:
        """The newest frame, or None if none has arrived yet. Never blocks."""
        return self._slot.get()[1]

    def wait_frame(self, after_index: int = -1, timeout: float | None = 5.0) -> Frame | None:
        """Block until a frame newer than ``after_index`` exists; None at end of stream/timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            f = self._slot.get()[1]
            if f is not None and f.index > after_index:
                return f
            if self.ended or self._slot.closed:
                return None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._slot.wait_newer(self._slot.get()[0], timeout=min(0.1, remaining) if remaining else 0.1)

    def state(self) -> tuple[str, float | None]:
        """(``"live"`` or ``"ended"``, seconds since the newest frame, None before the first) —
        what a HUD shows when the picture is frozen. Live sources add ``"stalled"`` and
        ``"reconnecting"`` (:meth:`artem_vr.sources.live.LiveSource.state`)."""
        f = self._slot.get()[1]
        age = None if f is None else max(0.0, time.monotonic() - f.t)
        return ("ended" if self.ended or self._stop.is_set() else "live"), age

    # -- capture thread -------------------------------------------------------------
    def _publish(self, rgb: np.ndarray, t: float | None = None) -> Frame:
        """Hand a frame to the consumer; ``t``: its capture time (monotonic; None: now)."""
        t = time.monotonic() if t is None else float(t)
        frame = Frame(check_rgb8(rgb, f"{self.name} frame"), t, self._index, self.stereo)
        self._index += 1
        self.frames_captured += 1
        self._slot.put(frame)
        return frame

    def _run(self) -> None:
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                img = self._grab()
                t_grab = time.monotonic()  # stamped at grab, whatever happens to the frame next
                if img is None:
                    self.ended = True
                    break
                if isinstance(img, tuple):  # (image, capture time) from a source that knows it
                    img, t_grab = img
                self._publish(img, t_grab)
                if self.pace:
                    next_t += self.pace
                    delay = next_t - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_t = time.monotonic()
        except BaseException as e:  # surfaced to the consumer through .error
            self.error = e
            self.ended = True
        finally:
            self._slot.close()
            self._done.set()
