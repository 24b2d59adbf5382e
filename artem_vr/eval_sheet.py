"""The contact sheet of `artem-vr eval` (``--sheet``): one row per content × style pair,
content | style | one tile per method, each output labelled with its style-loss reduction
(from the report of :func:`artem_vr.eval_style.evaluate`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from artem_vr.frames import to_rgb8


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    t = tile.copy()
    scale = max(0.3, t.shape[1] / 400)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(t, (0, 0), (min(t.shape[1], tw + 4), th + 6), (0, 0, 0), -1)
    cv2.putText(t, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return t


def _tile(x: torch.Tensor | None, tile: int) -> np.ndarray:
    if x is None:
        t = np.full((tile, tile, 3), 96, np.uint8)
        return _label(t, "n/a")
    h, w = x.shape[-2:]
    s = tile / max(h, w)
    y = F.interpolate(x.float(), size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear", align_corners=False, antialias=True)
    img = to_rgb8(y.clamp(0, 1))
    out = np.full((tile, tile, 3), 255, np.uint8)
    oy, ox = (tile - img.shape[0]) // 2, (tile - img.shape[1]) // 2
    out[oy : oy + img.shape[0], ox : ox + img.shape[1]] = img
    return out


def contact_sheet(report: dict, sheet: dict, tile: int = 128, max_rows: int = 12) -> np.ndarray:
    """Rows: content | style | one output per method (uint8 RGB). At most ``max_rows`` pairs,
    spread evenly over the pairs (deterministic)."""
    keys = sorted(sheet["outputs"].keys(), key=lambda k: (k[1], k[0]))
    if len(keys) > max_rows:
        keys = [keys[round(i * (len(keys) - 1) / (max_rows - 1))] for i in range(max_rows)] if max_rows > 1 else keys[:1]
    cols = sheet["columns"]
    header = [_label(np.full((tile // 5, tile, 3), 255, np.uint8), t) for t in ["content", "style", *cols]]
    rows = [np.concatenate(header, axis=1)]
    by_pair = {(p["content"], p["style"]): p for p in report["pairs"]}
    for ci, si in keys:
        cname, c = sheet["contents"][ci]
        sl = sheet["labels"][si]
        p = by_pair[(cname, sl)]
        tiles = [_label(_tile(c, tile), cname[:22]), _label(_tile(sheet["styles"][si], tile), sl[:22])]
        for m in cols:
            y = sheet["outputs"][(ci, si)].get(m)
            t = _tile(y, tile)
            r = p["methods"][m]
            if r["status"] == "ok":
                t = _label(t, f"{100 * r['reduction']:.0f}%")
            tiles.append(t)
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
