"""The model card of a trained generator (``NAME.md`` beside its weights): architecture, the data
with its licences per source package (from ``SOURCES.tsv``), the training sittings (each command
with the data root as ``DATA``), losses and the held-out check; and :func:`command_line`, the full
`artem-vr train generator` command a config stands for."""

from __future__ import annotations

import json
import platform
import shlex
from pathlib import Path

import torch

from artem_vr.style.data import load_rgb
from artem_vr.style.generator_net import TransformNet
from artem_vr.style.presets import PRESETS


def manifest(files: list[Path], sources_tsv: Path | None) -> list[tuple[str, int, str]]:
    """(package, image count, licence) per source package of ``files``, from SOURCES.tsv."""
    rows: dict[str, tuple[str, str]] = {}
    if sources_tsv and sources_tsv.is_file():
        lines = sources_tsv.read_text(encoding="utf-8").splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            r = dict(zip(head, line.split("\t")))
            rows[Path(r.get("file", "")).name] = (r.get("package", "?"), r.get("license", "?"))
    counts: dict[str, list] = {}
    for f in files:
        pkg, lic = rows.get(f.name, ("(not in SOURCES.tsv)", "?"))
        counts.setdefault(pkg, [0, lic])[0] += 1
    return sorted(((k, v[0], v[1]) for k, v in counts.items()), key=lambda r: -r[1])


def style_attribution(style_path: Path, style_name: str) -> str:
    for p in PRESETS:
        if p.name == style_name:
            return f"preset `{p.name}`: {p.label} (thumbnail `assets/styles/{p.name}.jpg`, source and licence in assets/styles/ATTRIBUTION.md)"
    return f"image file `{style_path.name}`"


def model_card(cfg, arch, style_name, style_path, files, train_files, held, ema, step, wall, dev, world, amp, evals,
          sittings=(), thumbnail: Path | None = None, thumbnail_hw: tuple[int, int] | None = None,
          stopped: str | None = None) -> str:
    """The card's markdown; ``stopped``: the line saying --time-limit ended the run early (None: it ran --iters)."""
    sources = cfg.content.parent / "SOURCES.tsv"
    man = manifest(train_files, sources if sources.is_file() else cfg.content / "SOURCES.tsv")
    dev_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    cmd = command_line(cfg)
    data_note = ""
    if sources.is_file():  # the assembled data set: name it, not this machine's path
        cmd = cmd.replace(str(cfg.content.parent.resolve()), "DATA").replace(str(cfg.content.parent), "DATA")
        data_note = " (DATA: the assembled data set, `../shared/data/assemble.sh`)"
    lines = [
        f"# Model card: `{cfg.out}`",
        "",
        f"Johnson-style transform network (method `generator`) trained for the style **{style_name}** — "
        f"{style_attribution(style_path, style_name)}.",
        "",
        *([f"**Status:** {stopped}; the run folder's checkpoint is this model: the same command with --resume "
           "trains on from it.", ""] if stopped else []),
        "## Architecture",
        f"- `{cfg.arch}`: {json.dumps(arch.to_dict())}",
        f"- {sum(p.numel() for p in TransformNet_params(arch))} parameters; weights stored as fp16 safetensors.",
        "- input/output: float (N, 3, H, W) RGB 0–1; reflection padding, instance norm, nearest upsample + conv, sigmoid.",
        "",
        "## Data",
        f"- content: {len(train_files)} training photos from `{cfg.content.name}/` (sorted; "
        + (f"every {cfg.holdout}th of each folder held out" if cfg.holdout else "none held out")
        + f": {len(held)} photos never seen in training)",
        "",
        "| source package | images | licence |",
        "|---|---|---|",
        *[f"| {pkg} | {n} | {lic} |" for pkg, n, lic in man],
        "",
        f"- held-out photos: {', '.join(f.name for f in held) or '(none)'}",
        f"- style image: `{style_path.name}` ({style_attribution(style_path, style_name)})",
        *([f"- thumbnail: `{thumbnail.name}` beside this card (the painting, {min(thumbnail_hw or _image_hw(thumbnail))} px shorter side)"]
          if thumbnail is not None else []),
        "",
        "## Training",
        f"- command{' (last sitting)' if len(sittings) > 1 else ''}: `{cmd}`{data_note}",
        f"- {step} iterations, batch {cfg.batch}, {cfg.size}px random crops, Adam lr {cfg.lr}",
        f"- loss{' (last sitting)' if len(sittings) > 1 else ''}: content {cfg.content_layer} ×{cfg.content_weight}, Gram style {' '.join(cfg.style_layers)} "
        f"×{cfg.style_weight}, TV ×{cfg.tv_weight}" + (f", temporal ×{cfg.temporal_weight} (noise {cfg.temporal_noise})" if cfg.temporal_weight else ""),
        f"- device: {dev_name}{f' ×{world} (DDP)' if world > 1 else ''}, AMP {'on' if amp else 'off'}; wall time {wall / 60:.1f} min"
        + (" (all sittings; resumed with --resume)" if cfg.resume else ""),
        f"- final losses (EMA, weighted): {', '.join(f'{k} {v:.4g}' for k, v in ema.items())}",
    ]
    if len(sittings) > 1:
        lines += ["", "Sittings (the run was resumed; each line is the command of that sitting):", ""]
        for st in sittings:
            c = st["command"]
            if sources.is_file():
                c = c.replace(str(cfg.content.parent.resolve()), "DATA").replace(str(cfg.content.parent), "DATA")
            style = f", style image {st['style']}" if st.get("style") else ""
            lines.append(f"- steps {st['from']}→{st['to']} on {st['device']}, {st['wall_s'] / 60:.1f} min{style}: `{c}`")
    if evals:
        lines += [
            "",
            "## Held-out check",
            f"Mean/std style loss (relu1_1…relu4_1) against the style image on the {evals['photos']} held-out photos "
            f"at {evals['size']} px: photo {evals['style_loss_photo']:.4g} → stylized {evals['style_loss_output']:.4g} "
            f"(**{change_text(evals['reduction'])}**). `artem-vr eval` gives the full table (docs/quality.md).",
        ]
    return "\n".join(lines) + "\n"


def _image_hw(path: Path) -> tuple[int, int]:
    return load_rgb(path).shape[:2]


def change_text(reduction: float) -> str:
    return f"{100 * reduction:.0f}% lower" if reduction >= 0 else f"{-100 * reduction:.0f}% higher"


def command_line(cfg) -> str:
    """The full `artem-vr train generator` command equivalent to ``cfg`` (every option spelled out)."""
    parts = ["artem-vr", "train", "generator"]
    skip = {"command", "trainer", "debug", "no_progress", "log_every", "resume", "out_dir", "run_dir", "force",
            "max_megapixels"}  # a decode limit: it changes what is refused, not what is trained
    for k, v in vars(cfg).items():
        if k in skip or k.startswith("_") or v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:
            parts.append(flag)
        elif isinstance(v, (list, tuple)):
            parts += [flag, *map(str, v)]
        else:
            parts += [flag, str(v)]
    return shlex.join(parts)


def TransformNet_params(arch):
    return TransformNet(arch).parameters()
