"""One frame's path, top to bottom: config → source → worker → Output.

    RunConfig (:mod:`artem_vr.config`, frozen, validated once from the command line)
      → a FrameSource (capture thread, newest frame only)
      → StylizerWorker (:mod:`artem_vr.worker`, own thread: capture wait, upload, stylize — both
        eyes in one batch)
      → Pipeline (the FrameFeed an Output reads: newest StylizedFrame, commands, stop, timings)
      → an Output (headless | mirror | xr): owns its GL context, renderer and FrameUpload
        (CUDA–GL interop or host, chosen once) in one ExitStack; to-texture, render, submit.

`artem-vr run`, `artem-vr bench` and the tests all build this same chain (the composition root
is :mod:`artem_vr.app`); the bench only swaps the source for an unpaced one and reads
:attr:`Pipeline.clock`. The contracts between the parts are in :mod:`artem_vr.contracts`.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np

from artem_vr.contracts import INTEROP, Output, Status, StylizedFrame
from artem_vr.control import Controller, controller_status
from artem_vr.errors import ArtemError, SourceError
from artem_vr.recording import Timeline, write_snapshot
from artem_vr.timing import RateMeter, StageClock
from artem_vr.worker import StylizerWorker


class Pipeline:
    """The :class:`FrameFeed` of a run: a source, its worker, the controller, an optional recorder."""

    def __init__(self, source, worker: StylizerWorker, controller: Controller,
                 max_frames: int | None = None, recorder=None, snapshot_dir: Path = Path("out")):
        self.source = source
        self.worker = worker
        self.controller = controller
        self.max_frames = max_frames
        self.recorder = recorder
        self.frames_presented = 0
        self.started = time.monotonic()
        self.display_rate = RateMeter()
        self.shown_age_ms: deque = deque(maxlen=600)  # capture → present of each presented frame
        self.snapshot_dir = Path(snapshot_dir)
        self._timeline: Timeline | None = None
        self._held: list[np.ndarray] | None = None  # the last presented images, not yet written
        #: the run's head-pose history (artem_vr.pose.PoseHistory): the XR output fills it, the
        #: simulated camera and the passthrough view read it; None until the composition root sets it
        self.poses = None

    @property
    def device(self) -> str:
        return str(self.worker.device)

    @property
    def clock(self) -> StageClock:
        return self.worker.clock

    def set_upload(self, kind: str) -> None:
        """The output's upload path, chosen once when it opened: interop keeps frames on the device."""
        self.worker.keep_on_device = kind == INTEROP

    @property
    def wants_images(self) -> bool:
        return self.recorder is not None

    @property
    def stop_requested(self) -> bool:
        if self.controller.quit_requested.is_set():
            return True
        if self.max_frames is not None and self.frames_presented >= self.max_frames:
            return True
        # A finished (ended or failed) stylizer thread with nothing newer to show ends the run.
        return self.worker.finished.is_set()

    def latest(self) -> StylizedFrame | None:
        return self.worker.out.get()[1]

    def wait_first(self, timeout: float = 30.0) -> StylizedFrame | None:
        """Block until the first stylized frame exists (start-up only, never in the frame loop)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end and not self.worker.finished.is_set():
            seq, f = self.worker.out.wait_newer(0, timeout=0.2)
            if f is not None:
                return f
        return self.latest()

    def frame_presented(self, eye_images: list[np.ndarray] | None = None, shown: StylizedFrame | None = None) -> None:
        now = time.monotonic()
        self.frames_presented += 1
        self.display_rate.tick(now)
        if shown is not None:
            self.shown_age_ms.append((now - shown.source_t) * 1e3)
        if self.recorder is not None and eye_images:
            self._record(eye_images, now)

    # recording in real time: each presented frame is written for as many slots of the
    # recorder's fixed-rate timeline as it stayed on screen (see :func:`retime`)
    def _record(self, eye_images: list[np.ndarray], t: float) -> None:
        if self._timeline is None:
            self._timeline = Timeline(self.recorder.fps)
        for _ in range(self._timeline.add(t)):
            self.recorder.add(self._held)
        self._held = list(eye_images)

    def finish_recording(self) -> None:
        """Write the last presented frame (held until the next one says how long it stayed).
        Call before ``recorder.close()``."""
        if self.recorder is not None and self._timeline is not None and self._held is not None:
            for _ in range(self._timeline.finish()):
                self.recorder.add(self._held)
            self._held = None

    def close_recording(self) -> None:
        """Finish the recording: the last presented frame for as long as it stayed, then the file
        (verified, renamed into place). Idempotent; nothing to do without a recorder."""
        if self.recorder is not None:
            self.finish_recording()
            self.recorder.close()

    def status(self) -> Status:
        age = self.shown_age_ms[-1] if self.shown_age_ms else None
        return controller_status(self.controller, stylized_fps=self.worker.rate.rate(),
                                 display_fps=self.display_rate.rate(), age_ms=age, source=self.source.state(),
                                 network_pixels=self.worker.network_pixels)

    def save_snapshot(self, eye_images: list[np.ndarray]) -> Path:
        """The eye images side by side → a new PNG in :attr:`snapshot_dir` (written to a temporary
        name, then renamed); prints and returns its path."""
        path = write_snapshot(self.snapshot_dir, eye_images)
        self.controller.say(f"snapshot: {path}")
        return path



def present(pipeline: Pipeline, output: Output, printer=print):
    """Open ``output``, start the worker, present until the pipeline stops; re-raise a worker error.

    The order matters: the output opens first (its upload path decides whether the worker keeps
    frames on the device), then the worker starts, then the first frame is awaited."""
    output.device = pipeline.device
    with output:
        pipeline.set_upload(output.upload_kind)
        printer(f"upload: {output.upload_kind}" + (f" ({output.upload.reason})" if output.upload is not None
                                                    and output.upload_kind != "cuda-gl interop" else ""))
        pipeline.worker.start()
        pipeline.wait_first()
        return output.run(pipeline)


def worker_error(pipeline: Pipeline) -> BaseException | None:
    return pipeline.worker.error or pipeline.source.error


def as_artem_error(err: BaseException) -> ArtemError:
    if isinstance(err, ArtemError):
        return err
    e = SourceError(f"the run stopped: {type(err).__name__}: {err}",
                    "what was recorded so far is kept; run with --debug for details")
    e.__cause__ = err
    return e
