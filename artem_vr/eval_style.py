"""The style-quality half of `artem-vr eval`: for every content × style pair, the VGG19 content loss
(relu4_1, MSE against the photo) and style loss (Σ over relu1_1…relu4_1 of MSE of channel
means + MSE of channel stds against the painting) of

* each method's output (``--method generator adain …``; a method without a model for that
  style is reported as "n/a"),
* the unstylized photo (the reference: style-loss *reduction* = 1 − loss(output)/loss(photo)),
* optionally a Gatys-style optimization from the photo (``--gatys N`` steps of Adam on pixels),

then per method the mean reduction (:func:`evaluate`, the report) and the table on stdout
(:func:`format_table`). Everything is deterministic for a fixed ``--seed`` (the seed picks the
``--limit`` subset; nothing else is random). The command is :mod:`artem_vr.evaluate`, the
contact sheet :mod:`artem_vr.eval_sheet`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from artem_vr.errors import ArtemError, UsageError
from artem_vr.frames import to_tensor
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.sources.imageio import read_image
from artem_vr.style import presets as P
from artem_vr.style.adain_maths import content_loss, feature_stats, resize_shorter, style_loss
from artem_vr.style.catalog import is_model_file, read_model, style_file_method, style_image
from artem_vr.style.data import split_holdout
from artem_vr.style.methods import make_stylizer
from artem_vr.style.vgg import VGGFeatures
from artem_vr.text import did_you_mean, say

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CONTENT_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
GATYS_STYLE_WEIGHT = 10.0


# --------------------------------------------------------------------------- losses (pure)


def content_loss_of(out_feats: dict, content_feats: dict) -> torch.Tensor:
    """MSE at relu4_1 between two feature dicts (0 for identical images)."""
    return content_loss(out_feats[CONTENT_LAYER], content_feats[CONTENT_LAYER])


def style_loss_of(out_feats: dict, style_stats: dict) -> torch.Tensor:
    """Σ over relu1_1…relu4_1 of MSE(mean) + MSE(std) (0 for identical statistics)."""
    return style_loss(out_feats, style_stats, STYLE_LAYERS)


def reduction(loss: float, reference: float) -> float:
    """Relative style-loss reduction against the unstylized input: 1 − loss / reference."""
    return float("nan") if reference <= 0 else 1.0 - loss / reference


# --------------------------------------------------------------------------- inputs


@dataclass
class StyleSpec:
    label: str  # what the table shows
    path: Path  # the painting (the loss target)
    preset: str | None = None  # the preset it is, if any (per-preset models apply)

    def arg_for(self, method: str) -> str:
        """What ``set_style`` gets: adain takes the painting itself (the exact loss target);
        per-style models (generator, xnor) need the preset name."""
        if method.split(":")[0] == "adain" or self.preset is None:
            return str(self.path)
        return self.preset


def list_images(items: list[str]) -> list[Path]:
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"{it}: no such file or directory", "give image files or directories of images")
    return out


def held_out(files: list[Path], every: int) -> list[Path]:
    """The files the trainers hold out with ``--holdout every`` (:func:`~artem_vr.style.data.split_holdout`:
    every N-th of each folder, sorted); ``every <= 1``: all of them."""
    if every <= 1:
        return files
    keep = set(split_holdout(sorted(files), every)[1])
    return [f for f in files if f in keep]


def resolve_styles(items: list[str]) -> list[StyleSpec]:
    """Preset names, image files and directories → style specs (a file that is a preset's
    source painting or thumbnail is given its preset name, so per-preset models apply)."""
    by_source = {}
    for pr in P.list_presets():
        by_source[pr.source] = pr.name
        by_source[pr.image.name] = pr.name
    specs: list[StyleSpec] = []
    for it in items:
        p = Path(it)
        if not p.exists() and any(pr.name == it for pr in P.list_presets()):
            pr = P.preset(it)
            specs.append(StyleSpec(pr.name, pr.image, pr.name))  # the thumbnail is the painting here
            continue
        user = _user_style(it)
        if user is not None:
            specs.append(user)
            continue
        if not p.exists():
            names = [pr.name for pr in P.list_presets()]
            raise UsageError(f"--styles {it}: neither a preset nor an existing file/directory{did_you_mean(it, names)}",
                             f"presets: {', '.join(names)}")
        for f in list_images([it]):
            name = by_source.get(f.name)
            specs.append(StyleSpec(name or f.stem, f, name))
    return specs


def _user_style(item: str) -> StyleSpec | None:
    """A user style name or a generator/xnor model file → its spec (the painting: its thumbnail, or
    what its card names); None when ``item`` is neither."""
    if is_model_file(item):
        style_file_method(item)  # missing, unreadable or not a style model → an error here
        image = read_model(Path(item)).image
        if image is None:
            raise UsageError(f"--styles {item}: no painting found beside the model",
                             "put its thumbnail NAME.jpg beside it (artem-vr train writes one)")
        return StyleSpec(Path(item).stem, image, item)
    image = None if Path(item).exists() else style_image(item)
    return StyleSpec(item, image, item) if image is not None else None


def square(img: torch.Tensor, size: int) -> torch.Tensor:
    """(1, 3, H, W) → (1, 3, size, size): shorter side to ``size``, centre crop."""
    x = resize_shorter(img, size)
    h, w = x.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0 : y0 + size, x0 : x0 + size].contiguous()


# --------------------------------------------------------------------------- methods


VARIANT_KW = {"adain": "variant", "generator": "arch"}  # --method NAME:VARIANT → stylizer keyword


class MethodRunner:
    """One stylizer per method, built lazily; anything missing becomes "n/a" with a reason."""

    def __init__(self, method: str, device: torch.device, style_size: int, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        self.method, self.device, self.style_size = method, device, style_size
        self.max_megapixels = max_megapixels  # AdaIN reads the paintings itself: under the command's limit
        self.stylizer = None
        self.error: str | None = None

    def run(self, style: StyleSpec, x: torch.Tensor) -> tuple[torch.Tensor | None, str | None]:
        arg = style.arg_for(self.method)
        if self.stylizer is None:
            if self.error is not None:
                return None, self.error
            # "adain:fast" / "adain:full": that decoder; "generator:compact" / "generator:full": that network
            base, _, variant = self.method.partition(":")
            kw = {VARIANT_KW[base]: variant} if variant and base in VARIANT_KW else {}
            first = None
            if base == "adain":  # it starts on this painting (read under the limit already), not its default one
                kw["max_megapixels"], first = self.max_megapixels, arg
            try:  # with its default style (AdaIN: this painting): failing here means no style can work
                if variant and base not in VARIANT_KW:
                    raise UsageError(f"--method {self.method}: only adain and generator have variants",
                                     "e.g. adain:fast adain:full generator:compact generator:full")
                self.stylizer = make_stylizer(base, first, device=str(self.device), **kw)
            except (ArtemError, ImportError, FileNotFoundError) as e:
                self.error = f"{type(e).__name__}: {e}"
                return None, self.error
            if hasattr(self.stylizer, "style_size"):
                self.stylizer.style_size = self.style_size
            self._current = None
        try:
            if self._current != arg:
                self._current = None
                self.stylizer.set_style(arg)
                self._current = arg
            self.stylizer.strength = 1.0
            return self.stylizer.stylize(x.to(self.device)).float().cpu(), None
        except (ArtemError, ImportError, FileNotFoundError) as e:
            return None, f"{type(e).__name__}: {e}"


def gatys(x: torch.Tensor, content_feats: dict, style_stats: dict, vgg, steps: int, lr: float = 0.02) -> torch.Tensor:
    """Optimize the pixels of ``x`` (start: the photo) for content + 10 × style loss (Adam)."""
    img = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=lr)
    target_c = {CONTENT_LAYER: content_feats[CONTENT_LAYER].detach()}
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        f = vgg(img)
        loss = content_loss_of(f, target_c) + GATYS_STYLE_WEIGHT * style_loss_of(f, style_stats)
        loss.backward()
        opt.step()
        with torch.no_grad():
            img.clamp_(0, 1)
    return img.detach()


# --------------------------------------------------------------------------- evaluation


def evaluate(
    content: list[str],
    styles: list[str],
    methods: list[str],
    size: int = 256,
    limit: int | None = None,
    seed: int = 0,
    gatys_steps: int = 0,
    holdout: int = 0,
    style_holdout: int = 0,
    device: str = "cpu",
    progress: bool = True,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[dict, dict]:
    """Score every content × style pair. Returns (report dict for JSON, images for the sheet).
    ``max_megapixels``: the decode limit of the photos and paintings (the command's ``--max-megapixels``)."""
    torch.manual_seed(seed)
    files = held_out(list_images(content), holdout)
    if not files:
        raise UsageError("no content images", "give photos or directories with --content")
    if limit and len(files) > limit:
        files = sorted(random.Random(seed).sample(files, limit))
    specs = resolve_styles(styles)
    if style_holdout > 1:
        keep = set(held_out([sp.path for sp in specs], style_holdout))
        specs = [sp for sp in specs if sp.path in keep]
    if not specs:
        raise UsageError("no styles", "give preset names, paintings or directories with --styles")
    dev = torch.device(device)
    vgg = VGGFeatures(STYLE_LAYERS).to(dev)
    runners = {m: MethodRunner(m, dev, size, max_megapixels) for m in methods}

    contents = [(f.stem, square(to_tensor(read_image(f, max_megapixels=max_megapixels)), size)) for f in files]
    style_imgs = []
    for s in specs:
        img = to_tensor(read_image(s.path, max_megapixels=max_megapixels))
        style_imgs.append(resize_shorter(img, size))

    with torch.no_grad():
        c_feats = [vgg(c.to(dev)) for _, c in contents]
        s_stats = [feature_stats(vgg(s.to(dev)), STYLE_LAYERS) for s in style_imgs]

    pairs, images = [], {}
    total = len(contents) * len(specs)
    k = 0
    for si, spec in enumerate(specs):
        for ci, (cname, c) in enumerate(contents):
            k += 1
            if progress:
                say(f"  [{k}/{total}] {cname} × {spec.label}", flush=True)
            with torch.no_grad():
                ref = float(style_loss_of(c_feats[ci], s_stats[si]))
            row = {"content": cname, "style": spec.label, "input_style_loss": ref, "methods": {}}
            outs = {}
            for m, r in runners.items():
                y, err = r.run(spec, c)
                if y is None:
                    row["methods"][m] = {"status": "n/a", "reason": err}
                    outs[m] = None
                    continue
                with torch.no_grad():
                    fy = vgg(y.to(dev))
                    cl, sl = float(content_loss_of(fy, c_feats[ci])), float(style_loss_of(fy, s_stats[si]))
                row["methods"][m] = {"status": "ok", "content_loss": cl, "style_loss": sl, "reduction": reduction(sl, ref)}
                outs[m] = y
            if gatys_steps > 0:
                with torch.enable_grad():
                    y = gatys(c.to(dev), c_feats[ci], s_stats[si], vgg, gatys_steps).cpu()
                with torch.no_grad():
                    fy = vgg(y.to(dev))
                    cl, sl = float(content_loss_of(fy, c_feats[ci])), float(style_loss_of(fy, s_stats[si]))
                row["methods"][f"gatys{gatys_steps}"] = {"status": "ok", "content_loss": cl, "style_loss": sl, "reduction": reduction(sl, ref)}
                outs[f"gatys{gatys_steps}"] = y
            pairs.append(row)
            images[(ci, si)] = outs

    columns = list(methods) + ([f"gatys{gatys_steps}"] if gatys_steps > 0 else [])
    summary = {}
    for m in columns:
        ok = [p["methods"][m] for p in pairs if p["methods"][m]["status"] == "ok"]
        summary[m] = {
            "pairs_ok": len(ok),
            "pairs_na": len(pairs) - len(ok),
            "mean_reduction": float(np.mean([o["reduction"] for o in ok])) if ok else None,
            "min_reduction": float(np.min([o["reduction"] for o in ok])) if ok else None,
            "mean_content_loss": float(np.mean([o["content_loss"] for o in ok])) if ok else None,
            "mean_style_loss": float(np.mean([o["style_loss"] for o in ok])) if ok else None,
        }
        # per style, for the table
        per_style = {}
        for spec in specs:
            r = [p["methods"][m]["reduction"] for p in pairs if p["style"] == spec.label and p["methods"][m]["status"] == "ok"]
            per_style[spec.label] = float(np.mean(r)) if r else None
        summary[m]["per_style_reduction"] = per_style
    report = {
        "size": size,
        "seed": seed,
        "holdout": holdout,
        "style_holdout": style_holdout,
        "contents": [n for n, _ in contents],
        "styles": [{"label": s.label, "file": s.path.name} for s in specs],
        "methods": columns,
        "losses": {"content": f"MSE at {CONTENT_LAYER}", "style": f"sum over {', '.join(STYLE_LAYERS)} of MSE(mean) + MSE(std)"},
        "mean_input_style_loss": float(np.mean([p["input_style_loss"] for p in pairs])),
        "summary": summary,
        "pairs": pairs,
    }
    sheet_images = {"contents": contents, "styles": style_imgs, "labels": [s.label for s in specs], "outputs": images, "columns": columns}
    return report, sheet_images


# --------------------------------------------------------------------------- output


def format_table(report: dict) -> str:
    cols = report["methods"]
    styles = [s["label"] for s in report["styles"]]
    w0 = max([len("style")] + [len(s) for s in styles] + [len("mean")])
    head = f"{'style':<{w0}}  " + "  ".join(f"{c:>12}" for c in cols)
    lines = ["style-loss reduction vs. the unstylized photo (higher is better)", head, "-" * len(head)]

    def cell(v):
        return f"{'n/a':>12}" if v is None else f"{100 * v:>11.1f}%"

    for s in styles:
        lines.append(f"{s:<{w0}}  " + "  ".join(cell(report["summary"][c]["per_style_reduction"][s]) for c in cols))
    lines.append("-" * len(head))
    lines.append(f"{'mean':<{w0}}  " + "  ".join(cell(report["summary"][c]["mean_reduction"]) for c in cols))
    lines.append(
        f"{'content loss':<{w0}}  "
        + "  ".join(f"{'n/a':>12}" if report["summary"][c]["mean_content_loss"] is None else f"{report['summary'][c]['mean_content_loss']:>12.4g}" for c in cols)
    )
    for c in cols:
        reasons = sorted({p["methods"][c].get("reason") or "" for p in report["pairs"] if p["methods"][c]["status"] == "n/a"})
        if reasons:
            lines.append(f"{c} n/a ({report['summary'][c]['pairs_na']} pairs): {reasons[0]}" + (f" (+{len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""))
    lines.append(f"({len(report['contents'])} photos × {len(styles)} styles at {report['size']} px; mean style loss of the photos: {report['mean_input_style_loss']:.4g})")
    return "\n".join(lines)

