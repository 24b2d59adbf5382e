"""Frame sources: webcam, video, image, screen, IP camera, sample — one interface.

:func:`open_source` turns a ``--source`` string into a :class:`FrameSource` (not started;
use it as ``with open_source(spec) as src:`` or call ``start()``):

==========================  ===============================================================
``sample`` / ``sample:sbs``  the bundled procedural landscape (mono / side-by-side stereo)
``sim-camera[:FILE]``        a simulated head-mounted camera: the view of a 360° panorama
                             (the shipped one, or FILE) from the head pose at capture time
``0``, ``cam:1``             webcam by index; ``/dev/video2`` by device path
``http(s)://…``              IP camera: MJPEG (phone apps, network cameras) or a JPEG
                             snapshot URL; other http video goes to OpenCV/FFmpeg
``rtsp://…``                 RTSP camera via OpenCV/FFmpeg
``screen``                   the first monitor; ``screen:N`` monitor N; ``screen:x,y,w,h``
                             a region
a file path                  a still image or a video, told apart by content
==========================  ===============================================================

``stereo="sbs"`` marks frames as side-by-side stereo (``Frame.stereo``); consumers split
the halves (``Frame.eyes()``).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from artem_vr.errors import SourceError, UsageError
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.sources.base import FrameSource  # noqa: F401
from artem_vr.sources.screen import ScreenSource
from artem_vr.sources.sim_camera import SimCameraSource

STEREO_MODES = (None, "mono", "sbs")

SPEC_HELP = (
    "use one of: sample, sample:sbs, sim-camera, sim-camera:PANORAMA, 0 or cam:N (webcam), /dev/videoN, http(s)://… or rtsp://… "
    "(IP camera), screen, screen:N, screen:x,y,w,h, or the path of an image or video file"
)


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``--source`` value. ``kind`` is one of
    ``sample | sim-camera | webcam | url | rtsp | screen | image | video``."""

    kind: str
    target: object = None  # webcam index/path, URL, region tuple, monitor int, file Path
    sbs: bool = False  # sample:sbs


_REGION = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$", re.ASCII)
#: the largest index or coordinate a --source may give (OpenCV and X take a C int)
_MAX_INT = 2**31 - 1


def _is_index(text: str) -> bool:
    """``text`` is a whole number written in ASCII digits (``"²".isdigit()`` is true, ``int("²")`` fails)."""
    return text.isascii() and text.isdigit()


def _bounded(value: int, shown: str) -> int:
    if value > _MAX_INT:
        raise UsageError(f"{shown!r}: {value} is too large for a camera, screen or pixel number", SPEC_HELP)
    return value


def parse_spec(spec: str | int) -> SourceSpec:
    """Parse a ``--source`` value (no I/O except looking at a file's first bytes).

    Raises :class:`UsageError` for malformed values and :class:`SourceError` for a file
    that does not exist or is neither an image nor a video.
    """
    if isinstance(spec, bool) or not isinstance(spec, (str, int, os.PathLike)):
        raise UsageError(f"source must be a string, got {type(spec).__name__}", SPEC_HELP)
    if isinstance(spec, int):
        if spec < 0:
            raise UsageError(f"camera index must be >= 0, got {spec}", SPEC_HELP)
        return SourceSpec("webcam", _bounded(spec, str(spec)))
    if isinstance(spec, os.PathLike):
        return _parse_path(Path(spec), str(spec))
    s = spec.strip()
    if not s:
        raise UsageError("empty source", SPEC_HELP)
    low = s.lower()
    if _is_index(s):
        return SourceSpec("webcam", _bounded(int(s), s))
    if low.startswith(("cam:", "webcam:")):
        tail = s.split(":", 1)[1].strip()
        if not _is_index(tail):
            raise UsageError(f"bad camera index in {s!r}", "write cam:0, cam:1, … (a number >= 0)")
        return SourceSpec("webcam", _bounded(int(tail), s))
    if low.startswith(("http://", "https://")):
        return SourceSpec("url", s)
    if low.startswith(("rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://", "srt://")):
        return SourceSpec("rtsp", s)
    if low == "sample":
        return SourceSpec("sample", None, sbs=False)
    if low.startswith("sample:"):
        opt = low.split(":", 1)[1]
        if opt in ("sbs", "stereo"):
            return SourceSpec("sample", None, sbs=True)
        if opt in ("mono", ""):
            return SourceSpec("sample", None, sbs=False)
        raise UsageError(f"unknown sample variant {opt!r}", "use sample or sample:sbs")
    if low == "sim-camera":
        return SourceSpec("sim-camera", None)
    if low.startswith("sim-camera:"):
        tail = s.split(":", 1)[1].strip()
        if not tail:
            raise UsageError("empty panorama in 'sim-camera:'", "write sim-camera or sim-camera:PANORAMA.jpg")
        return SourceSpec("sim-camera", Path(tail).expanduser())
    if low == "screen":
        return SourceSpec("screen", 1)
    if low.startswith("screen:"):
        tail = s.split(":", 1)[1]
        if _is_index(tail.strip()):
            return SourceSpec("screen", _bounded(int(tail), s))
        m = _REGION.match(tail)
        if not m:
            raise UsageError(f"bad screen region {tail!r}", "write screen:x,y,w,h, e.g. screen:0,0,1280,720, or screen:N for monitor N")
        x, y, w, h = (_bounded(int(v), s) for v in m.groups())
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            raise UsageError(f"bad screen region {tail!r}: x,y must be >= 0 and w,h > 0", "e.g. screen:0,0,1280,720")
        return SourceSpec("screen", (x, y, w, h))
    if low.startswith("/dev/video"):
        return SourceSpec("webcam", s)
    m = re.match(r"^([a-z][a-z0-9+.-]*)://", low)
    if m:
        raise UsageError(f"unsupported URL scheme {m.group(1)!r} in {s!r}", "use http://, https:// or rtsp://")
    return _parse_path(Path(s).expanduser(), s)


def _parse_path(path: Path, shown: str) -> SourceSpec:
    if not path.exists():
        if ":" in shown and os.sep not in shown.split(":", 1)[0]:
            raise UsageError(f"unknown source {shown!r}", SPEC_HELP)
        raise SourceError(f"no such file: {shown}", "check the path; or " + SPEC_HELP)
    if path.is_dir():
        raise SourceError(f"{shown} is a directory", "give one image or video file, " + SPEC_HELP.replace("use one of: ", "or: "))
    try:
        st = path.stat()
    except OSError as e:
        raise SourceError(f"cannot read {shown}: {e}", "check the file's permissions") from None
    if stat.S_ISCHR(st.st_mode):
        return SourceSpec("webcam", str(path))
    if st.st_size == 0:
        raise SourceError(f"{shown} is empty (0 bytes)", "re-copy the file")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise SourceError(f"cannot read {shown}: {e}", "check the file's permissions") from None
    from artem_vr.sources.imageio import sniff_image, sniff_video  # lazy: OpenCV only when this runs

    kind = sniff_image(head)
    if kind == "gif" and _gif_frames(path) > 1:
        return SourceSpec("video", path)  # an animated GIF plays like a video
    if kind:
        return SourceSpec("image", path)
    if path.suffix.lower() in STILL_IMAGE_SUFFIXES and not sniff_video(head):
        # named an image, and neither one nor a video by its content: not "OpenCV cannot open video"
        raise SourceError(f"{shown} is not an image file (by its content: no png, jpg, bmp, webp, gif or tiff header)",
                          "give a png/jpg/bmp/webp/tiff image, or a video file under its own name (e.g. .mp4)")
    return SourceSpec("video", path)  # OpenCV decides at start(); not a video → SourceError there


#: names of still images: a file so named whose first bytes are no image is refused as one
STILL_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _gif_frames(path: Path) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return 1  # not a readable GIF: the image reader reports what is wrong


def open_source(spec: str | int, *, stereo: str | None = None, loop: bool = True, timeout: float = 5.0,
                poses=None, sim: dict | None = None, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> FrameSource:
    """A :class:`FrameSource` for ``spec`` (see the module doc), not yet started.

    ``stereo``: None/"mono" or "sbs" (side-by-side frames; ``sample:sbs`` implies it).
    ``loop``: replay video files (and the sample) at their end; else they end.
    ``timeout``: seconds a live source (camera, URL) may take to open or stall before it
    counts as failed. ``poses``: the run's :class:`~artem_vr.pose.PoseHistory` (the simulated
    camera follows the head with it); ``sim``: the simulated camera's options
    (:class:`~artem_vr.sources.sim_camera.SimCameraSource` keywords: capture_delay, fov_deg,
    size, fps, pan_deg_s). ``max_megapixels``: the decode limit of a file or an http camera's
    frames (the command's ``--max-megapixels``). Raises :class:`UsageError` for a malformed
    spec or option.
    """
    if stereo not in STEREO_MODES:
        raise UsageError(f"unknown stereo layout {stereo!r}", "use --stereo sbs (side by side) or leave it out for mono")
    if stereo == "mono":
        stereo = None
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise UsageError(f"source timeout must be a positive number of seconds, got {timeout!r}", "e.g. --source-timeout 5")
    p = parse_spec(spec)
    if p.kind == "sim-camera":
        return SimCameraSource(p.target, poses=poses, stereo=stereo, **(sim or {}))
    if p.kind == "sample":
        from artem_vr.sources.sample import SampleSource  # lazy: OpenCV only when this runs

        return SampleSource(sbs=p.sbs or stereo == "sbs", loop=loop)
    if p.kind == "webcam":
        from artem_vr.sources.camera import WebcamSource  # lazy: OpenCV only when this runs

        return WebcamSource(p.target, stereo=stereo, timeout=timeout)
    if p.kind == "url":
        from artem_vr.sources.mjpeg import HttpCameraSource  # lazy: OpenCV only when this runs

        return HttpCameraSource(p.target, stereo=stereo, timeout=timeout, max_megapixels=max_megapixels)
    if p.kind == "rtsp":
        from artem_vr.sources.camera import OpenCVStreamSource  # lazy: OpenCV only when this runs

        return OpenCVStreamSource(p.target, stereo=stereo, timeout=timeout)
    if p.kind == "screen":
        if isinstance(p.target, tuple):
            return ScreenSource(region=p.target, stereo=stereo)
        return ScreenSource(monitor=p.target, stereo=stereo)
    if p.kind == "image":
        from artem_vr.sources.files import ImageSource  # lazy: OpenCV only when this runs

        return ImageSource(p.target, stereo=stereo, max_megapixels=max_megapixels)
    from artem_vr.sources.files import VideoFileSource  # lazy: OpenCV only when this runs

    return VideoFileSource(p.target, loop=loop, stereo=stereo, max_megapixels=max_megapixels)
