"""One file, all or nothing: write to a partial name, verify, flush, rename."""

from __future__ import annotations

import errno
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from artem_vr.atomic._fs import DISK_FIX, fsync, fsync_dir, remove, replace
from artem_vr.atomic.inputs import keep_inputs, refuse_inputs
from artem_vr.atomic.leftovers import partial_path
from artem_vr.errors import ImageError, NotADirectory, UsageError, file_in_the_way, path_error
from artem_vr.text import printable

if TYPE_CHECKING:
    import numpy as np


def commit(tmp: Path, target: Path, verify: Callable[[Path], None], inputs: Iterable = (), what: str = "output",
           exclusive: bool = False) -> Path:
    """Verify ``tmp``, flush it, and rename it over ``target``; on failure remove ``tmp`` and raise.

    ``verify(tmp)`` raises :class:`ImageError` when the file is not what was meant to be written.
    ``exclusive``: never replace an existing ``target`` (UsageError if one appeared meanwhile).
    """
    try:
        check_written(tmp, target, verify)
        refuse_inputs(target, inputs, what)  # again: inputs opened since the start count too
        if exclusive:
            _link_new(tmp, target, what)
        else:
            replace(tmp, target)
    except BaseException:
        remove(tmp)
        raise
    fsync_dir(target.parent)
    return target


def _link_new(tmp: Path, target: Path, what: str) -> None:
    """Give ``tmp`` the name ``target`` only if no file has it (even one a concurrent writer
    made a moment ago): a hard link, or — where the file system has none (FAT, some network
    file systems) — an exclusively created empty file renamed over."""
    taken = UsageError(f"{what} {target} appeared while it was being written", "try again")
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise taken from None
    except OSError:
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            raise taken from None
        except OSError as e:
            raise ImageError(f"could not write {target} ({e.strerror or e})", DISK_FIX) from None
        replace(tmp, target)
        return
    remove(tmp)


def check_written(tmp: Path, target: Path, verify: Callable[[Path], None] | None) -> None:
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise ImageError(f"nothing was written for {target} (empty file)", DISK_FIX)
    if verify is not None:
        verify(tmp)
    fsync(tmp)


def write_file_atomic(target: str | os.PathLike, write: Callable[[Path], object], verify: Callable[[Path], None] | None = None,
                      inputs: Iterable = (), what: str = "output", exclusive: bool = False) -> Path:
    """``write(tmp)`` writes the file (to a partial name beside ``target``, same suffix);
    ``verify(tmp)`` checks it; then it replaces ``target``: all or nothing. An OSError while
    writing (a full disk, a read-only folder) is an :class:`ImageError` naming ``target``."""
    target = Path(target)
    inputs = keep_inputs(inputs)
    refuse_inputs(target, inputs, what)
    check_folder(target, what)
    tmp = partial_path(target)
    write_partial(tmp, target, write)
    return commit(tmp, target, verify or (lambda p: None), inputs, what, exclusive)


def write_partial(tmp: Path, target: Path, write: Callable[[Path], object]) -> None:
    try:
        write(tmp)
    except OSError as e:
        remove(tmp)
        raise ImageError(f"could not write {target} ({e.strerror or e})", DISK_FIX) from None
    except BaseException:
        remove(tmp)
        raise


def write_bytes_atomic(target: str | os.PathLike, data: bytes, inputs: Iterable = (), what: str = "output",
                       verify: Callable[[Path], None] | None = None) -> Path:
    """``data`` to ``target``, all or nothing (checked to be all there when read back)."""
    return write_file_atomic(target, lambda p: p.write_bytes(data), bytes_check(target, len(data), verify), inputs, what)


def bytes_check(target, n: int, verify: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A verifier: the file written for ``target`` holds all ``n`` bytes (then ``verify``, if given)."""

    def check(p: Path) -> None:
        if p.stat().st_size != n:
            raise ImageError(f"{target}: {p.stat().st_size} of {n} bytes were written (disk full?)", DISK_FIX)
        if verify is not None:
            verify(p)

    return check


def write_text_atomic(target: str | os.PathLike, text: str, inputs: Iterable = (), what: str = "output") -> Path:
    """UTF-8 ``text`` to ``target``, all or nothing."""
    return write_bytes_atomic(target, text.encode("utf-8"), inputs, what)


def check_folder(target: Path, what: str) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"folder {folder} for the {what} does not exist", "create it first, or pick another path")
    if target.is_dir():
        raise UsageError(f"{what} {target} is a folder", "give a file name")
    check_writable(folder, target)


def check_can_create(*targets, folder: bool = False) -> None:
    """Before the work, for each output in ``targets`` (None: not asked for; ``folder``: the targets
    are folders to fill): NotADirectory when a file stands where one of its folders must be,
    PermissionDenied naming it when the folder it goes in (or, where that is still to be made, the
    nearest one that exists) is one this process may not write into. The missing folders are made
    only when the output is written."""
    for target in targets:
        if target is None:
            continue
        target = Path(target)
        if (blocker := file_in_the_way(target if folder else target.parent)) is not None:
            raise NotADirectory(f"cannot write {target}: {blocker} is a file, not a folder",
                                "give a path whose folders are folders")
        parent = target if folder else target.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.is_dir():
            check_writable(parent, target)


def check_writable(folder: Path, target: Path) -> None:
    """PermissionDenied naming ``target`` when this process may not create files in the existing
    ``folder`` (its mode, an ACL, a read-only file system): said before the work, not by the first
    write after it (nor by a video encoder that only reports that it could not open the file)."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    code = errno.EROFS if read_only else errno.EACCES
    raise path_error(OSError(code, os.strerror(code), str(target)), action="write")


# ---------------------------------------------------------------------------- verification
def verify_image(path: Path, size: tuple[int, int] | None = None, name: Path | None = None) -> None:
    """The file decodes as an image of ``size`` (w, h) when given; else ImageError."""
    import cv2

    shown = name or path
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageError(f"the image written for {shown} does not decode (disk full or write error?)", DISK_FIX)
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        raise ImageError(f"the image written for {shown} is {img.shape[1]}x{img.shape[0]}, expected {size[0]}x{size[1]}", DISK_FIX)


def count_video_frames(path: Path) -> tuple[int, tuple[int, int] | None]:
    """(frames that decode, (w, h) of the first) by reading the whole file; (0, None) if unreadable."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0, None
        ok, first = cap.read()
        if not ok or first is None:
            return 0, None
        n = 1
        while cap.grab():
            n += 1
        return n, (first.shape[1], first.shape[0])
    finally:
        cap.release()


def verify_video(path: Path, frames: int, size: tuple[int, int] | None = None, name: Path | None = None,
                 one_more: bool = False) -> int:
    """The file decodes, has exactly ``frames`` frames, of ``size`` (w, h) when given; else
    ImageError. ``one_more``: a frame's write was interrupted (a signal's exception, raised between
    bytecodes), so that frame is in the file or not: ``frames`` or ``frames + 1`` is right. Returns
    the number of frames."""
    shown = name or path
    n, got = count_video_frames(path)
    if n == 0:
        raise ImageError(f"the video written for {shown} has no decodable frame (disk full or write error?)", DISK_FIX)
    if n != frames and not (one_more and n == frames + 1):
        raise ImageError(f"the video written for {shown} has {n} decodable frames of the {frames} written "
                         "(disk full or write error?)", DISK_FIX)
    if size is not None and got != tuple(size):
        raise ImageError(f"the video written for {shown} is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}", DISK_FIX)
    return n


# ---------------------------------------------------------------------------- writers
def write_image_atomic(target: str | os.PathLike, rgb: np.ndarray, inputs: Iterable = (), what: str = "output",
                       quality: int = 95, exclusive: bool = False, png_text: dict[str, str] | None = None) -> Path:
    """Write RGB uint8 (H, W, 3) ``rgb`` to ``target`` (format from the suffix): all or nothing.
    ``exclusive``: never replace an existing file (a snapshot's fresh name). ``png_text``: a PNG's
    ``tEXt`` chunks (key → Latin-1 text; :func:`read_png_text` reads them back)."""
    from artem_vr.encode import encode_image  # reason: cv2 off the import path of atomic

    target = Path(target)
    inputs = keep_inputs(inputs)
    refuse_inputs(target, inputs, what)
    check_folder(target, what)
    data = encode_image(rgb, target.suffix, quality, str(target))
    if png_text and target.suffix.lower() == ".png":
        data = with_png_text(data, png_text)
    h, w = rgb.shape[:2]
    return write_file_atomic(target, lambda p: p.write_bytes(data), lambda p: verify_image(p, (w, h), target),
                             inputs, what, exclusive)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEAD = len(_PNG_SIGNATURE) + 8 + 13 + 4  # the signature and IHDR (length, type, 13 bytes, CRC), always first


def with_png_text(png: bytes, text: dict[str, str]) -> bytes:
    """A PNG file's bytes with ``tEXt`` chunks (key → Latin-1 text) added after its header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    added = b"".join(chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in text.items())
    return png[:_PNG_HEAD] + added + png[_PNG_HEAD:]


def read_png_text(path: str | os.PathLike, limit: int = 1 << 16) -> dict[str, str]:
    """The ``tEXt`` chunks before the image data of the PNG file at ``path`` (within its first
    ``limit`` bytes); {} for anything else (not a PNG, unreadable, cut short)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return {}
    found, pos = {}, len(_PNG_SIGNATURE)
    while data.startswith(_PNG_SIGNATURE) and pos + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind in (b"IDAT", b"IEND") or len(body) < length:
            break
        if kind == b"tEXt" and b"\0" in body:
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
    return found


class AtomicVideoWriter:
    """Write RGB uint8 frames to a video that appears at ``target`` only once complete and verified.

    ``write(rgb)`` appends a frame (to a temporary file beside the target); :meth:`close` checks
    that every frame decodes, renames it over the target and returns the final path;
    :meth:`discard` (or leaving a ``with`` block on an exception) removes it and leaves the target
    as it was. If OpenCV cannot write the target's codec, :class:`VideoWriterRGB` falls back to
    MJPG in ``.avi``: the final name is then ``target`` with ``.avi``; an existing file of that
    name is replaced only with ``replace_beside=True`` (said on stderr), else ImageError.
    """

    def __init__(self, target: str | os.PathLike, fps: float = 30.0, inputs: Iterable = (), what: str = "output",
                 replace_beside: bool = False):
        self.target = Path(target)
        self.fps = float(fps)
        self.inputs = keep_inputs(inputs)
        self.what = what
        self.replace_beside = replace_beside
        refuse_inputs(self.target, self.inputs, what)
        check_folder(self.target, what)
        self._tmp = partial_path(self.target)
        self._writer = None
        #: frames in the file (after :meth:`close`: as verified)
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.closed = False
        #: a write was left by an exception (a signal's, in the main thread): its frame may be in the
        #: file without being counted; :meth:`close` then takes the count the file verifies
        self._in_write = False

    @property
    def path(self) -> Path:
        """The file the video ends up in (the target, or its ``.avi`` when the codec fell back)."""
        if self._writer is not None and self._writer.path.suffix != self._tmp.suffix:
            return self.target.with_suffix(self._writer.path.suffix)
        return self.target

    def write(self, rgb: np.ndarray) -> None:
        if self.closed:
            raise ImageError(f"the video writer for {self.target} is closed", "open a new one")
        if self._writer is None:
            from artem_vr.encode import VideoWriterRGB  # reason: cv2 off the import path of atomic

            self._writer = VideoWriterRGB(self._tmp, self.fps, (rgb.shape[1], rgb.shape[0]))
            self.size = (rgb.shape[1], rgb.shape[0])
        self._in_write = True
        self._writer.write(rgb)
        self.frames += 1
        self._in_write = False

    def close(self) -> Path | None:
        """Finish, verify and rename into place; the final path (None if no frame was written)."""
        if self.closed:
            return self.path if self.frames else None
        self.closed = True
        if self._writer is None:
            return None
        final = self.path
        tmp = Path(self._writer.path)
        try:
            self._writer.close()
            if final != self.target and final.exists():
                if not self.replace_beside:
                    raise ImageError(f"{final} exists (the codec for {self.target.suffix} is missing here, so the video "
                                     "would be written as MJPG .avi)", f"move {final} away, or write to an .avi name")
                print(printable(f"note: replacing {final} (the video is written as MJPG .avi here)"), file=sys.stderr)
        except BaseException:
            remove(tmp)
            raise

        def verified(p: Path) -> None:
            self.frames = verify_video(p, self.frames, self.size, final, one_more=self._in_write)

        return commit(tmp, final, verified, self.inputs, self.what)

    def discard(self) -> None:
        """Drop what was written; the target is untouched."""
        self.closed = True
        if self._writer is not None:
            tmp = Path(self._writer.path)
            self._writer.close()
            remove(tmp)
        remove(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
