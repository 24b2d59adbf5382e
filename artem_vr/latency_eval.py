"""`artem-vr eval --latency`: does the passthrough world stay put while the stylizer lags?

Runs the real pipeline — ``--source sim-camera --view passthrough --output xr`` built by the
composition root (:func:`artem_vr.app.build_pipeline`), the stylizer slowed by a real delay
stage (``--stylize-delay``) — against a private headless Monado (:class:`MonadoService`, EGL),
while a thread turns the head through Monado's remote driver at a steady rate (a triangle wave
of yaw, ±``amplitude`` degrees at ``rate`` °/s). Every frame the left eye's swapchain image is
read back, the panorama's landmark found in it by colour, and its direction compared with where
the landmark is in the world, seen from the eye pose that frame was rendered for:

    error = (landmark's yaw as shown) − (landmark's yaw in the world), per frame, degrees

Twice: reprojection on (each frame placed at the head orientation of its capture time) and off
(head-locked: the world swims by the latency). Frames whose capture → render span holds a turn
of direction are left out (the rate is not steady there). Also printed: the capture → display
latency (to the predicted display time), the capture → render latency the head-locked error
follows (``off ≈ rate × that``), the pose history's own error against the injected yaw, and what
the runtime's ``xrLocateSpace`` said about the capture time (Monado's remote driver ignores the
time asked for and answers with its newest pose).
"""

from __future__ import annotations

import math
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artem_vr.errors import UsageError
from artem_vr.pose import yaw_degrees
from artem_vr.render.geometry import quat_matrix
from artem_vr.app import build_pipeline
from artem_vr.atomic import check_can_create, write_image_atomic
from artem_vr.config import RunConfig
from artem_vr.pipeline import as_artem_error, present, worker_error
from artem_vr.sources.sim_camera import LANDMARK_YAW_DEG, find_landmark
from artem_vr.xr.monado import MonadoService
from artem_vr.xr.presenter import XrOptions, XrOutput


@dataclass
class YawScript:
    """The injected head yaw: a triangle wave starting at 0, ±amplitude degrees at rate °/s."""

    rate: float
    amplitude: float
    t0: float = 0.0

    def yaw(self, t: float) -> float:
        a, r = self.amplitude, self.rate
        period = 4 * a / r
        s = ((t - self.t0) + a / r) % period  # phase: 0 at yaw -a, rising
        return -a + r * s if s < period / 2 else a - r * (s - period / 2)

    def direction(self, t: float) -> int:
        period = 4 * self.amplitude / self.rate
        s = ((t - self.t0) + self.amplitude / self.rate) % period
        return 1 if s < period / 2 else -1

    def steady(self, t_a: float, t_b: float) -> bool:
        """No turn of direction between t_a and t_b (and a little either side)."""
        pad = 0.03
        ts = np.linspace(t_a - pad, t_b + pad, 24)
        return len({self.direction(float(t)) for t in ts}) == 1


@dataclass
class LatencyRun:
    reproject: bool
    errors: list[float] = field(default_factory=list)  # degrees, shown − world
    display_ms: list[float] = field(default_factory=list)  # capture → predicted display
    render_ms: list[float] = field(default_factory=list)  # capture → the eye pose of the render
    history_err: list[float] = field(default_factory=list)  # pose history at capture − injected yaw
    frames: int = 0
    measured: int = 0
    past_locate: list = field(default_factory=list)
    picture: np.ndarray | None = None  # a read-back eye image, the landmark's true place marked
    stylize_ms: float = 0.0
    stages: dict = field(default_factory=dict)  # median ms of each pipeline stage

    def median_abs_error(self) -> float:
        return statistics.median(abs(e) for e in self.errors) if self.errors else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def landmark_angle(image: np.ndarray, fov) -> float | None:
    """Horizontal angle (degrees, + right) of the landmark's centroid in an eye image rendered
    for ``fov`` (angleLeft, angleRight, angleUp, angleDown), or None when it is not in view."""
    found = find_landmark(image, min_pixels=12)
    if found is None:
        return None
    x, _ = found
    w = image.shape[1]
    tl, tr = math.tan(fov[0]), math.tan(fov[1])
    if x < 3 or x > w - 4:
        return None  # cut by the edge: the centroid is biased
    return math.degrees(math.atan(tl + (x + 0.5) / w * (tr - tl)))


def world_angle(eye_q, landmark_yaw_deg: float) -> float:
    """Horizontal angle (degrees, + right) at which an eye with orientation ``eye_q`` sees a
    point on the horizon at yaw ``landmark_yaw_deg`` (+ left)."""
    a = math.radians(landmark_yaw_deg)
    d_world = np.array([-math.sin(a), 0.0, -math.cos(a)])
    d = quat_matrix(eye_q).T @ d_world
    return math.degrees(math.atan2(d[0], -d[2]))


def _mark(image: np.ndarray, fov, angle: float | None) -> np.ndarray:
    """The image with a green vertical line where the landmark really is (``angle``)."""
    out = image.copy()
    if angle is not None:
        w = out.shape[1]
        tl, tr = math.tan(fov[0]), math.tan(fov[1])
        x = int(round((math.tan(math.radians(angle)) - tl) / (tr - tl) * w - 0.5))
        if 0 <= x < w:
            out[:, max(0, x - 1): x + 2] = (0, 255, 0)
    return out


def measure(reproject: bool, *, rate: float = 90.0, amplitude: float = 40.0, stylize_delay_ms: float = 100.0,
            capture_delay_ms: float = 30.0, frames: int = 80, method: str = "identity", style: str | None = None,
            xr_scale: float = 0.5, workdir: str | Path | None = None, pose_source: str = "history",
            printer=print) -> LatencyRun:
    """One run of the pipeline on a private headless Monado with the head turning; see the module doc."""

    config = RunConfig(source="sim-camera", view_mode="passthrough", output="xr", method=method, style=style,
                       frames=frames, temporal=False, stereo_consistency=False, device="cpu", internal_scale=1.0,
                       stylize_delay_ms=stylize_delay_ms, capture_delay_ms=capture_delay_ms, reproject=reproject,
                       xr_graphics="egl", xr_scale=xr_scale, pose_source=pose_source)
    run = LatencyRun(reproject)
    with tempfile.TemporaryDirectory(prefix="artem-latency-", dir=workdir) as tmp, \
            MonadoService(Path(tmp) / "monado", port=_free_port()) as monado:
        remote = monado.remote()
        script = YawScript(rate, amplitude, t0=time.monotonic())
        stop = threading.Event()

        def turn():
            while not stop.is_set():
                remote.set_head_yaw(script.yaw(time.monotonic()))
                stop.wait(0.004)

        injector = threading.Thread(target=turn, name="head-yaw", daemon=True)
        injector.start()
        try:
            pipeline = build_pipeline(config, printer=lambda *_: None)
            output = XrOutput(XrOptions(graphics="egl", scale=xr_scale, view=config.view(), max_frames=frames,
                                        pose_source=pose_source), device=pipeline.device)
            best = [None, -math.inf]

            def on_eye(eye, texture, sc, fov, _offset):
                if eye != 0:
                    return
                t_render = time.monotonic()
                run.frames += 1
                place = output.report.placement
                t_cap = place["source_t"]
                eye_q = place["views"][0][0]
                img = output.reader.read(texture, sc.width, sc.height)
                shown_at = landmark_angle(img, fov)
                truth = world_angle(eye_q, LANDMARK_YAW_DEG)
                if run.frames < 8 or shown_at is None or not script.steady(t_cap, t_render):
                    return  # start-up, landmark out of view, or a turn of direction in between
                run.measured += 1
                run.errors.append(shown_at - truth)
                run.render_ms.append((t_render - t_cap) * 1e3)
                if place["display_t"] is not None:
                    run.display_ms.append((place["display_t"] - t_cap) * 1e3)
                hist = output.poses.at(t_cap)
                if hist is not None:
                    run.history_err.append(yaw_degrees(hist.orientation) - script.yaw(t_cap))
                centred = -abs(truth)  # keep the picture whose true landmark is nearest the centre
                if centred > best[1]:
                    best[:] = [None, centred]
                    run.picture = _mark(img, fov, truth)

            output.on_eye = on_eye
            with pipeline.source:
                try:
                    present(pipeline, output, printer=lambda *_: None)
                finally:
                    pipeline.worker.stop()
            err = worker_error(pipeline)
            if err is not None:
                raise as_artem_error(err)
            run.past_locate = [(t, h, r, script.yaw(t)) for t, h, r in output.report.past_locate]
            run.stages = {k: v["median"] for k, v in pipeline.clock.summary().items() if v}
            run.stylize_ms = run.stages.get("stylize", 0.0)
        finally:
            stop.set()
            injector.join(timeout=2)
            remote.close()
    return run


def summary_lines(on: LatencyRun, off: LatencyRun, rate: float) -> list[str]:
    def med(v):
        return statistics.median(v) if v else float("nan")

    lat_render = med(on.render_ms + off.render_ms)
    lat_display = med(on.display_ms + off.display_ms)
    lines = [
        f"capture → display latency: {lat_display:.0f} ms (median, to the predicted display time); "
        f"capture → render {lat_render:.0f} ms",
        f"reprojection on : error {on.median_abs_error():.2f}° (median |shown − world|, {on.measured} frames)",
        f"reprojection off: error {off.median_abs_error():.2f}° ({off.measured} frames); "
        f"rate × latency = {rate:.0f}°/s × {lat_render:.0f} ms = {rate * lat_render / 1e3:.2f}°",
    ]
    if on.stages:
        lines.append("stages (median ms, reprojection on): " + ", ".join(f"{k} {v:.1f}" for k, v in on.stages.items()))
    if on.history_err:
        lines.append(f"pose history at capture time vs the injected yaw: {med([abs(e) for e in on.history_err]):.2f}° median")
    rt = [(h, r, truth) for _t, h, r, truth in on.past_locate if r is not None]
    if rt:
        lines.append(f"runtime xrLocateSpace at the capture time: {med([abs(r - truth) for _h, r, truth in rt]):.2f}° "
                     f"from the injected yaw then (history: {med([abs(h - truth) for h, _r, truth in rt]):.2f}°) — "
                     + ("it honours past times" if med([abs(r - truth) for _h, r, truth in rt]) < 1.0
                        else "it does not honour past times (answers with a newer pose)"))
    return lines


@dataclass(frozen=True)
class LatencyConfig:
    """`artem-vr eval --latency`, parsed once and checked."""

    rate: float = 90.0
    stylize_delay_ms: float = 100.0
    capture_delay_ms: float = 30.0
    method: str = "identity"
    frames: int = 80
    runtime_poses: bool = False
    png: str | None = None

    def __post_init__(self):
        if not 10.0 <= self.rate <= 720.0:
            raise UsageError(f"--rate {self.rate:g} is outside 10–720 °/s", "e.g. --rate 90")
        if self.frames < 30:
            raise UsageError(f"--latency-frames {self.frames} is too few", "use 30 or more")
        check_can_create(self.png)  # said now, not after the runtime has run

    @classmethod
    def from_args(cls, args) -> "LatencyConfig":
        """The command line's values; the Namespace goes no further than this."""
        return cls(rate=float(args.rate), stylize_delay_ms=float(args.stylize_delay),
                   capture_delay_ms=float(args.capture_delay), method=args.latency_method,
                   frames=int(args.latency_frames), runtime_poses=bool(args.latency_runtime_poses),
                   png=args.latency_png)


def run_latency(cfg: LatencyConfig, printer=print) -> int:
    """`artem-vr eval --latency`: reprojection on and off (and, if asked, with the runtime's poses)."""
    runs = {}
    for reproject in (True, False):
        printer(f"latency: reprojection {'on' if reproject else 'off'} — head {cfg.rate:g}°/s, stylizer +"
                f"{cfg.stylize_delay_ms:g} ms, camera +{cfg.capture_delay_ms:g} ms, method {cfg.method} …")
        runs[reproject] = measure(reproject, rate=cfg.rate, stylize_delay_ms=cfg.stylize_delay_ms,
                                  capture_delay_ms=cfg.capture_delay_ms, frames=cfg.frames, method=cfg.method)
    for line in summary_lines(runs[True], runs[False], cfg.rate):
        printer(line)
    if cfg.runtime_poses:
        printer("latency: reprojection on with the runtime's past-time poses (--pose-source runtime) …")
        rt = measure(True, rate=cfg.rate, stylize_delay_ms=cfg.stylize_delay_ms, capture_delay_ms=cfg.capture_delay_ms,
                     frames=cfg.frames, method=cfg.method, pose_source="runtime")
        printer(f"reprojection on, runtime poses: error {rt.median_abs_error():.2f}° ({rt.measured} frames)")
    if cfg.png:
        write_picture(cfg.png, runs[True], runs[False])
        printer(f"picture: {cfg.png}")
    return 0


def write_picture(path, on: LatencyRun, off: LatencyRun, height: int = 240) -> None:
    """On | off eye images side by side, each scaled to ``height``; written atomically."""
    import cv2

    tiles = []
    for run, label in ((on, "reprojection on"), (off, "reprojection off")):
        if run.picture is None:
            continue
        img = run.picture
        w = int(round(img.shape[1] * height / img.shape[0]))
        tile = cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        raise UsageError("no frame showed the landmark: nothing to picture", "run with more --latency-frames")
    write_image_atomic(path, np.concatenate(tiles, axis=1))
