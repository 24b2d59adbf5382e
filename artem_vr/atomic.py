"""Outputs that are either complete and verified, or not there at all.

Every file the program writes for the user (a stylized image or video, a recording, its last
frame) goes through here:

1. :func:`refuse_inputs` — an output that resolves to the same file as an input (given, or
   any file this process has read: :func:`note_input`) is refused before anything is written.
2. The bytes go to a temporary file *in the destination folder*, named
   ``.<stem>.partial-<pid>-<token><suffix>`` (so a crash leaves a name that says what it is,
   and the final rename never crosses file systems).
3. The temporary file is verified (an image decodes to the expected size; a video's frames
   decode and there are as many as were written), flushed to disk, then ``os.replace``\\ d over
   the target. On any failure it is removed, the target is untouched and an
   :class:`~artem_vr.errors.ImageError` says what happened.

:func:`write_image_atomic` and :class:`AtomicVideoWriter` are the two entry points.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from artem_vr.errors import ImageError, UsageError

if TYPE_CHECKING:
    import numpy as np

_NOT_INPUT_FIX = "write to another file name: artem-vr never overwrites its input"
_DISK_FIX = "check the disk is not full and the folder is writable"

# ---------------------------------------------------------------------------- inputs
_inputs: "OrderedDict[str, None]" = OrderedDict()
_inputs_lock = threading.Lock()
_MAX_NOTED = 4096


def note_input(path: str | os.PathLike) -> None:
    """Remember that this process reads ``path``; :func:`refuse_inputs` then refuses it as an output.

    Paths, not inode numbers, are kept (an inode can be reused once a file is deleted); the
    newest 4096 are remembered.
    """
    key = os.path.abspath(os.fspath(path))
    with _inputs_lock:
        _inputs[key] = None
        _inputs.move_to_end(key)
        while len(_inputs) > _MAX_NOTED:
            _inputs.popitem(last=False)


def forget_inputs() -> None:
    """Forget every noted input (the CLI calls this as each command starts)."""
    with _inputs_lock:
        _inputs.clear()


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` are the same file (links and hard links included), or would be."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where they resolve to
        return Path(a).resolve() == Path(b).resolve()


def refuse_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> None:
    """UsageError if ``output`` is the same file as any of ``inputs`` or any noted input."""
    with _inputs_lock:
        noted = list(_inputs)
    for inp in [*inputs, *noted]:
        if inp is None or not os.fspath(inp):
            continue
        if same_file(output, inp):
            shown = "the input" if os.path.abspath(os.fspath(inp)) == os.path.abspath(os.fspath(output)) else f"the input {inp}"
            raise UsageError(f"{what} {output} is the same file as {shown}", _NOT_INPUT_FIX)


# ---------------------------------------------------------------------------- temp file
def partial_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` that keeps its suffix (writers pick the format by it)."""
    return target.with_name(f".{target.stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")


def _fsync(path: Path) -> None:
    """Flush ``path`` and its folder entry to disk (a full disk can show only here)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise ImageError(f"could not flush {path} to disk ({e.strerror or e})", _DISK_FIX) from None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is done either way
    finally:
        os.close(fd)


def _remove(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def commit(tmp: Path, target: Path, verify: Callable[[Path], None], inputs: Iterable = (), what: str = "output") -> Path:
    """Verify ``tmp``, flush it, and rename it over ``target``; on failure remove ``tmp`` and raise.

    ``verify(tmp)`` raises :class:`ImageError` when the file is not what was meant to be written.
    """
    try:
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise ImageError(f"nothing was written for {target} (empty file)", _DISK_FIX)
        verify(tmp)
        _fsync(tmp)
        refuse_inputs(target, inputs, what)  # again: inputs opened since the start count too
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def _check_folder(target: Path, what: str) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"folder {folder} for the {what} does not exist", "create it first, or pick another path")
    if target.is_dir():
        raise UsageError(f"{what} {target} is a folder", "give a file name")


# ---------------------------------------------------------------------------- verification
def verify_image(path: Path, size: tuple[int, int] | None = None, name: Path | None = None) -> None:
    """The file decodes as an image of ``size`` (w, h) when given; else ImageError."""
    import cv2

    shown = name or path
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageError(f"the image written for {shown} does not decode (disk full or write error?)", _DISK_FIX)
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        raise ImageError(f"the image written for {shown} is {img.shape[1]}x{img.shape[0]}, expected {size[0]}x{size[1]}", _DISK_FIX)


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


def verify_video(path: Path, frames: int, size: tuple[int, int] | None = None, name: Path | None = None) -> None:
    """The file decodes, has exactly ``frames`` frames, of ``size`` (w, h) when given; else ImageError."""
    shown = name or path
    n, got = count_video_frames(path)
    if n == 0:
        raise ImageError(f"the video written for {shown} has no decodable frame (disk full or write error?)", _DISK_FIX)
    if n != frames:
        raise ImageError(f"the video written for {shown} has {n} decodable frames of the {frames} written "
                         "(disk full or write error?)", _DISK_FIX)
    if size is not None and got != tuple(size):
        raise ImageError(f"the video written for {shown} is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}", _DISK_FIX)


# ---------------------------------------------------------------------------- writers
def write_image_atomic(target: str | os.PathLike, rgb: np.ndarray, inputs: Iterable = (), what: str = "output",
                       quality: int = 95) -> Path:
    """Write RGB uint8 (H, W, 3) ``rgb`` to ``target`` (format from the suffix): all or nothing."""
    from artem_vr.sources.imageio import encode_image

    target = Path(target)
    inputs = list(inputs)
    refuse_inputs(target, inputs, what)
    _check_folder(target, what)
    data = encode_image(rgb, target.suffix, quality, str(target))
    tmp = partial_path(target)
    try:
        tmp.write_bytes(data)
    except OSError as e:
        _remove(tmp)
        raise ImageError(f"could not write {target} ({e.strerror or e})", _DISK_FIX) from None
    except BaseException:
        _remove(tmp)
        raise
    h, w = rgb.shape[:2]
    return commit(tmp, target, lambda p: verify_image(p, (w, h), target), inputs, what)


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
        self.inputs = list(inputs)
        self.what = what
        self.replace_beside = replace_beside
        refuse_inputs(self.target, self.inputs, what)
        _check_folder(self.target, what)
        self._tmp = partial_path(self.target)
        self._writer = None
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.closed = False

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
            from artem_vr.sources.imageio import VideoWriterRGB

            self._writer = VideoWriterRGB(self._tmp, self.fps, (rgb.shape[1], rgb.shape[0]))
            self.size = (rgb.shape[1], rgb.shape[0])
        self._writer.write(rgb)
        self.frames += 1

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
                import sys

                print(f"note: replacing {final} (the video is written as MJPG .avi here)", file=sys.stderr)
        except BaseException:
            _remove(tmp)
            raise
        return commit(tmp, final, lambda p: verify_video(p, self.frames, self.size, final), self.inputs, self.what)

    def discard(self) -> None:
        """Drop what was written; the target is untouched."""
        self.closed = True
        if self._writer is not None:
            tmp = Path(self._writer.path)
            self._writer.close()
            _remove(tmp)
        _remove(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
