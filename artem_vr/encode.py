"""Writing image and video files in the project's convention: RGB frames in, files out.

Everything here takes host frames: ``numpy.uint8`` ``(H, W, 3)`` **RGB**; OpenCV's BGR order
never leaves this module. Nothing here is atomic: the user's outputs go through
:mod:`artem_vr.atomic`, which encodes with these (the readers: :mod:`artem_vr.sources.imageio`).

* :func:`encode_image` — RGB uint8 → the bytes of a png/jpg/bmp/webp/tiff file.
* :func:`write_image` — RGB uint8 → png/jpg/bmp/webp/tiff.
* :class:`VideoWriterRGB` — write RGB frames to mp4 (``mp4v``), falling back to MJPG/avi.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from artem_vr.errors import ImageError, user_facing
from artem_vr.frames import VIDEO_WRITE_SUFFIXES, check_rgb8

#: extensions :func:`write_image` accepts
WRITE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def encode_image(rgb: np.ndarray, ext: str, quality: int = 95, name: str = "image") -> bytes:
    """RGB uint8 (H, W, 3) → the bytes of a png/jpg/bmp/webp/tiff file (format from ``ext``)."""
    rgb = check_rgb8(rgb, "write_image")
    ext = ext.lower()
    if ext not in WRITE_EXTS:
        raise ImageError(
            f"cannot write an image with extension {ext or '(none)'!r}: {name}",
            f"use one of {', '.join(sorted(WRITE_EXTS))}",
        )
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"could not encode {name} as {ext}", "try another image type (.png)")
    return buf.tobytes()


def write_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB uint8 (H, W, 3) image; the format follows the extension. Creates parent dirs.

    Not atomic: for the user's outputs use :func:`artem_vr.atomic.write_image_atomic`.
    """
    path = Path(path)
    data = encode_image(rgb, path.suffix, quality, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ImageError(f"could not write image {path} ({e.strerror or e})",
                         "check the directory is writable and the disk not full") from None
    return path



class VideoWriterRGB:
    """Write RGB uint8 (H, W, 3) frames to a video file. Usable as ``with``.

    ``.mp4``/``.m4v``/``.mov`` use the ``mp4v`` codec; ``.avi`` uses MJPG. If OpenCV cannot
    open the requested codec, the writer falls back to MJPG in ``<stem>.avi`` and says so on
    stderr; :attr:`path` is the file actually written. The size comes from the first frame
    unless given as ``size=(w, h)``; every later frame must have the same size.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, size: tuple[int, int] | None = None):
        if not (0 < fps <= 1000):
            raise ImageError(f"video fps must be in (0, 1000], got {fps}", "pass a positive frame rate")
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_WRITE_SUFFIXES:
            raise ImageError(f"cannot write a video with extension {ext or '(none)'!r}: {self.path}", "use .mp4 or .avi")
        self.fps = float(fps)
        self.size = size
        self.frames_written = 0
        self.fourcc = "MJPG" if ext == ".avi" else "mp4v"
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        if size is not None:
            self._open(size)

    def _open(self, size: tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not w.isOpened():
            w.release()
            self._check_file_can_be_made()  # the folder's fault (its permissions, a full disk), not the codec's
            if self.fourcc != "MJPG":
                fallback = self.path.with_suffix(".avi")
                print(  # the names the user gave, never a writer's temporary one
                    user_facing(f"video: codec {self.fourcc} unavailable for {self.path}, writing MJPG to {fallback} instead"),
                    file=sys.stderr,
                )
                self.path, self.fourcc = fallback, "MJPG"
                w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not w.isOpened():
            w.release()
            raise ImageError(f"OpenCV cannot write video {self.path}", "check the directory is writable; try an .avi path")
        self._writer = w
        self.size = size

    def _check_file_can_be_made(self) -> None:
        """The OSError of creating :attr:`path` (OpenCV only says that it could not open it)."""
        existed = self.path.exists()
        with open(self.path, "ab"):
            pass
        if not existed:
            self.path.unlink()

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 (H, W, 3) frame."""
        if self._closed:
            raise ImageError(f"video writer for {self.path} is closed", "open a new VideoWriterRGB")
        rgb = check_rgb8(rgb, "VideoWriterRGB.write")
        h, w = rgb.shape[:2]
        if self._writer is None:
            self._open((w, h))
        if (w, h) != tuple(self.size):
            raise ImageError(
                f"frame size {w}x{h} differs from the video's {self.size[0]}x{self.size[1]} ({self.path})",
                "resize frames to one size before writing",
            )
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
