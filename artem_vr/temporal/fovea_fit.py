"""Fit a network's fovea statistics calibration on real photos (:class:`~artem_vr.temporal.foveate.FoveaCalibration`).

The foveated stylizer's full-resolution window needs the statistics every normalization would
have over the whole eye at full resolution; it has the reduced-scale periphery pass's and its window's
own at both resolutions. The calibration predicts the first from the second, per normalization
and channel, with coefficients fitted here by least squares (ridge toward the uncalibrated
window shift) on photos stylized at full resolution.

The fit is sequential, in the order the network normalizes: normalization ``i`` is fitted on the
fovea pass as it runs with the already fitted ``0 … i−1`` — so what it learns includes how their
remaining error shows up in the window's features. Its target is the *ideal* normalization of
those features: per channel, the affine map that takes the window's features, as the fovea pass
has them, closest (least squares) to the full-resolution pass's normalized ones; where a channel
is flat in the window (nothing to fit) the full-resolution statistics themselves.

    python -m artem_vr.temporal.fovea_fit --method generator --style starry_night --photos DIR

fits on every other photo of ``DIR`` (sorted by name; the others are held out), reports the
window-core PSNR on held-out photos, and writes the calibration where the stylizer looks for it
(:func:`~artem_vr.temporal.foveate.calibration_path`) with a model card beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

from artem_vr.atomic import write_file_atomic, write_text_atomic
from artem_vr.errors import UsageError
from artem_vr.frames import to_tensor
from artem_vr.style.methods import make_stylizer
from artem_vr.style.norm import current_features, stats_filter
from artem_vr.temporal.foveate import (PREDICTORS, FoveaCalibration, FoveaSpec, FoveatedStylizer, _box_stats, calibration_path,
                                       core_box, outside_stats, place, predictors)

#: ridge weight (× photos) pulling the coefficients toward zero (the uncalibrated mix)
RIDGE = 5e-4
_PRIOR = (0.0, 0.0, 0.0)
_EPS = 1e-5


class _Stop(Exception):
    """Ends a fovea pass once the normalization being fitted has been seen."""


def _window_features(f: torch.Tensor, box, size, step: int = 2) -> torch.Tensor:
    """``(C, n)``: the features of image 0 of ``f`` inside ``box`` ``(y, x, h, w)``, given in pixels
    of an input of ``size`` ``(H, W)`` (the map's stride read off the shapes), every ``step``-th pixel."""
    st = 2 ** round(math.log2(size[0] / f.shape[-2]))
    y, x, h, w = box
    r = f[0, :, y // st:(y + h) // st:step, x // st:(x + w) // st:step].float()
    return r.reshape(r.shape[0], -1)


def _truth(stylizer, x: torch.Tensor, window) -> tuple[torch.Tensor, list]:
    """The full-resolution stylization and, per normalization, its statistics and the window's
    normalized features."""
    size = tuple(x.shape[-2:])
    rec = []

    def record(key, m, v):
        xw = _window_features(current_features(), window, size)
        rec.append((m[0], v[0], (xw - m[0][:, None]) / (v[0][:, None] + _EPS).sqrt()))
        return m, v

    with stats_filter(record):
        ref = stylizer.stylize(x)
    return ref, rec


class _Probe(FoveatedStylizer):
    """The foveated stylizer with the calibration fitted so far; stops at normalization ``stop``
    with what the fit needs from there."""

    def __init__(self, stylizer, spec, partial: FoveaCalibration, stop: int | None):
        super().__init__(stylizer, spec=spec, calibration=partial)
        self.stop, self.grab = stop, None

    def _replay(self, key, mean, var):
        i, m, v, low = self._stats[key]
        if i == self.stop:
            high = _box_stats(current_features(), self._boxes)
            (wy, wx, fh, fw), (cy, cx, ch, cw) = self._place
            mo, vo = outside_stats((m, v), low, self._share)
            self.grab = (m[0], v[0], predictors((m, v), low, high)[0], mo[0], vo[0], high[0][0], high[1][0], self._share,
                         _window_features(current_features(), (wy - cy, wx - cx, fh, fw), (ch, cw)))
            raise _Stop
        return super()._replay(key, mean, var)

    def stylize(self, x):
        self._place = place(*x.shape[-2:], (0.5, 0.5), self.spec)
        return super().stylize(x)


def _ideal(xc: torch.Tensor, yt: torch.Tensor, m: torch.Tensor, v: torch.Tensor):
    """Per channel, the ``(mean, var)`` whose normalization of ``xc`` is closest to ``yt``
    (``(C, n)`` each): ``yt ≈ a·xc + c`` → mean ``−c/a``, var ``1/a²``; the full-resolution
    ``(m, v)`` where the window is flat in that channel."""
    xm, ym = xc.mean(1), yt.mean(1)
    x0, y0 = xc - xm[:, None], yt - ym[:, None]
    vx = (x0 * x0).mean(1)
    a = (x0 * y0).mean(1) / vx.clamp_min(1e-12)
    ok = (vx > 1e-6 * (v + _EPS)) & (a > 1e-3)
    a = torch.where(ok, a, torch.ones_like(a))
    mean, var = -(ym - a * xm) / a, 1.0 / (a * a)
    return torch.where(ok, mean, m), torch.where(ok, var, v)


def _ridge(p: torch.Tensor, t: torch.Tensor, prior, lam: float) -> torch.Tensor:
    """Per channel least squares ``t ≈ p·w`` with ``p`` ``(n, C, K)``, ``t`` ``(n, C)``, pulled
    toward ``prior`` (the slopes: ``lam·n``; the intercept barely)."""
    n, c, k = p.shape
    a = p.double().permute(1, 0, 2)  # C, n, K
    r = torch.diag(torch.tensor([0.01] + [1.0] * (k - 1), dtype=torch.float64)) * lam * n
    pr = torch.tensor(prior, dtype=torch.float64)
    lhs = a.transpose(1, 2) @ a + r
    rhs = a.transpose(1, 2) @ t.double().T[..., None] + (r @ pr)[None, :, None]
    return torch.linalg.solve(lhs, rhs)[..., 0].float()


def fit_calibration(stylizer, photos: list[torch.Tensor], spec: FoveaSpec = FoveaSpec(), lam: float = RIDGE,
                    say=None) -> FoveaCalibration:
    """Fit ``stylizer``'s calibration on ``photos`` (each ``(1, 3, H, W)``, RGB 0–1)."""
    say = say or (lambda *_: None)
    truths = []
    for k, x in enumerate(photos):
        window = place(*x.shape[-2:], (0.5, 0.5), spec)[0]
        truths.append(_truth(stylizer, x, window)[1])
        say(f"  full resolution [{k + 1}/{len(photos)}]")
    n_norms = len(truths[0])
    if n_norms == 0:
        raise UsageError(f"the {stylizer.method} network normalizes nothing: nothing to calibrate", "foveate it as it is")
    cal = FoveaCalibration([], [], periphery=spec.periphery)
    for i in range(n_norms):
        ps, tm, tv = [], [], []
        for x, rec in zip(photos, truths):
            probe = _Probe(stylizer, spec, cal, i)
            try:
                probe.stylize(x)
            except _Stop:
                pass
            m, v, p, mo, vo, mh, vh, share, xc = probe.grab
            mi, vi = _ideal(xc, rec[i][2], rec[i][0], rec[i][1])
            # the outside's ideal statistics: the whole's ideal ones less the window's part
            moi, voi = outside_stats((mi, vi), (mh, vh), share)
            ps.append(p)
            tm.append((moi - mo) / (v + _EPS).sqrt())
            tv.append(((voi.maximum(0.01 * vo) + _EPS) / (vo + _EPS)).log())
        p = torch.stack(ps)
        cal.mean_w.append(_ridge(p, torch.stack(tm), _PRIOR, lam))
        cal.var_w.append(_ridge(p, torch.stack(tv), _PRIOR, lam))
        say(f"  normalization [{i + 1}/{n_norms}] fitted")
    return cal


def core_psnr(stylizer, x: torch.Tensor, foveated: FoveatedStylizer) -> list[float]:
    """Window-core PSNR (dB) of ``foveated`` against ``stylizer`` at full resolution, per eye."""
    ref = stylizer.stylize(x).float()
    y = foveated.stylize(x).float()
    out = []
    for i, (wy, wx, fh, fw) in enumerate(foveated.last_windows):
        a, b, c, d = core_box(fh, fw, foveated.spec.feather)
        err = float(((y[i, :, wy + a:wy + c, wx + b:wx + d] - ref[i, :, wy + a:wy + c, wx + b:wx + d]) ** 2).mean())
        out.append(10 * math.log10(1.0 / max(err, 1e-12)))
    return out


def save_calibration(path: Path, cal: FoveaCalibration, card: str) -> Path:
    """Write ``cal`` to ``path`` (safetensors, atomically) and its card ``path.with_suffix('.md')``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "artem_vr", "arch": json.dumps(cal.arch(), sort_keys=True), "meta": json.dumps(cal.meta, sort_keys=True)}
    def write(p: Path) -> None:
        save_file(cal.tensors(), str(p), metadata=meta)
        os.chmod(p, 0o644)  # shipped beside the models: readable like them

    write_file_atomic(path, write, FoveaCalibration.load, (), "fovea calibration")
    write_text_atomic(path.with_suffix(".md"), card, (), "fovea calibration card")
    return path


def load_photo(path: Path, height: int) -> torch.Tensor:
    """A photo resized to ``height`` rows (area filter down, cubic up), ``(1, 3, H, W)`` RGB 0–1."""
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise UsageError(f"cannot read the photo {path}", "give a folder of JPEG/PNG photos")
    s = height / img.shape[0]
    img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    return to_tensor([cv2.cvtColor(img, cv2.COLOR_BGR2RGB)])


def _card(stylizer, path: Path, meta: dict) -> str:
    which = (f"the VGG19 encoder (ImageNet weights) up to `{stylizer.model.variant.layer}` of `--method adain` — shared by "
             "every AdaIN decoder and style" if stylizer.method == "adain" else
             f"the `{stylizer.method}` network of style `{stylizer.style}` (`{Path(meta['model']).name}`)")
    r = meta["report"]
    def cell(vals):
        return f"{min(vals):.1f} / {sum(vals) / len(vals):.1f}"

    rows = "\n".join(f"| {h} px | {len(v['calibrated'])} | {cell(v['shift'])} | {cell(v['mixed'])} | **{cell(v['calibrated'])}** |"
                     for h, v in r.items())
    return f"""# {path.stem} — fovea statistics calibration

For {which}. Read by `artem_vr.temporal.foveate.FoveatedStylizer` (`stats="calibrated"`, the default):
the full-resolution fovea window is normalized with statistics estimated from the reduced-scale
periphery pass ({meta['periphery']} × the eye); this file holds, per normalization (in the order the network runs them) and channel,
the coefficients of that estimate (`mean.i`, `var.i`: `(channels, 3)` float32 over the predictors
{", ".join(f"`{p}`" for p in PREDICTORS)}; see `FoveaCalibration`). Not weights: the network is unchanged.

## Fit

- Command: `python -m artem_vr.temporal.fovea_fit {meta['command']}`
- Photos (PHOTOS): {meta['train']} real photos of the assembled data set's `content/` (every other one, sorted by name), heights {meta['sizes']} px in turn;
  periphery scale {meta['periphery']}, window {meta['window']} of each side, margin {meta['margin']} px.
- Sequential least squares per channel (ridge {meta['ridge']} toward zero: the uncalibrated mix), target the
  ideal normalization of the fovea pass's window features (module docstring of `artem_vr.temporal.fovea_fit`).
- {meta['seconds']:.0f} s on {meta['machine']}, torch {meta['torch']}.

## Held out

Window-core PSNR (feather excluded) against the full-resolution stylization, min / mean in dB, on the
other photos of the folder (not fitted on), one eye each: the older window shift (½), the uncalibrated
mix (the outside as the periphery saw it), and this calibration:

| height | photos | window shift ½ | mixed, uncalibrated | calibrated |
| --- | --- | --- | --- | --- |
{rows}

A network without a calibration file is foveated with the uncalibrated mix, and the stylizer says so
(`FoveatedStylizer.stats_source`, one log warning per network).
"""


@torch.no_grad()  # the fit needs no gradients; the caller's grad mode comes back after
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m artem_vr.temporal.fovea_fit",
        description="Fit the fovea statistics calibration of one network on real photos: every other photo of --photos "
                    "(sorted by name) is fitted on, the rest held out for the report. Writes the calibration where the "
                    "foveated stylizer looks for it (or --out) with a model card.",
        epilog="Example: python -m artem_vr.temporal.fovea_fit --method generator --style starry_night --photos data/content",
    )
    ap.add_argument("--method", required=True, choices=("generator", "xnor", "adain"))
    ap.add_argument("--style", default=None, help="the style (generator/xnor: whose network; adain: any — the calibration is the encoder's)")
    ap.add_argument("--arch", default=None, help="generator/xnor architecture (default: as the stylizer picks)")
    ap.add_argument("--variant", default="auto", help="adain: the decoder variant, whose encoder layer is calibrated (fast, full)")
    ap.add_argument("--photos", required=True, type=Path, help="a folder of real photos (JPEG/PNG)")
    ap.add_argument("--train", type=int, default=100, help="at most this many photos to fit on (default 100)")
    ap.add_argument("--held-out", type=int, default=12, help="held-out photos to report on (default 12)")
    ap.add_argument("--sizes", default="256,384,512", help="photo heights in px, used in turn (default 256,384,512)")
    ap.add_argument("--ridge", type=float, default=RIDGE, help=f"pull toward the uncalibrated shift (default {RIDGE})")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: where the stylizer looks)")
    a = ap.parse_args(argv)
    files = sorted(p for p in a.photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(files) < 4:
        raise UsageError(f"{a.photos} holds {len(files)} photos", "give a folder of at least 4 real photos (100+ for a good fit)")
    sizes = [int(v) for v in a.sizes.split(",")]
    kw = {"engine": "eager"} if a.method in ("generator", "xnor") else {}
    if a.arch:
        kw["arch"] = a.arch
    if a.method == "adain":
        kw["variant"] = a.variant
    s = make_stylizer(a.method, a.style, **kw)
    out = a.out or calibration_path(s)
    train, held = files[0::2][:a.train], files[1::2][:a.held_out]
    t0 = time.time()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    cal = fit_calibration(s, [load_photo(p, sizes[k % len(sizes)]) for k, p in enumerate(train)], lam=a.ridge, say=say)
    seconds = time.time() - t0
    report = {}
    for h in sizes:
        row = report.setdefault(h, {"shift": [], "mixed": [], "calibrated": []})
        for p in held:
            x = load_photo(p, h)
            row["shift"] += core_psnr(s, x, FoveatedStylizer(s, stats="corrected"))
            row["mixed"] += core_psnr(s, x, FoveatedStylizer(s, stats="mixed"))
            row["calibrated"] += core_psnr(s, x, FoveatedStylizer(s, calibration=cal))
        say(f"  {h} px held out (min / mean dB): " + ", ".join(f"{k} {min(v):.1f} / {sum(v) / len(v):.1f}" for k, v in row.items()))
    spec = FoveaSpec()
    model = Path(getattr(s, "weights_path", None) or s.library.model(s.style, s.method, getattr(s, "arch", None)))
    cal.meta = {"model": model.name,  # the file's name only: no machine paths in shipped files
                "command": " ".join("PHOTOS" if v == str(a.photos) else ("OUT" if a.out and v == str(a.out) else v)
                                    for v in (sys.argv[1:] if argv is None else argv)),
                "train": len(train), "held_out": len(held), "sizes": sizes, "ridge": a.ridge, "periphery": spec.periphery,
                "window": spec.size, "margin": spec.margin, "seconds": seconds,
                "machine": f"{platform.machine()} CPU, 1 torch thread", "torch": torch.__version__,
                "report": {str(h): v for h, v in report.items()}}
    save_calibration(out, cal, _card(s, out, cal.meta))
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
