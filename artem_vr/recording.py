"""`run --record`: what the eyes see, written to a video (and the last frame to a PNG).

The video is written to a temporary file beside the target and renamed over it only once it is
closed and every frame decodes (:class:`~artem_vr.atomic.AtomicVideoWriter`); a failed write
(a full disk) is an error on close, never a "recorded N frames" success. :meth:`Recorder.close`
is what keeps a recording when the run stops early (an error, Ctrl-C, SIGTERM, SIGHUP): call
it from a ``finally``.

A recording is never written over a file the run reads (its source, a style image): refused
at construction, and again as it is renamed into place, against the inputs the caller hands
it (paths, or the command's :class:`~artem_vr.atomic.InputsRead`). The last-frame PNG is written *beside* the
named video; when a file of that name exists that a recording did not write (it carries no
:data:`LAST_FRAME_MARK`: the user's own picture), the recorder says so on stderr as it starts, and
``replace_png=False`` refuses any existing file instead.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable
import weakref
from pathlib import Path

import numpy as np

from artem_vr.atomic import (AtomicVideoWriter, InputsRead, check_can_create, read_png_text, refuse_inputs, same_file,
                             write_image_atomic)
from artem_vr.errors import UsageError
from artem_vr.text import printable


class OpenRecordings:
    """The recordings of a run that are still open, for an exit that cannot wait for ``finally``
    blocks: the XR watchdog's, when the runtime hangs or a signal comes while the main thread is
    stuck in it. The composition root makes one per run and hands it to its :class:`Recorder`
    and its output; :meth:`close_all` finishes every recording in it so that it plays. Holds the
    recorders weakly (one that is dropped leaves it); safe to use from the watchdog's thread."""

    def __init__(self):
        self._open: "weakref.WeakSet[Recorder]" = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, rec: "Recorder") -> None:
        with self._lock:
            self._open.add(rec)

    def discard(self, rec: "Recorder") -> None:
        with self._lock:
            self._open.discard(rec)

    def recorders(self) -> list["Recorder"]:
        """The open recorders, now."""
        with self._lock:
            return list(self._open)

    def close_all(self) -> None:
        """Finish every open recording so that it plays (the watchdog's last act before the
        process exits); a recording that cannot be finished says so on stderr and is left out."""
        for rec in self.recorders():
            try:
                rec.close()
                print(printable(f"recorded {rec.frames} frames to {rec.path}"), file=sys.stderr)
            except Exception as e:  # noqa: BLE001 — reported, and the other recordings still get closed
                print(printable(f"the recording {rec.path} could not be finished: {e}"), file=sys.stderr)


#: the text chunk that marks a last-frame PNG as written by a recording (so the next run replaces it quietly)
LAST_FRAME_MARK = {"Software": "artem-vr: the last frame of a recording"}


def written_by_a_recording(png: Path) -> bool:
    """True if ``png`` is a last-frame picture a recording wrote (it carries :data:`LAST_FRAME_MARK`)."""
    return read_png_text(png).items() >= LAST_FRAME_MARK.items()


class Recorder:
    """Writes presented frames (eyes side by side) to ``path``, and the last one to ``png``.

    ``inputs``: files the run reads (its source); the recording may not replace one.
    ``replace_png``: True (default) replaces an existing ``png``, saying so unless a recording wrote
    it; False refuses.
    ``recordings``: the run's :class:`OpenRecordings`, where the recorder is while its video is
    open (so that an emergency exit finishes it); None: it is nowhere but here.
    """

    def __init__(self, path: Path, fps: float = 30.0, png: Path | None = None, *,
                 inputs: Iterable = (), replace_png: bool = True, recordings: OpenRecordings | None = None):
        self.path = Path(path)
        self.png = Path(png) if png is not None else None
        self.fps = fps
        self.inputs = inputs if isinstance(inputs, InputsRead) else InputsRead(inputs)
        self.frames = 0
        self.recordings = recordings
        self._writer: AtomicVideoWriter | None = None
        self._last: np.ndarray | None = None
        refuse_inputs(self.path, self.inputs, "recording")
        for target in (self.path, self.png):  # a folder it may not write into: said now, not at the first frame
            if target is not None:
                check_can_create(target)
        if self.png is not None:
            if same_file(self.png, self.path):
                raise UsageError(f"the recording and its last-frame picture are both {self.path}", "give the recording a video name (.mp4)")
            refuse_inputs(self.png, self.inputs, "last-frame picture")
            if self.png.exists():
                if not replace_png:
                    raise UsageError(f"{self.png} exists (the recording's last frame is written there)",
                                     "move it away, or record to another name")
                if not written_by_a_recording(self.png):  # a previous run's last frame is replaced quietly
                    print(printable(f"note: {self.png} exists and will be replaced by the recording's last frame"), file=sys.stderr)

    def add(self, eye_images: list[np.ndarray]) -> None:
        img = eye_images[0] if len(eye_images) == 1 else np.concatenate(eye_images, axis=1)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = AtomicVideoWriter(self.path, self.fps, inputs=self.inputs, what="recording",
                                             replace_beside=True)
            if self.recordings is not None:
                self.recordings.add(self)
        self._writer.write(img)
        self._last = img
        self.frames += 1

    def close(self) -> None:
        """Finish the video (verified, renamed into place) and write the last frame.

        Idempotent. Raises :class:`~artem_vr.errors.ImageError` when the video could not be
        written completely (the target is then untouched and nothing is reported as recorded).
        """
        writer, self._writer = self._writer, None
        if self.recordings is not None:
            self.recordings.discard(self)
        if writer is not None:
            try:
                final = writer.close()
            except BaseException:
                self.frames = 0
                raise
            self.frames = writer.frames  # as the file verified (a signal between a write and its count)
            if final is not None:
                self.path = final
        last, self._last = self._last, None
        if self.png is not None and last is not None:
            self.png.parent.mkdir(parents=True, exist_ok=True)
            write_image_atomic(self.png, last, inputs=self.inputs, what="last-frame picture", png_text=LAST_FRAME_MARK)

    def discard(self) -> None:
        """Drop the recording (the target is untouched)."""
        writer, self._writer = self._writer, None
        if self.recordings is not None:
            self.recordings.discard(self)
        if writer is not None:
            writer.discard()
        self._last = None
        self.frames = 0


def retime(timestamps, fps: float) -> list[int]:
    """Presentation times (s, increasing) → which presented frame each slot of a fixed ``fps``
    timeline shows: slot k (at ``t0 + k / fps``) shows the last frame presented at or before it.
    Frames faster than the timeline are dropped, slower ones repeated, so the clip lasts as long
    as the run did: frames presented over 45 s make ``45 × fps + 1`` slots (the last slot, at or
    just after the last frame, shows it)."""
    t = [float(x) for x in timestamps]
    if not t:
        return []
    if not fps > 0:
        raise UsageError(f"timeline rate {fps} must be positive")
    out, i = [], 0
    n = _ceil_slot(t[-1] - t[0], fps) + 1
    for k in range(n):
        slot = t[0] + k / fps
        while i + 1 < len(t) and t[i + 1] <= slot + 1e-9:
            i += 1
        out.append(i)
    return out


def _ceil_slot(dt: float, fps: float) -> int:
    """The first slot at or after ``dt`` seconds (a hair of float error tolerated)."""
    return max(0, int(math.ceil(dt * fps - 1e-6)))


class Timeline:
    """:func:`retime` as frames come: ``add(t)`` says how many times to write the *previous*
    frame now (0: it was dropped), ``finish()`` how many times the last one (always 1).
    Writing accordingly gives exactly ``retime(all_times, fps)``."""

    def __init__(self, fps: float):
        if not fps > 0:
            raise UsageError(f"timeline rate {fps} must be positive")
        self.fps = float(fps)
        self.t0: float | None = None
        self.written = 0  # slots filled so far

    def add(self, t: float) -> int:
        if self.t0 is None:
            self.t0 = float(t)
            return 0
        # the slots before this frame's first slot belong to the previous frame
        n = max(0, _ceil_slot(float(t) - self.t0, self.fps) - self.written)
        self.written += n
        return n

    def finish(self) -> int:
        if self.t0 is None:
            return 0
        self.written += 1
        return 1


def write_snapshot(folder: Path, eye_images: list[np.ndarray]) -> Path:
    """Eye images side by side → ``folder/snapshot-<date>-<time>[-n].png``, atomically (through
    :func:`~artem_vr.atomic.write_image_atomic`); a name taken gets ``-2``, ``-3``…"""
    img = eye_images[0] if len(eye_images) == 1 else np.concatenate(list(eye_images), axis=1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("snapshot-%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = folder / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")
        if path.exists():
            continue
        try:  # exclusive: two snapshots in one second (or two processes) never share a name
            return write_image_atomic(path, img, what="snapshot", exclusive=True)
        except UsageError:
            if not path.exists():
                raise
    raise UsageError(f"no free snapshot name in {folder} for {stem}", "move some snapshots away")
