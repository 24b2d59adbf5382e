"""`artem-vr train xnor`: distil a trained float generator into a binarized (XNOR) one.

The student is the teacher with its residual-block convolutions binarized
(:func:`artem_vr.style.xnor.binarize_generator`, initialised from the teacher's weights); the
thresholds start at each channel's median activation on a calibration batch (balanced bits).
Loss: L1 to the teacher's output (+ optionally MSE of VGG relu2_1 features, ``--perceptual-
weight``), straight-through estimator through the signs, Adam. The result is frozen (packed
sign bits, α, thresholds) and written with a model card (and the teacher's thumbnail, for a user
style) to the user's models folder as ``NAME.safetensors`` (the user style NAME, method ``xnor``),
or to ``--out-dir``; replacing a model needs ``--force``. A checkpoint (the student's float weights
with Adam's state, :func:`~artem_vr.style.optim_state.save_checkpoint`; the learning rate is the
cosine's at its step) goes to ``--run-dir`` (default ``runs/NAME`` in the user data folder) every
``--checkpoint-every`` steps and at the end, also where ``--time-limit`` stopped the run:
``--resume`` trains on from it, with the same ``--from``.

This module is the trainer (:func:`train` on an :class:`~artem_vr.style.train_xnor_cli.XnorTrainConfig`);
the command line is :mod:`artem_vr.style.train_xnor_cli`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import platform
import shlex
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import torch
import torch.nn.functional as F

from artem_vr.errors import UsageError
from artem_vr.atomic import InputsRead
from artem_vr.paths import user_data_dir
from artem_vr.style.catalog import find_model, painting_label, read_model, style_files, style_names
from artem_vr.style.data import RandomCrops, crop_loader, eval_photos, list_images, split_holdout
from artem_vr.style.device import pick_device
from artem_vr.style.generator_net import generator_from_arch
from artem_vr.style.optim_state import OPTIMIZER_FILE, check_resumable, load_optimizer, save_checkpoint
from artem_vr.style.train_config import LongRunNote, TimeLimit, say_resumable
from artem_vr.style.train_xnor_cli import XnorTrainConfig
from artem_vr.style.user_styles import claim_output, claim_run_dir, output_path, write_model
from artem_vr.style.vgg import VGGFeatures
from artem_vr.style.weights import load_safetensors, read_header, safetensors_writer
from artem_vr.style.xnor import _residual_convs, binarize_generator, binary_layers, freeze, model_size, xnor_arch
from artem_vr.text import say


def load_teacher(spec: str, arch: str | None, device):
    """(float TransformNet, path, style name or None) from a preset or user style name or a file."""
    path = find_model(spec, "generator", arch)
    if path is None:
        raise UsageError(f"--from {spec}: no trained generator{f' ({arch})' if arch else ''} of that name",
                         f"choose one of: {', '.join(style_names('generator', arch)) or '(none)'}, a generator "
                         ".safetensors file, or train one first: artem-vr train generator ...")
    style = read_model(path).meta.get("style") if str(spec).lower().endswith(".safetensors") else spec
    return load_safetensors(path, generator_from_arch, device=device), path, style


@torch.no_grad()
def calibrate_thresholds(teacher, student, x: torch.Tensor) -> None:
    """Set each binary layer's threshold to the per-channel median of its input in the teacher."""
    from torch import nn

    convs = [c for _p, _n, c in _residual_convs(teacher)]
    layers = binary_layers(student)
    assert len(convs) == len(layers)
    seen: list[torch.Tensor] = []
    hooks = [c.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach())) for c in convs if isinstance(c, nn.Conv2d)]
    try:
        teacher(x)
    finally:
        for h in hooks:
            h.remove()
    for layer, a in zip(layers, seen):
        layer.thresh.copy_(a.transpose(0, 1).flatten(1).median(dim=1).values)


def evaluate(teacher, student, photos: list[torch.Tensor], device) -> dict | None:
    """Mean L1 and PSNR (dB) of the student's output against the teacher's on held-out photos
    (``(1, 3, H, W)`` 0–1, as :func:`~artem_vr.style.data.eval_photos` reads them; None
    without any: nothing to measure)."""
    if not photos:
        return None
    l1s, psnrs = [], []
    with torch.no_grad():
        for x in photos:
            x = x.to(device)
            a, b = teacher(x), student(x)
            l1s.append(float((a - b).abs().mean()))
            mse = float(((a - b) ** 2).mean())
            psnrs.append(10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item())
    n = len(photos)
    return {"holdout_images": len(photos), "l1_to_float": sum(l1s) / n, "psnr_to_float_db": sum(psnrs) / n}


def train(cfg: XnorTrainConfig) -> None:
    with ExitStack() as claims:  # the output name (and run folder), released when the run ends
        _train(cfg, claims)


def cosine_lr(lr: float, step: int, iters: int) -> float:
    """The learning rate of the step after ``step`` steps: ``lr`` cosine-annealed to 0 over ``iters``
    (as torch's CosineAnnealingLR, in closed form: a resumed run is at the same point of it)."""
    return lr * (1 + math.cos(math.pi * min(step, iters) / iters)) / 2


def file_digest(path: Path) -> str:
    """The first 16 hex digits of the file's sha256: which teacher a checkpoint was distilled from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def checkpoint_header(ckpt: Path) -> dict:
    """``--resume``: the metadata of the run folder's checkpoint (step, teacher), or one line saying
    there is none to resume (before anything is loaded)."""
    check_resumable(ckpt)
    meta = read_header(ckpt)[1]
    if "teacher_sha256" not in meta or not isinstance(meta.get("step"), int):
        raise UsageError(f"--resume: {ckpt} is not a `train xnor` checkpoint",
                         "point --run-dir at the xnor run's folder, or start without --resume")
    return meta


def check_same_teacher(meta: dict, ckpt: Path, spec: str, teacher_path: Path, digest: str) -> None:
    """A resumed run distils from the teacher its checkpoint started from (as generator and adain
    refuse a checkpoint of another --arch / --variant): one line otherwise."""
    if meta["teacher_sha256"] == digest:
        return
    was = meta.get("teacher", "?")
    said = f"another {was} (the file has changed since)" if was == teacher_path.name else was
    raise UsageError(f"--resume: the checkpoint in {ckpt.parent} was distilled from {said}, not from --from {spec}",
                     "resume with the --from it started with, or start afresh without --resume")


def _train(cfg: XnorTrainConfig, claims: ExitStack) -> None:
    from tqdm import tqdm

    t0 = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    dev = pick_device(cfg.device)
    target = output_path(cfg.out, cfg.out_dir, cfg.force, cfg.resume)  # before any training: refuses to overwrite
    run_dir = cfg.run_dir or user_data_dir() / "runs" / cfg.out
    for lock in (claim_output(target), claim_run_dir(run_dir)):  # a second run of this name (or folder) stops here
        claims.callback(lock.release)
    ckpt = run_dir / "checkpoint.safetensors"
    claims.push(lambda _t, e, _tb: say_resumable(e, ckpt, cfg.checkpoint_every))
    resumed = checkpoint_header(ckpt) if cfg.resume else None

    teacher, teacher_path, style = load_teacher(cfg.teacher, cfg.arch, dev)
    base_arch, teacher_meta = read_header(teacher_path)
    digest = file_digest(teacher_path)
    start = 0
    if resumed is not None:
        check_same_teacher(resumed, ckpt, cfg.teacher, teacher_path, digest)
        start = resumed["step"]
        if start >= cfg.iters:
            say(f"already at step {start} >= --iters {cfg.iters}: nothing to do (raise --iters to train on)", flush=True)
            return
    files = list_images(cfg.content)
    if not files:
        raise UsageError(f"no images under {cfg.content}", "point --content at a folder of photos")
    train_files, held = split_holdout(files, cfg.holdout)
    if start:  # a resumed run draws other crops than its first sitting did (as train generator's): seeded by the step
        torch.manual_seed(cfg.seed + start)
    data = RandomCrops(train_files, cfg.size, seed=cfg.seed + start, max_megapixels=cfg.max_megapixels)
    held_x = eval_photos(held[:20], max_megapixels=cfg.max_megapixels)  # read now: refused before training, if at all
    batches = iter(crop_loader(data, cfg.batch, cfg.workers, pin_memory=dev.type == "cuda"))

    def batch():
        return next(batches).to(dev, non_blocking=True)

    arch = xnor_arch(base_arch)
    student = binarize_generator(teacher).to(dev)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    history = []  # a loss record (the mean) every --log-every steps (--log-every 0: one, at the end)
    run_l1 = run_p = 0.0
    summed = 0  # the steps in run_l1 and run_p (since the last record)
    prior_wall = 0.0  # the earlier sittings' (--resume)
    if resumed is None:
        student.requires_grad_(True)
        student.train()
        calibrate_thresholds(teacher, student, batch())
    else:
        load_safetensors(ckpt, student, expect_arch=arch, device=dev)
        student.requires_grad_(True)
        student.train()
        saved = load_optimizer(run_dir / OPTIMIZER_FILE, opt)
        history, prior_wall = list(saved["history"]), float(saved["wall_s"])
        run_l1, run_p, summed = saved["pending"]
        was = saved["schedule"]  # the cosine's --iters and --lr: another --iters anneals on over the new one
        changed = [f"{o} {v:g} (was {w:g})" for o, v, w in (("--iters", cfg.iters, was["iters"]), ("--lr", cfg.lr, was["lr"])) if v != w]
        say(f"resumed {ckpt} at step {start}" + (f"; the learning rate is cosine-annealed from there with {', '.join(changed)}"
                                                  if changed else ""), flush=True)
    vgg = None
    if cfg.perceptual_weight > 0:
        vgg = VGGFeatures(("relu2_1",)).to(dev)
    record_every = cfg.log_every or cfg.iters
    bar = tqdm(total=cfg.iters, initial=start, desc=cfg.out, disable=cfg.no_progress, dynamic_ncols=True)
    note = LongRunNote(start, cfg.iters, f"a smaller --size (now {cfg.size})", write=tqdm.write, time_limit=cfg.time_limit)
    claims.callback(bar.close)  # first: the bar's line ends before the CLI's "interrupted" line
    limit = TimeLimit(cfg.time_limit)
    stopped = None  # --time-limit reached before --iters: the line that says so

    def checkpoint(step: int) -> None:  # the student as it is after ``step`` steps, Adam's state and the loss records
        save_checkpoint(ckpt, student, arch, {"step": step, "teacher": teacher_path.name, "teacher_sha256": digest}, opt,
                        {"step": step, "schedule": {"lr": cfg.lr, "iters": cfg.iters}, "history": history[-2000:],
                         "pending": [run_l1, run_p, summed], "wall_s": prior_wall + time.time() - t0})

    for it in range(start + 1, cfg.iters + 1):
        x = batch()
        with torch.no_grad():
            y_t = teacher(x)
        y_s = student(x)
        l1 = F.l1_loss(y_s, y_t)
        loss = l1
        perc = torch.zeros(())
        if vgg is not None:
            perc = F.mse_loss(vgg(y_s, ("relu2_1",))["relu2_1"], vgg(y_t, ("relu2_1",))["relu2_1"])
            loss = loss + cfg.perceptual_weight * perc
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = cosine_lr(cfg.lr, it - 1, cfg.iters)
        opt.step()
        run_l1 += float(l1.detach())
        run_p += float(perc.detach())
        summed += 1
        note.step()
        bar.update(1)
        bar.set_postfix({"l1": f"{float(l1.detach()):.4f}", **({"perceptual": f"{float(perc.detach()):.4g}"} if vgg is not None else {})})
        if limit.reached() and it < cfg.iters:  # the end's writing follows: the model as it is now, its card, the checkpoint
            stopped = limit.stopped(it, cfg.iters)
        if it % record_every == 0 or it == cfg.iters or stopped:
            rec = {"iter": it, "l1": run_l1 / summed, "perceptual": run_p / summed, "s": round(prior_wall + time.time() - t0, 1)}
            history.append(rec)
            if cfg.log_every and it % cfg.log_every == 0:
                tqdm.write(f"step {it}/{cfg.iters} l1={rec['l1']:.4g}" + (f" perceptual={rec['perceptual']:.4g}" if vgg is not None
                                                                             else "") + f" s={rec['s']}", file=sys.stderr)
            run_l1 = run_p = 0.0
            summed = 0
        if stopped:
            tqdm.write(stopped, file=sys.stderr)
            break
        if cfg.checkpoint_every and it % cfg.checkpoint_every == 0 and it < cfg.iters:
            checkpoint(it)
    bar.close()

    student.eval()
    model = freeze(copy.deepcopy(student))  # the packed model; the float student stays for the checkpoint below
    model.requires_grad_(False)
    evals = evaluate(teacher, model, held_x, dev)
    size = model_size(model)
    wall = prior_wall + time.time() - t0
    teacher_model = read_model(teacher_path)
    painting = teacher_model.painting if teacher_model.painting != "?" else (painting_label(style, teacher_path) if style else None)
    meta = {"style": style, "painting": painting, "teacher": teacher_path.name, "iters": it, "final": history[-1],
            "eval": evals, "size": size, "command": command_line(cfg)}
    inputs = InputsRead([teacher_path, *style_files(str(cfg.teacher)), *files])  # no output replaces what the run reads
    out, _, _ = write_model(  # a user style's painting travels with it (the thumbnail)
        target, safetensors_writer(model, arch, meta),
        lambda w, _t, _hw: model_card(cfg, base_arch, teacher_path, style, files, train_files, held, history, evals, size,
                                      wall, dev, teacher_meta, w.stat().st_size, stopped, start),
        painting=teacher_model.image, inputs=inputs)
    # at the end, or where --time-limit stopped it (--resume trains on from here); after the model, so
    # that a write failing at the end leaves the last checkpoint short of --iters (--resume finishes)
    checkpoint(it)
    quality = (f"held-out L1 to float {evals['l1_to_float']:.4f}, PSNR {evals['psnr_to_float_db']:.1f} dB"
               if evals else "no held-out photos (nothing measured; --holdout N keeps every N-th photo out)")
    say(f"wrote {out} ({out.stat().st_size} bytes) and {target.with_suffix('.md').name}; {quality}; "
          f"size ratio {size['ratio']:.1f}x", flush=True)


def command_line(cfg) -> str:
    """The command that reproduces this run (from the parsed arguments)."""
    parts = ["artem-vr", "train", "xnor", "--from", str(cfg.teacher)]
    if cfg.arch:
        parts += ["--arch", cfg.arch]
    # the photos folder as DATA/<name>: a card names no machine path (DATA: the assembled data set)
    parts += ["--content", f"DATA/{Path(cfg.content).name}", "--out", cfg.out, "--iters", str(cfg.iters), "--size", str(cfg.size),
              "--batch", str(cfg.batch), "--lr", str(cfg.lr), "--holdout", str(cfg.holdout), "--seed", str(cfg.seed)]
    if cfg.perceptual_weight:
        parts += ["--perceptual-weight", str(cfg.perceptual_weight)]
    if cfg.time_limit is not None:
        parts += ["--time-limit", f"{cfg.time_limit:g}"]
    if cfg.workers:  # each worker draws its own crops
        parts += ["--workers", str(cfg.workers)]
    if cfg.out_dir is not None:
        parts += ["--out-dir", str(cfg.out_dir)]
    return " ".join(shlex.quote(p) for p in parts)


def model_card(cfg, base_arch, teacher_path, style, files, train_files, held, history, evals, size, wall, dev,
               teacher_meta: dict | None = None, file_bytes: int | None = None, stopped: str | None = None,
               resumed_at: int = 0) -> str:
    """The card's markdown; ``stopped``: the line saying --time-limit ended the run early (None: it ran --iters);
    ``resumed_at``: the step this sitting went on from (--resume; 0: it started afresh)."""
    last = history[-1]
    iterations = last["iter"]
    averaged = iterations - (history[-2]["iter"] if len(history) > 1 else 0)  # the steps in the last loss record
    status = (f"**Status:** {stopped}; this is the student as it was then (its learning rate not annealed to the end); "
              "the run folder's checkpoint is this student: the same command with --resume trains on from it.\n\n"
              if stopped else "")
    resumed = f" (resumed at step {resumed_at} with --resume)" if resumed_at else ""
    cmd = command_line(cfg)
    return f"""# {cfg.out}: binarized (XNOR-Net) generator{f' for {style}' if style else ''}

**Method** `xnor` — the float generator `{teacher_path.name}` with every residual-block convolution
replaced by an XNOR convolution: `y = (sign(x − t) ⊛ sign(W)) · α[o] · K + b` (α = mean |W| per
output channel, K = XNOR-Net's box-filtered mean |x − t|, t a learned per-channel threshold);
first/last and down/up-sampling layers stay float. Inference: NVRTC XNOR+popcount kernels on
CUDA, the exact ±1 `F.conv2d` reference on the CPU (artem_vr/style/xnor.py).

{status}| | |
|---|---|
| teacher | `{teacher_path.name}` ({(teacher_meta or {}).get('iters', '?')} training iterations when distilled), {teacher_path.stat().st_size:,} bytes on disk |
| base architecture | `{json.dumps(base_arch, sort_keys=True)}` |
| binarized layers | residual-block 3×3 convolutions |
| file | {file_bytes or 0:,} bytes on disk (packed sign bits as int32; other tensors fp16) |
| size (deployable) | {size['xnor_bytes']:,} bytes vs {size['fp32_bytes']:,} bytes fp32: **{size['ratio']:.1f}×** smaller; binarized weights {size['binarized_weights_ratio']:.0f}× (1 bit vs 32; tail words padded) |
| training data | {len(train_files)} photos from the assembled data set's `{cfg.content.name}/` ({len(files)} found, {f"every {cfg.holdout}th of each folder held out" if cfg.holdout else "none held out"}: {len(held)}); random {cfg.size}px crops, flips |
| objective | distillation: L1 to the float generator's output{f' + {cfg.perceptual_weight} × VGG relu2_1 MSE' if cfg.perceptual_weight else ''}; straight-through estimator (hard-tanh for activations, identity for weights) |
| optimiser | Adam, lr {cfg.lr} cosine-annealed, batch {cfg.batch}, {iterations} iterations{f" of the {cfg.iters} it was annealed over" if iterations < cfg.iters else ""}{resumed}, seed {cfg.seed} |
| final losses | L1 {last['l1']:.4f}{f", perceptual {last['perceptual']:.4f}" if cfg.perceptual_weight else ''} (mean of the last {averaged} iterations) |
| held-out quality vs the float generator | {f"mean L1 {evals['l1_to_float']:.4f}, PSNR {evals['psnr_to_float_db']:.1f} dB on {evals['holdout_images']} photos at 256 px long side" if evals else "no held-out photos (not measured)"} |
| trained on | {dev} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)), {wall / 60:.1f} min{" (all sittings)" if resumed_at else ""}, torch {torch.__version__} |

Command (DATA: the assembled data set, `../shared/data/assemble.sh`):

```
{cmd}
```
"""
