"""Screen capture with ``mss`` (X11 and Xvfb on Linux; Windows and macOS natively): ``screen`` (first monitor), ``screen:N``
(monitor N, 1-based; 0 = all monitors together) or ``screen:x,y,w,h`` (a region)."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from artem_vr.errors import SourceError
from artem_vr.sources.base import FrameSource

_FIX_DISPLAY = "run inside an X session (DISPLAY set, e.g. DISPLAY=:0), or use --source sample/a video file/a camera"


def _mss(display: str | None):
    try:
        import mss
    except ImportError:
        raise SourceError("screen capture needs the 'mss' package", "pip install mss") from None
    try:
        return mss.MSS(display=display) if display else mss.MSS()
    except Exception as e:  # mss.ScreenShotError and ctypes load failures
        shown = display or os.environ.get("DISPLAY") or "(DISPLAY not set)"
        raise SourceError(f"cannot connect to the X display {shown}: {e}", _FIX_DISPLAY) from None


class ScreenSource(FrameSource):
    """Captures the screen or a region of it at ``fps`` (default 30), RGB uint8.

    ``region=(x, y, w, h)`` in screen pixels (must lie inside the screen) or ``monitor=N``.
    ``display`` defaults to ``$DISPLAY``.
    """

    name = "screen"

    def __init__(self, region: tuple[int, int, int, int] | None = None, monitor: int = 1,
                 fps: float = 30.0, stereo: str | None = None, display: str | None = None):
        super().__init__(stereo=stereo)
        if region is not None:
            x, y, w, h = (int(v) for v in region)
            if w <= 0 or h <= 0 or x < 0 or y < 0:
                raise SourceError(f"screen region {x},{y},{w},{h} is empty or negative",
                                  "give screen:x,y,w,h with x,y >= 0 and w,h > 0")
            region = (x, y, w, h)
        if not fps > 0:
            raise SourceError(f"screen capture fps must be > 0, got {fps}", "pass a positive frame rate")
        self.region = region
        self.monitor_index = int(monitor)
        self.display = display
        self.fps = float(fps)
        self.pace = 1.0 / self.fps
        self.label = "screen" if region is None else "screen:" + ",".join(map(str, region))
        self._box: dict | None = None
        self._local = threading.local()

    def _open(self) -> None:
        if sys.platform.startswith("linux") and not (self.display or os.environ.get("DISPLAY")):  # X11 only there
            raise SourceError("screen capture needs an X display and DISPLAY is not set", _FIX_DISPLAY)
        sct = _mss(self.display)
        try:
            monitors = sct.monitors  # [all, first, second, ...]
            if self.region is None:
                if not 0 <= self.monitor_index < len(monitors):
                    raise SourceError(
                        f"no monitor {self.monitor_index} (this display has {len(monitors) - 1})",
                        "use screen, screen:1 … or a region screen:x,y,w,h",
                    )
                m = monitors[self.monitor_index]
                self._box = {"left": m["left"], "top": m["top"], "width": m["width"], "height": m["height"]}
            else:
                x, y, w, h = self.region
                full = monitors[0]
                if x + w > full["left"] + full["width"] or y + h > full["top"] + full["height"]:
                    raise SourceError(
                        f"screen region {x},{y},{w},{h} goes outside the screen "
                        f"({full['width']}x{full['height']} at {full['left']},{full['top']})",
                        "choose a region inside the screen",
                    )
                self._box = {"left": x, "top": y, "width": w, "height": h}
            self._grab_with(sct)  # fail here, at start, rather than on the capture thread
        finally:
            sct.close()

    def _grab_with(self, sct) -> np.ndarray:
        try:
            shot = sct.grab(self._box)
        except Exception as e:
            raise SourceError(f"screen capture failed: {e}", _FIX_DISPLAY) from None
        bgra = np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)
        return np.ascontiguousarray(bgra[:, :, 2::-1])

    def _grab(self) -> np.ndarray | None:
        # an X connection per thread: the capture thread opens its own
        sct = getattr(self._local, "sct", None)
        if sct is None:
            sct = self._local.sct = _mss(self.display)
            self._thread_sct = sct
        return self._grab_with(sct)

    def _close(self) -> None:
        sct = getattr(self, "_thread_sct", None)
        if sct is not None:
            self._thread_sct = None
            from mss.exception import ScreenShotError

            try:
                sct.close()
            except (ScreenShotError, OSError) as e:  # a lost X connection: said in debug logging
                import logging

                logging.getLogger(__name__).debug("closing the screen capture failed: %s", e)
