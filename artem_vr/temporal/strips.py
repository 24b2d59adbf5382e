"""The side-by-side images of `artem-vr eval --comfort-images`: a centre crop of each column at
full resolution over its error map (flicker: frame t against frame t−1 warped by the flow; stereo:
the right eye against the left warped by the true disparity), small PNGs for the docs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from artem_vr.atomic import write_bytes_atomic
from artem_vr.errors import ImageError
from artem_vr.temporal.flicker import as_float, warp, warp_left_to_right
from artem_vr.temporal.readers import StereoPair, resize_width

STRIP_FRAME = 12  # the frame the side-by-side images show (so a 13-frame run reproduces them)


def _crop(img: np.ndarray, size: tuple[int, int] = (200, 150)) -> np.ndarray:
    """Centre crop (w, h) at full resolution: detail matters more than the whole frame here."""
    h, w = img.shape[:2]
    cw, ch = min(size[0], w), min(size[1], h)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[y0: y0 + ch, x0: x0 + cw]


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, thick, cv2.LINE_AA)
    return out


def _error_map(err: np.ndarray) -> np.ndarray:
    """(H, W) |difference| 0–1 → RGB heat map (×4 gain: 64 levels of difference saturate)."""
    return cv2.applyColorMap(np.clip(err * 4 * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]


def write_temporal_strip(path: Path, raw, plain, stab, pairs):
    """Columns raw | per-frame | stabilized; rows: frame t (centre crop), its flicker map
    (|frame t − frame t−1 warped by the flow|, occlusions black)."""
    t = min(STRIP_FRAME, len(raw) - 1)
    p = pairs[t - 1]
    cols = []
    for name, seq in (("input", raw), ("per-frame", plain), ("stabilized", stab)):
        prev_w, inside = warp(as_float(seq[t - 1]), p.flow)
        err = np.abs(as_float(seq[t]) - prev_w).mean(-1) * (p.mask & inside)
        cols.append(np.concatenate([_label(_crop(seq[t]), name), _crop(_error_map(err))], axis=0))
    _save_small(path, np.concatenate(cols, axis=1), 3 * 200)


def write_stereo_strip(path: Path, pair: StereoPair, outs, d_r, v_r):
    """Columns independent | shared stats | warp; rows: the right eye (centre crop), its
    disagreement map with the left eye (|right − left warped by the true disparity|, occlusions black)."""
    cols = []
    for k in ("independent", "shared-stats", "warp"):
        yl, yr = outs[k]
        est, inside = warp_left_to_right(yl, d_r)
        err = np.abs(as_float(yr) - est).mean(-1) * (v_r & inside)
        cols.append(np.concatenate([_label(_crop(yr), f"{k}: right eye"), _crop(_error_map(err))], axis=0))
    _save_small(path, np.concatenate(cols, axis=1), 3 * 200)


def _save_small(path: Path, rgb: np.ndarray, width: int, max_bytes: int = 280_000):
    """Write a PNG no wider than ``width`` and (shrinking further if needed) under ``max_bytes``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = min(width, rgb.shape[1])
    rgb = (rgb & 0xFC) | 0x02  # 6 bits a channel: invisible here, and a third smaller as PNG
    while True:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(resize_width(rgb, w), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise ImageError(f"cannot encode {path}", "check OpenCV's PNG support")
        if len(buf) <= max_bytes or w < 64:
            break
        w = int(w * 0.85)
    write_bytes_atomic(path, buf.tobytes(), what="eval image")
