"""OpenCV captures: webcams (V4L2 on Linux) and network streams (RTSP, HTTP video).

Both are :class:`~artem_vr.sources.live.LiveSource`: they must open at ``start()`` within
``timeout`` seconds (else :class:`SourceError`), and reconnect with backoff when they drop.
OpenCV's FFmpeg backend is given open/read timeouts, and every open runs under a deadline
of our own as well, since some servers make it block regardless.
"""

from __future__ import annotations

import glob
import sys
import threading
from typing import Callable

import cv2
import numpy as np

from artem_vr.errors import SourceError
from artem_vr.sources.live import LiveSource, call_with_deadline, redact

_FIX_CAMERA = (
    "list cameras with `artem-vr doctor`; check the camera is plugged in and not used by "
    "another program (on Linux your user needs the 'video' group), or use --source sample"
)
_FIX_STREAM = "check the URL plays in a video player (e.g. ffplay or VLC) on this machine, and the port is right"


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """An OpenCV image (gray, BGR or BGRA, uint8) → RGB uint8 (H, W, 3)."""
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def list_video_devices() -> list[str]:
    """``/dev/video*`` device nodes present on this machine (Linux), sorted by number."""

    def num(p):
        tail = p[len("/dev/video") :]
        return int(tail) if tail.isdigit() else 1 << 30

    return sorted(glob.glob("/dev/video*"), key=num)


def _quiet_opencv() -> None:
    """OpenCV's own "can't open camera by index" warnings: our SourceError says it better."""
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (AttributeError, cv2.error):  # a build without cv2.utils.logging keeps its default level
        pass


class CvCapture:
    """One ``cv2.VideoCapture``, opened (and its first frame read) under a deadline.

    ``make()`` builds the capture; :meth:`open` raises :class:`SourceError` when it does
    not open or deliver a frame within ``timeout`` seconds. :meth:`read` returns RGB uint8
    and raises :class:`SourceError` when no frame comes (unplugged, stream ended).
    """

    def __init__(self, make: Callable[[], cv2.VideoCapture], label: str, timeout: float, fix: str,
                 not_opened: Callable[[], SourceError]):
        self._make, self.label, self.timeout, self.fix = make, label, timeout, fix
        self._not_opened = not_opened
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        self.fps: float | None = None

    def open(self) -> "CvCapture":
        abandoned = threading.Event()

        def open_and_read():
            _quiet_opencv()
            cap = self._make()
            ok, bgr = cap.read() if cap.isOpened() else (False, None)
            if not ok or bgr is None or abandoned.is_set():
                cap.release()
                return None, None
            return cap, bgr

        try:
            cap, bgr = call_with_deadline(open_and_read, self.timeout, self.label, self.fix)
        except SourceError:
            abandoned.set()  # a capture that opens late is released by its own thread
            raise
        if cap is None:
            raise self._not_opened()
        self._cap, self._first = cap, bgr_to_rgb(bgr)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 < fps < 1000 else None
        return self

    def read(self) -> np.ndarray:
        if self._first is not None:
            f, self._first = self._first, None
            return f
        if self._cap is None:
            raise SourceError("not connected", self.fix)
        try:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise SourceError("no frame (device unplugged or stream ended)", self.fix)
            return bgr_to_rgb(bgr)
        except cv2.error as e:  # a broken frame or a backend failure: the stream dropped
            raise SourceError(f"OpenCV could not read a frame ({' '.join(str(e).split())[:120]})", self.fix) from None

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def stream_capture(url: str, timeout: float) -> CvCapture:
    """A :class:`CvCapture` for a network URL through OpenCV's FFmpeg backend."""
    ms = int(timeout * 1000)

    def make():
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)

    shown = redact(url)
    return CvCapture(make, shown, timeout, _FIX_STREAM,
                     lambda: SourceError(f"{shown}: OpenCV (FFmpeg) cannot open the stream", _FIX_STREAM))


class _CvCaptureSource(LiveSource):
    """A live source read through one :class:`CvCapture`, made by :meth:`_capture` at each
    (re)connection; :attr:`_fix` is the hint of its errors."""

    _fix = ""
    _cap: CvCapture | None = None

    def _capture(self) -> CvCapture:
        raise NotImplementedError

    def _connect(self) -> None:
        self._cap = self._capture().open()
        self.fps = self._cap.fps

    def _read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceError("not connected", self._fix)
        return self._cap.read()

    def _disconnect(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.close()


class WebcamSource(_CvCaptureSource):
    """A webcam by index (``0``, ``cam:1``) or device path (``/dev/video2``), via OpenCV.

    ``width``/``height``/``fps`` are requests to the driver; the camera may choose others.
    """

    name = "webcam"
    _fix = _FIX_CAMERA

    def __init__(self, device: int | str, stereo=None, timeout: float = 5.0, notify=None,
                 width: int | None = None, height: int | None = None, fps: float | None = None):
        label = f"cam:{device}" if isinstance(device, int) else str(device)
        super().__init__(label, stereo=stereo, timeout=timeout, notify=notify)
        self.device = device
        self.request = (width, height, fps)

    def _make(self) -> cv2.VideoCapture:
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.device, api)
        if cap.isOpened():
            w, h, fps = self.request
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog
            if w:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            if h:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            if fps:
                cap.set(cv2.CAP_PROP_FPS, fps)
        return cap

    def _not_opened(self) -> SourceError:
        present = list_video_devices()
        have = ", ".join(present) if present else "none"
        return SourceError(f"camera {self.label} cannot be opened (video devices here: {have})", _FIX_CAMERA)

    def _capture(self) -> CvCapture:
        return CvCapture(self._make, self.label, self.timeout, _FIX_CAMERA, self._not_opened)


class OpenCVStreamSource(_CvCaptureSource):
    """A network stream read by OpenCV's FFmpeg backend: ``rtsp://`` and friends."""

    name = "stream"
    _fix = _FIX_STREAM

    def __init__(self, url: str, stereo=None, timeout: float = 5.0, notify=None):
        super().__init__(redact(url), stereo=stereo, timeout=timeout, notify=notify)
        self.url = url

    def _capture(self) -> CvCapture:
        return stream_capture(self.url, self.timeout)
