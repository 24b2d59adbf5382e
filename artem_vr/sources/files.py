"""File sources: a video file played at its own frame rate, and a still image repeated."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from artem_vr.errors import ImageError, SourceError
from artem_vr.sources.base import FrameSource
from artem_vr.sources.imageio import DEFAULT_MAX_MEGAPIXELS, VideoReaderRGB, read_image


class VideoFileSource(FrameSource):
    """Frames of a video file, paced at the file's FPS (``realtime=False``: as fast as read).

    ``loop=True`` starts again from the first frame at the end; otherwise the end of the
    file sets :attr:`ended` and :meth:`wait_frame` returns None. ``max_megapixels``: the decode
    limit (larger frames are refused before one is decoded).
    """

    name = "video"
    opens_a_file = True

    def __init__(self, path: str | os.PathLike, loop: bool = True, stereo: str | None = None, realtime: bool = True,
                 *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        super().__init__(stereo=stereo)
        self.max_megapixels = max_megapixels
        self.path = Path(path)
        self.label = str(path)
        self.loop = loop
        self.realtime = realtime
        self.loops = 0
        self._reader: VideoReaderRGB | None = None

    def _open(self) -> None:
        try:
            self._reader = VideoReaderRGB(self.path, max_megapixels=self.max_megapixels)
        except ImageError as e:
            raise SourceError(e.what, e.fix) from None
        self.fps = self._reader.fps
        self.pace = 1.0 / self.fps if self.realtime else None

    def _grab(self) -> np.ndarray | None:
        r = self._reader
        if r is None:
            return None
        f = r.read()
        if f is None and self.loop and self.frames_captured > 0:
            if r.rewind():
                self.loops += 1
                f = r.read()
        return f

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class ImageSource(FrameSource):
    """A still image, published ``fps`` times a second (the same read-only array each time).

    ``loop=False`` publishes it once and ends. ``max_megapixels``: the decode limit (a larger
    image is refused before it is decoded).
    """

    name = "image"
    opens_a_file = True

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, stereo: str | None = None, loop: bool = True,
                 *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        super().__init__(stereo=stereo)
        self.max_megapixels = max_megapixels
        if not fps > 0:
            raise SourceError(f"image source fps must be > 0, got {fps}", "pass a positive frame rate")
        self.path = Path(path)
        self.label = str(path)
        self.fps = float(fps)
        self.pace = 1.0 / self.fps
        self.loop = loop
        self._image: np.ndarray | None = None

    def _open(self) -> None:
        if self._image is not None:  # read by check() already
            return
        try:
            img = read_image(self.path, max_megapixels=self.max_megapixels)
        except ImageError as e:
            raise SourceError(e.what, e.fix) from None
        img.flags.writeable = False  # shared by every frame: consumers must copy to modify
        self._image = img

    def _grab(self) -> np.ndarray | None:
        if not self.loop and self.frames_captured >= 1:
            return None
        return self._image
