"""Comfort metrics: temporal flicker on real video, stereo disagreement on rectified pairs.

Pure functions on host images (numpy, ``(H, W, 3)`` RGB, ``uint8`` 0–255 or float 0–1), plus
the ``artem-vr eval`` part that runs stylizers over the data (:func:`add_eval_arguments`,
:func:`run_eval`).

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

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from artem_vr.errors import ConventionError, ImageError, UsageError
from artem_vr.temporal.disparity import right_view_disparity  # noqa: F401  (eval and tests use it from here)

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


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


# ---------------------------------------------------------------------------- data
def load_video(path: Path, max_frames: int = 24, width: int | None = 480, start: int = 0) -> list[np.ndarray]:
    """The first ``max_frames`` frames (after ``start``) of a video, RGB uint8, resized to ``width``."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageError(f"cannot open video {path}", "check the file exists and is a video OpenCV can read")
    frames = []
    try:
        i = 0
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if i >= start:
                frames.append(_resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width))
            i += 1
    finally:
        cap.release()
    if len(frames) < 2:
        raise ImageError(f"video {path} has fewer than 2 readable frames", "give a longer clip")
    return frames


def _resize(img: np.ndarray, width: int | None) -> np.ndarray:
    if width is None or img.shape[1] == width:
        return np.ascontiguousarray(img)
    h = max(2, round(img.shape[0] * width / img.shape[1] / 2) * 2)
    return cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)


@dataclass
class StereoPair:
    name: str
    left: np.ndarray  # RGB uint8 (H, W, 3)
    right: np.ndarray
    disp: np.ndarray  # float32 (H, W) left-view disparity, pixels at this size
    valid: np.ndarray  # bool (H, W)

    def resized(self, width: int | None) -> "StereoPair":
        """The pair at ``width`` pixels wide; disparities are scaled with it, validity kept."""
        if width is None or width == self.left.shape[1]:
            return self
        s = width / self.left.shape[1]
        left, right = _resize(self.left, width), _resize(self.right, width)
        h, w = left.shape[:2]
        d = cv2.resize(np.where(self.valid, self.disp, 0).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST) * s
        v = cv2.resize(self.valid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        return StereoPair(self.name, left, right, d, v)


def find_stereo_pairs(folder: Path) -> list[str]:
    """Names ``X`` with ``X_left.*``, ``X_right.*`` and a ground-truth disparity ``X_disparity*``."""
    folder = Path(folder)
    names = []
    for f in sorted(folder.glob("*_left.*")):
        name = f.name.rsplit("_left.", 1)[0]
        if list(folder.glob(f"{name}_right.*")) and list(folder.glob(f"{name}_disparity*")):
            names.append(name)
    return names


def load_stereo_pair(folder: Path, name: str) -> StereoPair:
    """Load ``name_left.*``, ``name_right.*`` and ``name_disparity*`` (left-view GT).

    Disparity files: ``.png`` 8/16-bit with 0 = unknown (Middlebury 2006 full size, scale 1;
    16-bit files are divided by 256, the KITTI convention), ``.npz``/``.npy`` float with
    inf/NaN = unknown (Middlebury 2014 as in scikit-image), ``.pfm`` (inf = unknown).
    """
    folder = Path(folder)

    def one(pattern):
        c = sorted(folder.glob(pattern))
        if not c:
            raise ImageError(f"stereo pair {name!r}: no file matching {pattern} in {folder}",
                             "expect NAME_left.*, NAME_right.* and NAME_disparity* side by side")
        return c[0]

    imgs = []
    for side in ("left", "right"):
        bgr = cv2.imread(str(one(f"{name}_{side}.*")), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ImageError(f"cannot read the {side} view of {name!r}", "check the image file")
        imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    dpath = one(f"{name}_disparity*")
    disp = read_disparity(dpath)
    if disp.shape != imgs[0].shape[:2] or imgs[0].shape != imgs[1].shape:
        raise ImageError(f"stereo pair {name!r}: sizes differ (left {imgs[0].shape}, right {imgs[1].shape}, "
                         f"disparity {disp.shape})", "the views and the disparity must be the same size")
    valid = np.isfinite(disp) & (disp > 0)
    return StereoPair(name, imgs[0], imgs[1], np.where(valid, disp, 0).astype(np.float32), valid)


def read_disparity(path: Path) -> np.ndarray:
    """A disparity map as float32 (H, W), unknown = inf. See :func:`load_stereo_pair`."""
    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".png":
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if a is None or a.ndim != 2:
            raise ImageError(f"disparity {path} is not a one-channel PNG", "give an 8- or 16-bit gray PNG")
        d = a.astype(np.float32) / (256.0 if a.dtype == np.uint16 else 1.0)
        d[a == 0] = np.inf
        return d
    if suf in (".npz", ".npy"):
        z = np.load(path, allow_pickle=False)
        a = z[z.files[0]] if isinstance(z, np.lib.npyio.NpzFile) else z
        return np.asarray(a, np.float32)
    if suf == ".pfm":
        return _read_pfm(path)
    raise ImageError(f"disparity {path}: unknown format {suf}", "use .png, .npz/.npy or .pfm")


def _read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind != b"Pf":
            raise ImageError(f"{path}: not a one-channel PFM (header {kind!r})", "give a 'Pf' disparity PFM")
        w, h = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        data = np.frombuffer(f.read(w * h * 4), "<f4" if scale < 0 else ">f4").reshape(h, w)
    return np.flipud(data).astype(np.float32)


# ---------------------------------------------------------------------------- eval
def add_eval_arguments(parser) -> None:
    """The options of the comfort half of `artem-vr eval` only; ``--method`` and ``--device`` are
    defined once, by :func:`artem_vr.evaluate.add_arguments`, and shared by both halves."""
    g = parser.add_argument_group("flicker and stereo consistency")
    g.add_argument("--videos", default=None, help="folder of real videos for the temporal flicker metric")
    g.add_argument("--stereo", default=None, help="folder of rectified pairs NAME_left/right.* + NAME_disparity* (GT)")
    g.add_argument("--style", default=None, help="preset style for the comfort metrics (default: the method's first)")
    g.add_argument("--video-frames", type=int, default=24, help="frames per video for the flicker metric (default 24)")
    g.add_argument("--video-width", type=int, default=480, help="width the videos are stylized at (default 480)")
    g.add_argument("--stereo-width", type=int, default=640, help="width the stereo pairs are stylized at (default 640)")
    g.add_argument("--comfort-backend", choices=["auto", "torch", "opencv"], default="auto",
                   help="flow and disparity of the comfort wrappers: auto = torch on a GPU (on the frames' "
                        "own device), OpenCV on the CPU; torch / opencv = that one anywhere (default auto)")
    g.add_argument("--comfort-json", default=None, help="also write the flicker/stereo results to this JSON file")
    g.add_argument("--comfort-images", default=None, help="write side-by-side PNGs (raw | per-frame | stabilized) to this folder")


def _device(name: str | None) -> str:
    from artem_vr.cuda.device import resolve_device

    return resolve_device(name)


def _stylizers(methods, style: str | None, device: str) -> tuple[dict, dict]:
    """Build each requested method's stylizer; ({method: stylizer}, {method: why not})."""
    from artem_vr.style.methods import make_stylizer

    if methods is None:
        methods = ["generator", "adain"]
    elif isinstance(methods, str):
        methods = [methods]
    built, missing = {}, {}
    for m in methods:
        try:
            built[m] = make_stylizer(m, style, device=device)
        except Exception as e:  # no model for this method/style here: reported, not fatal
            missing[m] = str(e)
    return built, missing


def stylize_sequence(stylizer, frames: list[np.ndarray], reset: bool = True) -> tuple[list[np.ndarray], float]:
    """Stylize RGB uint8 frames one at a time (batch of 1). Returns (frames, mean ms/frame)."""
    from artem_vr.frames import to_rgb8, to_tensor

    if reset:
        stylizer.reset_temporal()
    out, t = [], 0.0
    for f in frames:
        x = to_tensor(f, device=stylizer.device)
        t0 = time.perf_counter()
        y = stylizer.stylize(x)
        if y.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        t += time.perf_counter() - t0
        out.append(to_rgb8(y))
    return out, t * 1000 / max(1, len(frames))


def stylize_pair(stylizer, left: np.ndarray, right: np.ndarray, joint: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stylize a stereo pair: in one batch (``joint``) or each eye on its own (independent)."""
    from artem_vr.frames import to_rgb8, to_tensor

    stylizer.reset_temporal()
    if joint:
        y = stylizer.stylize(to_tensor([left, right], device=stylizer.device))
        return to_rgb8(y, 0), to_rgb8(y, 1)
    yl = stylizer.stylize(to_tensor(left, device=stylizer.device))
    stylizer.reset_temporal()
    yr = stylizer.stylize(to_tensor(right, device=stylizer.device))
    return to_rgb8(yl), to_rgb8(yr)


def eval_temporal(base, videos: list[Path], n_frames: int, width: int, images_dir: Path | None = None,
                  backend: str = "auto") -> dict:
    """Flicker of raw / per-frame / stabilized on each video. ``base``: a plain Stylizer;
    ``backend``: the stabilizer's flow (see :data:`artem_vr.temporal.wrapper.BACKENDS`)."""
    from artem_vr.temporal.stabilize import TemporalStabilizer

    stab = TemporalStabilizer(base, backend=backend)
    rows = {}
    for v in videos:
        raw = load_video(v, n_frames, width)
        pairs = flow_pairs(raw)
        plain, ms_plain = stylize_sequence(base, raw)
        stabilized, ms_stab = stylize_sequence(stab, raw)
        r = {
            "frames": len(raw),
            "size": f"{raw[0].shape[1]}x{raw[0].shape[0]}",
            "raw": temporal_error(raw, pairs),
            "per_frame": temporal_error(plain, pairs),
            "stabilized": temporal_error(stabilized, pairs),
            "deviation": float(np.mean([masked_mae(a, b) for a, b in zip(plain, stabilized)])),
            "stylize_ms": ms_plain,
            "stabilized_ms": ms_stab,
            "cost_ms": stab.stats["cost_ms"],
        }
        r["ratio"] = r["stabilized"] / r["per_frame"] if r["per_frame"] > 0 else float("nan")
        r["cost_fraction"] = r["cost_ms"] / ms_plain if ms_plain > 0 else float("nan")
        rows[v.stem] = r
        if images_dir is not None:
            _write_temporal_strip(images_dir / f"temporal_{v.stem}.png", raw, plain, stabilized, pairs)
    return rows


def eval_stereo(base, folder: Path, width: int, images_dir: Path | None = None, backend: str = "auto") -> dict:
    """Stereo error of raw / independent / shared-stats / warp on each GT pair (``backend``: the
    warp's disparity, see :data:`artem_vr.temporal.wrapper.BACKENDS`)."""
    from artem_vr.temporal.stereo import StereoConsistentStylizer

    rows = {}
    for name in find_stereo_pairs(folder):
        p = load_stereo_pair(folder, name).resized(width)
        d_r, v_r = right_view_disparity(p.disp, p.valid)
        r = {"size": f"{p.left.shape[1]}x{p.left.shape[0]}", "raw": stereo_error(p.left, p.right, d_r, v_r)}
        outs = {"independent": stylize_pair(base, p.left, p.right, joint=False)}
        for mode in ("shared-stats", "warp"):
            s = StereoConsistentStylizer(base, mode=mode, backend=backend)
            t0 = time.perf_counter()
            outs[mode] = stylize_pair(s, p.left, p.right, joint=True)
            r[f"{mode}_ms"] = (time.perf_counter() - t0) * 1000
            r[f"{mode}_cost_ms"] = s.stats["cost_ms"]
        for k, (yl, yr) in outs.items():
            r[k] = stereo_error(yl, yr, d_r, v_r)
        for k in ("shared-stats", "warp"):
            r[f"{k}_ratio"] = r[k] / r["independent"] if r["independent"] > 0 else float("nan")
        rows[name] = r
        if images_dir is not None:
            _write_stereo_strip(images_dir / f"stereo_{name}.png", p, outs, d_r, v_r)
    return rows


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


def _write_temporal_strip(path: Path, raw, plain, stab, pairs):
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


def _write_stereo_strip(path: Path, pair: StereoPair, outs, d_r, v_r):
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
        ok, buf = cv2.imencode(".png", cv2.cvtColor(_resize(rgb, w), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise ImageError(f"cannot encode {path}", "check OpenCV's PNG support")
        if len(buf) <= max_bytes or w < 64:
            break
        w = int(w * 0.85)
    from artem_vr.atomic import write_bytes_atomic

    write_bytes_atomic(path, buf.tobytes(), what="eval image")


def run_eval(args) -> dict:
    """Run the flicker and stereo metrics for each ``args.method`` that has a model here.

    Prints markdown tables; returns ``{"device", "methods": {m: {"style", "temporal", "stereo"}},
    "missing": {m: why}}`` (methods without a model are listed under ``missing``; when none has
    one, ``identity`` is measured so the pipeline and the floors are still reported).
    """
    if not getattr(args, "videos", None) and not getattr(args, "stereo", None):
        return {}
    device = _device(getattr(args, "device", "auto"))
    built, missing = _stylizers(getattr(args, "method", None), getattr(args, "style", None), device)
    if not built:
        built, _ = _stylizers(["identity"], None, device)
    videos = None
    if getattr(args, "videos", None):
        folder = Path(args.videos)
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS) if folder.is_dir() else []
        if not videos:
            raise UsageError(f"no videos in {folder}", f"put {'/'.join(VIDEO_EXTS)} files there")
    if getattr(args, "stereo", None) and not find_stereo_pairs(Path(args.stereo)):
        raise UsageError(f"no stereo pairs with ground truth in {args.stereo}",
                         "expect NAME_left.*, NAME_right.*, NAME_disparity* (png/npz/pfm)")
    images = Path(args.comfort_images) if getattr(args, "comfort_images", None) else None
    backend = getattr(args, "comfort_backend", "auto") or "auto"
    result: dict = {"device": device, "backend": backend, "methods": {}, "missing": missing}
    for method, base in built.items():
        r: dict = {"style": base.style}
        img_dir = images / method if images is not None else None
        if videos:
            r["temporal"] = eval_temporal(base, videos, getattr(args, "video_frames", 24),
                                          getattr(args, "video_width", 480), img_dir, backend)
        if getattr(args, "stereo", None):
            r["stereo"] = eval_stereo(base, Path(args.stereo), getattr(args, "stereo_width", 640), img_dir, backend)
        result["methods"][method] = r
    print(format_tables(result))
    if getattr(args, "comfort_json", None):
        Path(args.comfort_json).parent.mkdir(parents=True, exist_ok=True)
        from artem_vr.atomic import write_text_atomic

        write_text_atomic(args.comfort_json, json.dumps(result, indent=2), what="eval JSON")
    return result


def format_tables(result: dict) -> str:
    """Markdown tables of :func:`run_eval`'s result (what docs/quality.md shows)."""
    lines = [f"device: {result.get('device')}, comfort backend: {result.get('backend', 'auto')}"]
    for m, why in result.get("missing", {}).items():
        lines.append(f"{m}: n/a ({why})")
    tem = [(m, r) for m, r in result.get("methods", {}).items() if "temporal" in r]
    if tem:
        lines += ["", "Flicker: warping error, 8-bit levels (lower is steadier)", "",
                  "| method (style) | video | frames | size | raw (floor) | per-frame | stabilized | ratio | "
                  "deviation | stylize ms | stabilize ms | cost |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m, mr in tem:
            for k, r in mr["temporal"].items():
                lines.append(
                    f"| {m} ({mr['style']}) | {k} | {r['frames']} | {r['size']} | {r['raw']:.2f} | {r['per_frame']:.2f} | "
                    f"{r['stabilized']:.2f} | {r['ratio']:.2f}× | {r['deviation']:.2f} | {r['stylize_ms']:.0f} | "
                    f"{r['cost_ms']:.1f} | {100 * r['cost_fraction']:.1f}% |")
    ste = [(m, r) for m, r in result.get("methods", {}).items() if "stereo" in r]
    if ste:
        lines += ["", "Stereo: left eye warped by ground-truth disparity vs right eye, 8-bit levels", "",
                  "| method (style) | pair | size | raw (floor) | independent | shared stats | ratio | warp | ratio | "
                  "warp cost ms |", "|---|---|---|---|---|---|---|---|---|---|"]
        for m, mr in ste:
            for k, r in mr["stereo"].items():
                lines.append(
                    f"| {m} ({mr['style']}) | {k} | {r['size']} | {r['raw']:.2f} | {r['independent']:.2f} | "
                    f"{r['shared-stats']:.2f} | {r['shared-stats_ratio']:.2f}× | {r['warp']:.2f} | "
                    f"{r['warp_ratio']:.2f}× | {r['warp_cost_ms']:.1f} |")
    return "\n".join(lines)
