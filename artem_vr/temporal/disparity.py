"""Disparity geometry shared by the stereo wrapper and the stereo metric (no dependency on either,
so :mod:`artem_vr.temporal.stereo` and :mod:`artem_vr.temporal.metrics` share it)."""

from __future__ import annotations

import numpy as np

from artem_vr.errors import ConventionError


def right_view_disparity(disp_left: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Left-view disparity → right-view disparity by z-buffered splatting.

    Each valid left pixel (x, y) with disparity d lands on right pixel x - d (its floor and
    ceiling, so slanted surfaces leave no cracks); where several land, the largest disparity
    (the nearest surface) wins. Right pixels nobody lands on are disoccluded: ``valid_right``
    is False there. Returns float32 (H, W) ``d_right`` with ``right[y, x] ≈ left[y, x + d_right]``
    and bool (H, W) ``valid_right``.
    """
    d = np.asarray(disp_left, np.float32)
    if d.ndim != 2:
        raise ConventionError(f"right_view_disparity: expected (H, W) disparity, got shape {d.shape}")
    h, w = d.shape
    ok = np.isfinite(d) & (d >= 0)
    if valid is not None:
        ok &= valid
    ys, xs = np.nonzero(ok)
    ds = d[ys, xs]
    xr = xs - ds
    zbuf = np.full(h * w, -np.inf, np.float32)
    for xt in (np.floor(xr), np.floor(xr) + 1):
        xt = xt.astype(np.int64)
        keep = (xt >= 0) & (xt < w) & (np.abs(xt - xr) < 1.0)
        np.maximum.at(zbuf, ys[keep] * w + xt[keep], ds[keep])
    zbuf = zbuf.reshape(h, w)
    valid_r = np.isfinite(zbuf)
    return np.where(valid_r, zbuf, 0).astype(np.float32), valid_r
