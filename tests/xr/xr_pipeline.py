"""A test pipeline following the Pipeline contract (COMMON.md), for the XR tests."""

from __future__ import annotations

import time

import numpy as np

from artem_vr.contracts import Status, StylizedFrame

from artem_vr.recording import write_snapshot

from artem_vr.timing import StageClock

# ------------------------------------------------------------------------------ test pipeline
STYLES = ["wave", "stars", "poppies"]


def eye_images(h: int = 48, w: int = 64) -> list[np.ndarray]:
    """An SBS pair with different content per eye: left = 4 coloured quadrants, right = bands."""
    left = np.zeros((h, w, 3), np.uint8)
    left[: h // 2, : w // 2] = (220, 40, 40)
    left[: h // 2, w // 2 :] = (40, 200, 60)
    left[h // 2 :, : w // 2] = (40, 60, 220)
    left[h // 2 :, w // 2 :] = (230, 220, 50)
    right = np.zeros((h, w, 3), np.uint8)
    for i in range(4):
        right[:, i * w // 4 : (i + 1) * w // 4] = (60 * i + 20, 250 - 60 * i, 128)
    return [left, right]


class TestController:
    """The Pipeline contract's controller, applied at once; each change prints one line."""

    __test__ = False

    def __init__(self, styles=STYLES):
        self.styles, self.index, self.strength = list(styles), 0, 1.0
        self.stylize = self.temporal = self.stereo_consistency = True
        self.lines: list[str] = []
        self.quit_requested = False
        self.recenters = 0
        self.hud_toggles = self.help_requests = self.snapshots = 0

    def _say(self, line):
        self.lines.append(line)
        print(line)

    def _style(self):
        self._say(f"style: {self.styles[self.index]} ({self.index + 1}/{len(self.styles)})")

    def next_style(self):
        self.index = (self.index + 1) % len(self.styles)
        self._style()

    def prev_style(self):
        self.index = (self.index - 1) % len(self.styles)
        self._style()

    def pick(self, i):
        self.index = i
        self._style()

    def set_strength(self, v):
        self.strength = float(min(1.0, max(0.0, v)))
        self._say(f"strength: {self.strength:.2f}")

    def change_strength(self, d):
        self.set_strength(self.strength + d)

    def toggle_stylize(self):
        self.stylize = not self.stylize
        self._say(f"stylize: {'on' if self.stylize else 'off'}")

    def toggle_temporal(self):
        self.temporal = not self.temporal
        self._say(f"temporal: {'on' if self.temporal else 'off'}")

    def toggle_stereo_consistency(self):
        self.stereo_consistency = not self.stereo_consistency
        self._say(f"stereo consistency: {'on' if self.stereo_consistency else 'off'}")

    def cycle_method(self):
        self._say("method: test (the only one)")

    def recenter(self):
        self.recenters += 1
        self._say("recenter")

    def toggle_hud(self):
        self.hud_toggles += 1

    def show_help(self):
        self.help_requests += 1

    def snapshot(self):
        self.snapshots += 1

    def quit(self):
        self.quit_requested = True


class ScriptedPipeline:
    """The Pipeline contract for tests: a fixed SBS stylized frame (new seq every ``every`` frames,
    so uploads happen), and ``script[n]`` run after the n-th presented frame."""

    __test__ = False

    def __init__(self, max_frames: int = 60, eyes=None, script=None, every: int = 10, snapshot_dir=None):
        self.controller = TestController()
        self.max_frames = max_frames
        self.eyes = eyes if eyes is not None else eye_images()
        self.script = dict(script or {})
        self.every = every
        self.frames_presented = 0
        self.seq = 1
        self.device = "cpu"
        self.clock = StageClock()
        self.wants_images = False
        self._frame = self._make(1)
        self.snapshot_dir = snapshot_dir
        self.snapshot_paths: list = []

    def status(self) -> Status:
        c = self.controller
        return Status(style=c.styles[c.index], index=c.index, styles=len(c.styles), method="test",
                      strength=c.strength, stylize=c.stylize, stylized_fps=5.0, display_fps=20.0, age_ms=100.0,
                      source="live", source_s=0.0, recenters=c.recenters, hud_toggles=c.hud_toggles,
                      help_requests=c.help_requests, snapshots=c.snapshots)

    def save_snapshot(self, eye_images):
        path = write_snapshot(self.snapshot_dir, eye_images)
        self.snapshot_paths.append(path)
        return path

    def _make(self, seq):
        now = time.monotonic()
        return StylizedFrame(self.eyes, seq, seq, now, now, self.controller.styles[self.controller.index], "test")

    @property
    def stop_requested(self) -> bool:
        return self.controller.quit_requested or self.frames_presented >= self.max_frames

    def latest(self):
        return self._frame

    def frame_presented(self, eye_images=None, shown=None):
        self.frames_presented += 1
        if self.frames_presented % self.every == 0:
            self.seq += 1
            self._frame = self._make(self.seq)
        action = self.script.pop(self.frames_presented, None)
        if action is not None:
            action()
