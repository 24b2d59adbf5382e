"""The comfort half of `artem-vr eval`: each method's stylizer over real videos (flicker of raw /
per-frame / stabilized) and rectified stereo pairs with ground truth (disagreement of independent /
shared-stats / warp), printed as markdown tables and written as JSON and side-by-side images.

Its options are :func:`artem_vr.options.add_eval_options`'s; :func:`run_eval` receives the command's
frozen :class:`artem_vr.evaluate.EvalConfig`. The maths is :mod:`artem_vr.temporal.flicker`, the
files :mod:`artem_vr.temporal.readers`, the images :mod:`artem_vr.temporal.strips`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from artem_vr.atomic import write_text_atomic
from artem_vr.errors import ArtemError, ImageError, UsageError
from artem_vr.frames import to_rgb8, to_tensor
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.style.methods import make_stylizer
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.flicker import flow_pairs, masked_mae, stereo_error, temporal_error
from artem_vr.temporal.readers import VIDEO_EXTS, find_stereo_pairs, load_stereo_pair, load_video
from artem_vr.temporal.stabilize import TemporalStabilizer
from artem_vr.temporal.stereo import StereoConsistentStylizer
from artem_vr.temporal.strips import write_stereo_strip, write_temporal_strip
from artem_vr.text import say


def _stylizers(methods, style: str | None, device: str, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> tuple[dict, dict]:
    """Build each requested method's stylizer; ({method: stylizer}, {method: why not}). AdaIN
    reads its painting under ``max_megapixels``; the painting the user named (``style``) refused
    by it is the command's error, not a method "n/a"."""
    if methods is None:
        methods = ["generator", "adain"]
    elif isinstance(methods, str):
        methods = [methods]
    built, missing = {}, {}
    for m in methods:
        kw = {"max_megapixels": max_megapixels} if m.partition(":")[0] == "adain" else {}
        try:
            built[m] = make_stylizer(m, style, device=device, **kw)
        except ImageError as e:
            if style is not None:  # the painting the user named is unreadable or over the limit: refused
                raise
            missing[m] = str(e)
        except (ArtemError, OSError) as e:  # no model for this method/style here: reported, not fatal
            missing[m] = str(e)
    return built, missing


def stylize_sequence(stylizer, frames: list[np.ndarray], reset: bool = True) -> tuple[list[np.ndarray], float]:
    """Stylize RGB uint8 frames one at a time (batch of 1). Returns (frames, mean ms/frame)."""
    if reset:
        stylizer.reset_temporal()
    out, t = [], 0.0
    for f in frames:
        x = to_tensor(f, device=stylizer.device)
        t0 = time.perf_counter()
        y = stylizer.stylize(x)
        if y.device.type == "cuda":
            torch.cuda.synchronize()
        t += time.perf_counter() - t0
        out.append(to_rgb8(y))
    return out, t * 1000 / max(1, len(frames))


def stylize_pair(stylizer, left: np.ndarray, right: np.ndarray, joint: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stylize a stereo pair: in one batch (``joint``) or each eye on its own (independent)."""
    stylizer.reset_temporal()
    if joint:
        y = stylizer.stylize(to_tensor([left, right], device=stylizer.device))
        return to_rgb8(y, 0), to_rgb8(y, 1)
    yl = stylizer.stylize(to_tensor(left, device=stylizer.device))
    stylizer.reset_temporal()
    yr = stylizer.stylize(to_tensor(right, device=stylizer.device))
    return to_rgb8(yl), to_rgb8(yr)


def eval_temporal(base, videos: list[Path], n_frames: int, width: int, images_dir: Path | None = None,
                  backend: str = "auto", max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> dict:
    """Flicker of raw / per-frame / stabilized on each video. ``base``: a plain Stylizer;
    ``backend``: the stabilizer's flow (see :data:`artem_vr.temporal.wrapper.BACKENDS`);
    ``max_megapixels``: the decode limit of the frames."""
    stab = TemporalStabilizer(base, backend=backend)
    rows = {}
    for v in videos:
        raw = load_video(v, n_frames, width, max_megapixels=max_megapixels)
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
            write_temporal_strip(images_dir / f"temporal_{v.stem}.png", raw, plain, stabilized, pairs)
    return rows


def eval_stereo(base, folder: Path, width: int, images_dir: Path | None = None, backend: str = "auto",
                max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> dict:
    """Stereo error of raw / independent / shared-stats / warp on each GT pair (``backend``: the
    warp's disparity, see :data:`artem_vr.temporal.wrapper.BACKENDS`; ``max_megapixels``: the
    decode limit of the views and disparities)."""
    rows = {}
    for name in find_stereo_pairs(folder):
        p = load_stereo_pair(folder, name, max_megapixels=max_megapixels).resized(width)
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
            write_stereo_strip(images_dir / f"stereo_{name}.png", p, outs, d_r, v_r)
    return rows


def run_eval(config, inputs=()) -> dict:
    """Run the flicker and stereo metrics for each ``config.method`` that has a model here.

    ``config``: the :class:`artem_vr.evaluate.EvalConfig` of the command (parsed and checked there;
    its device already resolved): ``videos``, ``stereo``, ``style``, ``video_frames``,
    ``video_width``, ``stereo_width``, ``comfort_backend``, ``comfort_json``, ``comfort_images``,
    ``max_megapixels`` (the decode limit of every frame, view, disparity and painting read).
    ``inputs``: the files the command reads, which ``comfort_json`` may not replace.
    Prints markdown tables; returns ``{"device", "methods": {m: {"style", "temporal", "stereo"}},
    "missing": {m: why}}`` (methods without a model are listed under ``missing``; when none has
    one, ``identity`` is measured so the pipeline and the floors are still reported).
    """
    if not config.videos and not config.stereo:
        return {}
    device = config.device
    limit = config.max_megapixels
    built, missing = _stylizers(list(config.method), config.style, device, limit)
    if not built:
        built, _ = _stylizers(["identity"], None, device)
    videos = None
    if config.videos:
        folder = Path(config.videos)
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS) if folder.is_dir() else []
        if not videos:
            raise UsageError(f"no videos in {folder}", f"put {'/'.join(VIDEO_EXTS)} files there")
    if config.stereo and not find_stereo_pairs(Path(config.stereo)):
        raise UsageError(f"no stereo pairs with ground truth in {config.stereo}",
                         "expect NAME_left.*, NAME_right.*, NAME_disparity* (png/npz/pfm)")
    images = Path(config.comfort_images) if config.comfort_images else None
    backend = config.comfort_backend
    result: dict = {"device": device, "backend": backend, "methods": {}, "missing": missing}
    for method, base in built.items():
        r: dict = {"style": base.style}
        img_dir = images / method if images is not None else None
        if videos:
            r["temporal"] = eval_temporal(base, videos, config.video_frames, config.video_width, img_dir, backend, limit)
        if config.stereo:
            r["stereo"] = eval_stereo(base, Path(config.stereo), config.stereo_width, img_dir, backend, limit)
        result["methods"][method] = r
    say(format_tables(result))
    if config.comfort_json:
        Path(config.comfort_json).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(config.comfort_json, json.dumps(result, indent=2), inputs, what="eval JSON")
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
