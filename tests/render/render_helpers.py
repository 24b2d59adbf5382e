"""Helpers for the render tests: test images, image comparison, a small pipeline object.

``FakePipeline`` follows the :class:`artem_vr.pipeline.FrameFeed` contract with real images and
the app's real Controller (recording its calls) — not a mock that accepts any call.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from artem_vr.contracts import COMMANDS, StylizedFrame

from artem_vr.control import ControlState, Controller, controller_status

from artem_vr.recording import write_snapshot

from artem_vr.timing import StageClock


# ------------------------------------------------------------------------------- images
def pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth but position-revealing RGB uint8 (h, w, 3) test image: ramps plus soft blobs."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(seed)
    r = xx / max(1, w - 1)
    g = yy / max(1, h - 1)
    b = np.zeros_like(r)
    for _ in range(4):
        cx, cy, s = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.2) * max(w, h)
        b += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    img = np.stack([r, g, np.clip(b, 0, 1)], axis=-1)
    return np.ascontiguousarray(np.rint(img * 255).astype(np.uint8))


def flat(h: int, w: int, rgb) -> np.ndarray:
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = rgb
    return img


def assert_close_image(got: np.ndarray, want: np.ndarray, mean_tol: float = 2.0, p99_tol: float = 20.0):
    """Rendered vs reference: mean |diff| < mean_tol and 99th percentile < p99_tol levels
    (room for rasterisation at the screen's edges)."""
    assert got.shape == want.shape and got.dtype == np.uint8, (got.shape, got.dtype, want.shape)
    d = np.abs(got.astype(np.int16) - want.astype(np.int16))
    mean, p99 = float(d.mean()), float(np.percentile(d, 99))
    assert mean < mean_tol and p99 < p99_tol, f"images differ: mean {mean:.2f}, p99 {p99:.1f}, max {d.max()}"


def image_differs(got: np.ndarray, want: np.ndarray) -> bool:
    d = np.abs(got.astype(np.int16) - want.astype(np.int16))
    return not (float(d.mean()) < 2.0 and float(np.percentile(d, 99)) < 20.0)


# ------------------------------------------------------------------------------- pipeline
class RecordingController(Controller):
    """The app's real Controller (so only its real commands exist), recording each call."""

    def __init__(self):
        super().__init__(ControlState(method="identity", methods=["identity"], styles=["identity"]), printer=lambda _l: None)
        self.calls: list[tuple] = []
        for name in COMMANDS:
            real = getattr(self, name)

            def command(*args, _name=name, _real=real):
                self.calls.append((_name, *args))
                return _real(*args)

            setattr(self, name, command)


class FakePipeline:
    """The Pipeline contract with real images: ``latest()`` returns the newest published frame,
    ``frame_presented`` records what was shown, ``stop_requested`` after ``max_frames`` or quit."""

    def __init__(self, eyes=None, max_frames: int | None = None, wants_images: bool = False, on_present=None,
                 snapshot_dir=None):
        self.controller = RecordingController()
        self.snapshot_dir = snapshot_dir
        self.snapshots: list = []
        self.device = "cpu"
        self.clock = StageClock()
        self.max_frames = max_frames
        self.wants_images = wants_images
        self.on_present = on_present
        self.presented: list = []
        self.presented_seq: list = []
        self._lock = threading.Lock()
        self._frame = None
        self._seq = 0
        self.stop = threading.Event()
        if eyes is not None:
            self.publish(eyes)

    def publish(self, eyes, **extra):
        with self._lock:
            self._seq += 1
            t = time.monotonic()
            self._frame = StylizedFrame(eyes=list(eyes), seq=self._seq, source_index=self._seq, source_t=t, done_t=t,
                                        style="test", method="identity", **extra)
            return self._seq

    def latest(self):
        with self._lock:
            return self._frame

    def frame_presented(self, eye_images=None, shown=None):
        f = self.latest()
        self.presented.append(eye_images)
        self.presented_seq.append(f.seq if f is not None else None)
        if self.on_present is not None:
            self.on_present(self, eye_images)

    def status(self):
        return controller_status(self.controller, display_fps=30.0)

    def save_snapshot(self, eye_images):
        path = write_snapshot(self.snapshot_dir, eye_images)
        self.snapshots.append(path)
        return path

    @property
    def stop_requested(self) -> bool:
        return (self.stop.is_set() or self.controller.quit_requested.is_set()
                or (self.max_frames is not None and len(self.presented) >= self.max_frames))
