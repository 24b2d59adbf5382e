"""What the comfort wrappers cost per frame, measured end to end (for `artem-vr bench` and the docs).

:func:`measure_cost` stylizes the same moving, textured frames (a pan, so the flow has work to
do) three ways, interleaved frame by frame — plain, with stereo consistency, and with stereo consistency + temporal
stabilization (what `artem-vr run` does) — synchronizing the device around each frame, and
reports median milliseconds and the fractions of the plain stylize time.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from artem_vr.frames import to_tensor
from artem_vr.style.base import Stylizer
from artem_vr.temporal.stabilize import TemporalStabilizer
from artem_vr.temporal.stereo import StereoConsistentStylizer


def moving_frames(n: int, size: tuple[int, int], eyes: int = 2, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB uint8 frames (eyes side by side when 2) of a textured scene panning 2 px/frame.

    The right eye sees the scene 6 px to the left (a plane at disparity 6)."""
    w, h = size
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.random((h // 8 + 4, (w + 2 * n + 16) // 8 + 4, 3)).astype(np.float32),
                     (w + 2 * n + 16, h), interpolation=cv2.INTER_CUBIC)
    big = (np.clip(big + rng.normal(0, 0.03, big.shape), 0, 1) * 255).astype(np.uint8)
    out = []
    for i in range(n):
        left = big[:, 2 * i + 6: 2 * i + 6 + w]
        views = [left] if eyes == 1 else [left, big[:, 2 * i: 2 * i + w]]
        out.append(np.ascontiguousarray(np.concatenate(views, axis=1)))
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def measure_cost(stylizer: Stylizer, size: tuple[int, int] = (640, 360), eyes: int = 2, frames: int = 12,
                 warmup: int = 2, backend: str = "auto") -> dict:
    """Median ms per frame for ``stylizer`` on ``eyes`` views of ``size`` (w, h): ``stylize_ms``
    (plain), ``stereo_ms`` (+ stereo consistency, warp mode; eyes = 2 only), ``comfort_ms``
    (+ temporal stabilization too), and ``stereo_fraction`` / ``temporal_fraction`` — each
    wrapper's extra time over the plain stylize time. ``backend``: the wrappers' flow and
    disparity (:data:`artem_vr.temporal.wrapper.BACKENDS`)."""
    w, h = size
    imgs = moving_frames(frames + warmup, size, eyes)
    xs = [to_tensor([f[:, k * w:(k + 1) * w] for k in range(eyes)], device=stylizer.device) for f in imgs]
    configs = {"stylize_ms": stylizer}
    if eyes == 2:
        configs["stereo_ms"] = StereoConsistentStylizer(stylizer, mode="warp", backend=backend)
    configs["comfort_ms"] = TemporalStabilizer(configs.get("stereo_ms", stylizer), backend=backend)
    out: dict = {"size": f"{w}x{h}", "eyes": eyes, "device": str(stylizer.device), "backend": backend}
    times: dict[str, list[float]] = {name: [] for name in configs}
    for s in configs.values():
        s.reset_temporal()
    # Interleaved (each frame through every configuration in turn), so that a machine whose
    # load changes during the run slows all of them alike.
    for i, x in enumerate(xs):
        for name, s in configs.items():
            _sync(stylizer.device)
            t0 = time.perf_counter()
            s.stylize(x)
            _sync(stylizer.device)
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000)
    for name, t in times.items():
        out[name] = float(np.median(t))
    base = out["stylize_ms"]
    stereo = out.get("stereo_ms", base)
    out["stereo_fraction"] = (stereo - base) / base
    out["temporal_fraction"] = (out["comfort_ms"] - stereo) / base
    own = configs["comfort_ms"].stats
    out["temporal_cost_ms"] = own["cost_ms"]  # the stabilizer's own timing of its work
    return out
