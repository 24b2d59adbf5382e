"""The comfort metrics' maths: temporal flicker (flow-warped error) and stereo disagreement.

Pure functions on host images (numpy, ``(H, W, 3)`` RGB, ``uint8`` 0–255 or float 0–1). The
files they read are :mod:`artem_vr.temporal.readers`; the ``artem-vr eval`` half that runs
stylizers over them is :mod:`artem_vr.temporal.metrics`.

Conventions used throughout:

* **Flow** ``flow`` is float32 ``(H, W, 2)`` in pixels, ``flow[y, x] = (dx, dy)``; for
  ``dis_flow(a, b)`` it means ``a[y, x] ≈ b[y + dy, x + dx]`` (OpenCV's convention), so
  :func:`warp` of ``b`` by it lands ``b`` on ``a``.
* **Disparity** is float32 ``(H, W)`` in pixels of that image's width, positive, for the *left*
  view of a rectified pair: ``left[y, x] ≈ right[y, x - d[y, x]]``. Invalid pixels carry
  ``valid == False``.
* **Errors** are mean absolute differences in 8-bit levels (0–255), over the unmasked pixels
  and the three channels. Lower is steadier.

The temporal error follows Lai et al. (ECCV 2018, "warping error") with the occlusion test of
Sundaram et al. (ECCV 2010) / Ruder et al. (GCPR 2016): flow is computed on the *unstylized*
frames, so a stylization that keeps still where the scene keeps still scores like the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from artem_vr.errors import ConventionError, UsageError


# ---------------------------------------------------------------------------- basics
def as_float(img: np.ndarray, where: str = "image") -> np.ndarray:
    """(H, W, C) uint8 0–255 or float 0–1 → float32 0–1 (a view-free copy)."""
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
        raise ConventionError(f"{where}: expected a numpy (H, W) or (H, W, 3) image, got "
                              f"{type(img).__name__} {getattr(img, 'shape', '')}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype.kind == "f":
        return img.astype(np.float32, copy=True)
    raise ConventionError(f"{where}: expected uint8 0–255 or float 0–1, got dtype {img.dtype}")


def to_gray8(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB (uint8 or float 0–1) → (H, W) uint8 luma, as DIS and SGBM want."""
    if img.ndim == 2:
        g = img
    else:
        if img.shape[2] != 3:
            raise ConventionError(f"to_gray8: expected (H, W, 3) RGB, got shape {img.shape}")
        g = cv2.cvtColor(img if img.dtype == np.uint8 else as_float(img), cv2.COLOR_RGB2GRAY)
    if g.dtype != np.uint8:
        g = np.clip(np.rint(g * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(g)


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def dis_flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Dense optical flow from ``a`` to ``b`` (OpenCV DIS): ``a[y, x] ≈ b[(y, x) + flow]``.

    ``a``, ``b``: same-size images (RGB or gray). Returns float32 (H, W, 2) (dx, dy) pixels.
    """
    ga, gb = to_gray8(a), to_gray8(b)
    if ga.shape != gb.shape:
        raise ConventionError(f"dis_flow: frames differ in size: {ga.shape} vs {gb.shape}")
    if preset not in _DIS_PRESETS:
        raise UsageError(f"unknown DIS preset {preset!r}", f"choose one of {', '.join(_DIS_PRESETS)}")
    dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
    return dis.calc(ga, gb, None)


def warp(img: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``img`` at ``(x, y) + flow`` (bilinear). Returns (warped image, inside mask).

    ``img``: (H, W, C) or (H, W), any float/uint8 dtype (float32 out for float in).
    ``flow``: (H, W, 2) pixels. ``inside`` is False where the sample falls off the image.
    """
    h, w = flow.shape[:2]
    if img.shape[:2] != (h, w):
        raise ConventionError(f"warp: image {img.shape[:2]} and flow {flow.shape[:2]} differ in size")
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    src = img.astype(np.float32) if img.dtype != np.float32 else img
    out = cv2.remap(src, xs, ys, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    return out, inside


def fb_consistent(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Forward–backward check: True where following a→b then b→a returns home.

    ``|f_ab + f_ba(x + f_ab)|² < alpha (|f_ab|² + |f_ba(x + f_ab)|²) + beta`` (Sundaram 2010),
    and the sample lies inside the image. Returns bool (H, W); False marks occlusions and
    unreliable flow.
    """
    back, inside = warp(flow_ba, flow_ab)
    s = flow_ab + back
    lhs = (s**2).sum(-1)
    rhs = alpha * ((flow_ab**2).sum(-1) + (back**2).sum(-1)) + beta
    return (lhs < rhs) & inside


def masked_mae(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean |a - b| in 8-bit levels over ``mask`` (bool (H, W)) and channels; NaN if empty."""
    fa, fb = as_float(a, "masked_mae a"), as_float(b, "masked_mae b")
    if fa.shape != fb.shape:
        raise ConventionError(f"masked_mae: shapes differ: {fa.shape} vs {fb.shape}")
    d = np.abs(fa - fb)
    if d.ndim == 3:
        d = d.mean(-1)
    if mask is not None:
        if mask.shape != d.shape:
            raise ConventionError(f"masked_mae: mask {mask.shape} vs image {d.shape}")
        if not mask.any():
            return float("nan")
        d = d[mask]
    return float(d.mean() * 255.0)


# ---------------------------------------------------------------------------- temporal
@dataclass
class FlowPair:
    """Between frames t-1 and t: flow t→t-1 and where it is trustworthy."""

    flow: np.ndarray  # (H, W, 2): frame_t[y, x] ≈ frame_{t-1}[(y, x) + flow]
    mask: np.ndarray  # (H, W) bool: consistent and not occluded


def flow_pairs(raw: list[np.ndarray], preset: str = "medium") -> list[FlowPair]:
    """Flows between consecutive *unstylized* frames with their occlusion masks (len(raw) - 1)."""
    out = []
    grays = [to_gray8(f) for f in raw]
    for prev, cur in zip(grays[:-1], grays[1:]):
        f_back = dis_flow(cur, prev, preset)  # t → t-1
        f_fwd = dis_flow(prev, cur, preset)  # t-1 → t
        out.append(FlowPair(f_back, fb_consistent(f_back, f_fwd)))
    return out


def temporal_errors(frames: list[np.ndarray], pairs: list[FlowPair]) -> list[float]:
    """Per frame t ≥ 1: masked MAE between ``frames[t]`` and ``frames[t-1]`` warped onto it.

    ``frames``: the sequence to judge (stylized or raw), RGB (H, W, 3); ``pairs`` from
    :func:`flow_pairs` on the raw frames of the same size.
    """
    if len(pairs) != len(frames) - 1:
        raise ConventionError(f"temporal_errors: {len(frames)} frames need {len(frames) - 1} flow pairs, got {len(pairs)}")
    errs = []
    for t, p in enumerate(pairs, start=1):
        prev_w, inside = warp(as_float(frames[t - 1]), p.flow)
        errs.append(masked_mae(as_float(frames[t]), prev_w, p.mask & inside))
    return errs


def temporal_error(frames: list[np.ndarray], pairs: list[FlowPair]) -> float:
    """Mean of :func:`temporal_errors` (8-bit levels). A static sequence scores 0."""
    e = [v for v in temporal_errors(frames, pairs) if np.isfinite(v)]
    return float(np.mean(e)) if e else float("nan")


# ---------------------------------------------------------------------------- stereo
def warp_left_to_right(left: np.ndarray, d_right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample the left view into the right one: ``out[y, x] = left[y, x + d_right[y, x]]``.

    Returns (image float32 (H, W, C) 0–1, inside mask (H, W) bool).
    """
    flow = np.zeros(d_right.shape + (2,), np.float32)
    flow[..., 0] = d_right
    return warp(as_float(left), flow)


def stereo_error(left: np.ndarray, right: np.ndarray, d_right: np.ndarray, valid_right: np.ndarray) -> float:
    """Masked MAE (8-bit levels) between ``right`` and ``left`` warped into the right view."""
    est, inside = warp_left_to_right(left, d_right)
    return masked_mae(as_float(right), est, valid_right & inside)
