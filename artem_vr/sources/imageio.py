"""Reading image and video files in the project's convention (the writers: :mod:`artem_vr.encode`).

Everything here returns host frames: ``numpy.uint8`` ``(H, W, 3)`` **RGB**.
OpenCV's BGR order never leaves this module.

* :func:`read_image` — any still image Pillow or OpenCV knows → RGB uint8. Grayscale is
  expanded, 16-bit is scaled to 8-bit, alpha is composited over white, EXIF rotation is
  applied. Missing, empty, truncated or garbage files raise :class:`ImageError` saying which.
* :class:`VideoReaderRGB` — iterate a video file's frames in order (no dropping).

Decoded sizes are bounded: an image, or a video's frames, larger than the reader's
``max_megapixels`` (:data:`DEFAULT_MAX_MEGAPIXELS`, 50, unless the caller passes its own: the
commands pass their ``--max-megapixels``, a value of their config — no process-wide setting)
is refused from its header, before it is decoded. The readers take the command's
:class:`~artem_vr.atomic.InputsRead` (``inputs=``) and note every file they open in it, so no
output of that command can be written over it.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np

from artem_vr.errors import ImageError
from artem_vr.frames import check_memory, check_rgb8
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS

if TYPE_CHECKING:
    from artem_vr.atomic import InputsRead

_TOO_BIG_FIX = "downscale it first, or raise the limit with --max-megapixels N"


def _max_pixels(max_megapixels: float) -> int:
    return int(float(max_megapixels) * 1e6)


def check_pixels(w: int, h: int, name: str, what: str = "image", max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> None:
    """ImageError if a ``w``×``h`` image/frame is over ``max_megapixels`` (millions of pixels), or
    needs more memory than the machine has available (:func:`artem_vr.frames.check_memory`);
    checked before decoding."""
    if w * h > _max_pixels(max_megapixels):
        raise ImageError(f"{what} {name} is {w}x{h} ({w * h / 1e6:.1f} megapixels), over the limit of "
                         f"{max_megapixels:g} megapixels",
                         _TOO_BIG_FIX)
    check_memory(w, h, name, what)


#: leading bytes of still-image formats (used to tell images from videos by content)
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_image(head: bytes) -> str | None:
    """Image format name from a file's first bytes (at least 12), or None if not a still image."""
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def sniff_video(head: bytes) -> str | None:
    """Video container name from a file's first bytes (at least 12), or None when they are none of
    the common ones (MPEG-4/QuickTime, AVI, Matroska/WebM, Ogg, FLV, ASF, MPEG-PS). Only a hint: a
    file not named a video is still tried by OpenCV; this tells a video misnamed ``.jpg`` from a
    broken picture."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    for magic, kind in ((b"\x1aE\xdf\xa3", "matroska"), (b"OggS", "ogg"), (b"FLV", "flv"),
                        (b"\x30\x26\xb2\x75", "asf"), (b"\x00\x00\x01\xba", "mpeg")):
        if head.startswith(magic):
            return kind
    return None


def _check_file(path: Path, what: str = "image") -> int:
    if not path.exists():
        raise ImageError(f"{what} not found: {path}", "check the path (relative paths start from the current directory)")
    if path.is_dir():
        raise ImageError(f"{what} path is a directory: {path}", f"give the path of one {what} file")
    size = path.stat().st_size
    if size == 0:
        raise ImageError(f"{what} file is empty (0 bytes): {path}", "re-copy or re-download the file")
    return size


def read_image(path: str | os.PathLike, inputs: InputsRead | None = None, *,
               max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """Read a still image file → ``uint8 (H, W, 3)`` RGB, C-contiguous.

    Grayscale → RGB; 16-bit → 8-bit (top byte); alpha → composited over white; palette →
    RGB; EXIF orientation applied. Raises :class:`ImageError` for a missing path, a
    directory, an empty file, a truncated JPEG/PNG, bytes that are not an image, or an image
    over ``max_megapixels`` (from its header, before decoding).
    """
    path = Path(path)
    _check_file(path)
    if inputs is not None:
        inputs.note(path)
    data = path.read_bytes()
    return decode_image(data, str(path), max_megapixels=max_megapixels)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The (w, h) an image's header claims, read by Pillow's format plugins directly — without
    ``Image.open``'s own pixel cap, a process-wide setting this program leaves alone — or None when
    no plugin reads the header. Reads the header only: nothing is decoded."""
    from PIL import Image

    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        try:
            return tuple(factory(io.BytesIO(data), "").size)
        except (SyntaxError, OSError, ValueError, IndexError, TypeError, EOFError, struct.error):
            continue
    return None


def decode_image(data: bytes, name: str = "<bytes>", *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """Decode encoded image bytes → ``uint8 (H, W, 3)`` RGB (see :func:`read_image`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"image is empty (0 bytes): {name}", "re-copy or re-download the file")
    fix = "give a png, jpg, bmp, webp, gif or tiff image"
    try:
        with warnings.catch_warnings():  # our own limit, checked below from the header, is the one that speaks
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))  # Pillow's process-wide MAX_IMAGE_PIXELS is left as it is
    except Image.DecompressionBombError as e:  # over Pillow's own hard cap (its default: 179 MP)
        m = re.search(r"\((\d+) pixels\)", str(e))
        if m and int(m.group(1)) <= _max_pixels(max_megapixels):  # within our (raised) limit: OpenCV decodes it
            claimed = _header_size(data)
            if claimed is not None:
                # the memory bound too, before any decoding
                check_pixels(claimed[0], claimed[1], name, max_megapixels=max_megapixels)
            try:
                a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            except cv2.error as err:  # OpenCV's own pixel cap, or its decoder refusing
                raise ImageError(f"image {name} cannot be decoded ({str(err).strip().splitlines()[-1]})",
                                 _TOO_BIG_FIX) from None
            if a is not None and a.size:
                return check_rgb8(_cv_to_rgb8(a), f"read_image({name})")
        size = f"{int(m.group(1)) / 1e6:.1f}" if m else f"over {2 * max_megapixels:g}"
        raise ImageError(f"image {name} is {size} megapixels, over the limit of {max_megapixels:g} megapixels",
                         _TOO_BIG_FIX) from None
    except UnidentifiedImageError:
        # Pillow lacks some codecs (e.g. TIFF variants) that OpenCV has
        a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if sniff_image(data[:16]) else None
        if a is not None and a.size:
            return check_rgb8(_cv_to_rgb8(a), f"read_image({name})")
        if sniff_image(data[:16]):
            raise ImageError(f"{sniff_image(data[:16]).upper()} image cannot be decoded (corrupt, or an unsupported variant): {name}", fix) from None
        raise ImageError(f"not an image file (unknown format, {len(data)} bytes, starts {data[:8]!r}): {name}", fix) from None
    except Exception as e:
        what = "truncated or corrupt" if "runcat" in str(e) else "unreadable"
        raise ImageError(f"image is {what}: {name} ({e})", "re-copy or re-download the file") from None
    check_pixels(im.size[0], im.size[1], name, max_megapixels=max_megapixels)
    fmt = im.format or "?"
    try:
        im.load()  # full decode: raises on truncated data (ImageFile.LOAD_TRUNCATED_IMAGES stays False)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(
            f"{fmt} image is truncated or corrupt: {name} ({e})", "re-copy or re-download the file"
        ) from None
    if fmt == "JPEG" and _jpeg_truncated(data):
        raise ImageError(f"JPEG image is truncated (no end-of-image marker): {name}", "re-copy or re-download the file")
    if fmt == "PNG" and data.rfind(b"IEND") < 0:
        raise ImageError(f"PNG image is truncated (no IEND chunk): {name}", "re-copy or re-download the file")
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        pass
    try:
        rgb = _pil_to_rgb8(im, data)
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"cannot convert {fmt} image (mode {im.mode}) to RGB: {name} ({e})", "save it as 8-bit RGB png/jpg") from None
    return check_rgb8(rgb, f"read_image({name})")


def _jpeg_truncated(data: bytes) -> bool:
    """True if the JPEG's main image has no end-of-image marker.

    Walks the marker segments (so an EXIF thumbnail's own FFD9 does not count) and the
    entropy-coded scans (where FF is always followed by 00 or a restart marker), and stops
    at the first EOI: data after it (phone "motion photo" videos, vendor trailers) is fine.
    """
    n, i = len(data), 2  # after SOI
    while i + 2 <= n:
        if data[i] != 0xFF:
            return True  # lost sync: corrupt
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return False
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if i + 4 > n:
            return True
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        i += 2 + seg_len
        if marker == 0xDA:  # start of scan: skip entropy-coded data up to the next real marker
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return True
                nxt = data[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    i = j + (1 if nxt == 0xFF else 2)
                    continue
                i = j
                break
    return True


def _pil_to_rgb8(im, data: bytes) -> np.ndarray:
    mode = im.mode
    if _is_16bit_png(im, data):
        # Pillow reduces some 16-bit PNGs itself and keeps others as 'I'; OpenCV keeps all
        # 16 bits, and we take the top byte.
        a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if a is not None and a.dtype == np.uint16:
            return _cv_to_rgb8(a)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im)
        if mode == "F":
            a = np.clip(a, 0.0, 1.0) * 255.0 if a.max(initial=0) <= 1.0 else np.clip(a, 0, 255)
        elif a.max(initial=0) > 255 or mode.startswith("I;16"):
            a = np.asarray(a, dtype=np.uint32) >> 8
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("LA", "La", "PA"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa"):
        return _composite(np.asarray(im.convert("RGBA")))
    if mode == "RGBX":
        return np.ascontiguousarray(np.asarray(im)[:, :, :3])
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _cv_to_rgb8(a: np.ndarray) -> np.ndarray:
    """An OpenCV-decoded image (H, W[, C]) of any depth, BGR(A) order → RGB uint8 (H, W, 3)."""
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype in (np.float32, np.float64):
        scale = 255.0 if float(np.nanmax(a)) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(a, cv2.COLOR_GRAY2RGB))
    if a.shape[2] == 1:
        return np.ascontiguousarray(cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2RGB))
    if a.shape[2] == 2:  # gray + alpha
        return _composite(np.dstack([a[:, :, 0]] * 3 + [a[:, :, 1]]))
    if a.shape[2] == 4:
        return _composite(cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA))
    return np.ascontiguousarray(cv2.cvtColor(a[:, :, :3], cv2.COLOR_BGR2RGB))


def _is_16bit_png(im, data: bytes) -> bool:
    # PNG: the IHDR bit depth is byte 24 of the file.
    return im.format == "PNG" and len(data) > 26 and data[24] == 16


def _composite(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 (H, W, 4) over a white background → RGB uint8 (H, W, 3)."""
    rgb = rgba[:, :, :3].astype(np.float32)
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    out = rgb * a + 255.0 * (1.0 - a)
    return np.ascontiguousarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head or head.startswith(b"#EXTM3U"):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # only a multi-byte character cut at the end
    return True


class VideoReaderRGB:
    """Read a video file's frames in order as RGB uint8 (H, W, 3). Usable as ``with``.

    ``fps`` is the file's frame rate (30 when the file does not say), ``size`` (w, h),
    ``frame_count`` the container's count (may be 0 or approximate). Iterating yields every
    frame; :meth:`read` returns None at the end. Frames over ``max_megapixels`` are refused
    from the container's header (ImageError), before one is decoded (from the first frame, before
    any more is, when the header does not say).
    """

    def __init__(self, path: str | os.PathLike, inputs: InputsRead | None = None, *,
                 max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        self.path = Path(path)
        _check_file(self.path, "video")
        if inputs is not None:
            inputs.note(self.path)
        fix = "give an mp4/avi/mkv/webm file that plays elsewhere"
        with open(self.path, "rb") as f:
            head = f.read(1024)
        if _looks_like_text(head):
            # FFmpeg would happily "play" a text file as ANSI art
            raise ImageError(f"OpenCV cannot open video {self.path}: it is a text file", fix)
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise ImageError(f"OpenCV cannot open video {self.path}", fix)
        w, h = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        try:
            # from the container's header, before a frame is decoded
            check_pixels(w, h, str(self.path), "video", max_megapixels)
        except ImageError:
            self._cap.release()
            raise
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise ImageError(f"OpenCV cannot open video {self.path}: no frame could be decoded", fix)
        if w <= 0 or h <= 0:  # the container did not say: the first frame does, before any more is decoded
            try:
                check_pixels(first.shape[1], first.shape[0], str(self.path), "video", max_megapixels)
            except ImageError:
                self._cap.release()
                raise
        self._peeked: np.ndarray | None = first
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 < fps < 1000 else 30.0
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def read(self) -> np.ndarray | None:
        """Next frame as RGB uint8, or None at the end of the file."""
        if self._cap is None:
            return None
        if self._peeked is not None:
            bgr, self._peeked = self._peeked, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                return None
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        if bgr.shape[2] == 4:
            return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def rewind(self) -> bool:
        """Back to the first frame; False if the container cannot seek (then reopen)."""
        if self._cap is None:
            return False
        self._peeked = None
        if self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            return True
        self._cap.release()
        self._cap = cv2.VideoCapture(str(self.path))
        return self._cap.isOpened()

    def __iter__(self) -> Iterator[np.ndarray]:
        while (f := self.read()) is not None:
            yield f

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
