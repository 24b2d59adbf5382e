"""`artem-vr train generator`: train a Johnson transform net for one style image.

Perceptual loss (Johnson et al. 2016): content = MSE of VGG features at ``--content-layer``
between output and photo; style = Σ MSE of Gram matrices over ``--style-layers`` against the
style image (computed once); plus total variation, and optionally a cheap temporal term
(output change under small input noise). Adam, random crops, AMP on CUDA, DDP under
``torchrun`` (WORLD_SIZE > 1). Checkpoints (safetensors) and samples go to ``--run-dir`` (default
``runs/NAME`` in the user data folder); the final fp16 weights, a model card and a thumbnail of the
painting go to the user's models folder (:mod:`artem_vr.style.catalog`: the style is then called
NAME everywhere), or to ``--out-dir``. Replacing a model needs ``--force``.

This module is the trainer (:func:`train` on a :class:`~artem_vr.style.train_generator_cli.GeneratorTrainConfig`); the command line is
:mod:`artem_vr.style.train_generator_cli`, the model card :mod:`~artem_vr.style.generator_card`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import torch

from artem_vr.errors import UsageError
from artem_vr.frames import to_rgb8
from artem_vr.paths import user_data_dir
from artem_vr.atomic import InputsRead, write_image_atomic, write_text_atomic
from artem_vr.style.catalog import painting_label, resolve_style
from artem_vr.style.user_styles import claim_output, claim_run_dir, output_path, write_model
from artem_vr.style.data import RandomCrops, crop_loader, eval_photos, list_images, load_rgb, resize_long, rgb8_to_chw, split_holdout
from artem_vr.style.device import pick_device
from artem_vr.style.generator_card import change_text, command_line, model_card
from artem_vr.style.generator_arch import arch_by_name
from artem_vr.style.generator_net import TransformNet
from artem_vr.style.losses import content_loss, gram, gram_style_loss, mean_std_style_loss, tv_loss
from artem_vr.style.optim_state import OPTIMIZER_FILE, check_resumable, load_optimizer, save_checkpoint
from artem_vr.style.train_config import LongRunNote, TimeLimit, say_resumable
from artem_vr.style.train_generator_cli import GeneratorTrainConfig
from artem_vr.style.vgg import VGGFeatures, check_layers
from artem_vr.style.weights import load_safetensors, safetensors_writer
from artem_vr.text import say

EVAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # the eval's mean/std style loss


# ---------------------------------------------------------------------------------- helpers


def _dist_info() -> tuple[int, int, int]:
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    return ws, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))



@torch.no_grad()
def heldout_style_reduction(net, vgg, photos: list[torch.Tensor], style_img: torch.Tensor, size: int = 256, device="cpu") -> dict:
    """Mean/std style loss (relu1_1…relu4_1) vs the style image, of the photo and of G(photo),
    on held-out photos (``(1, 3, H, W)`` 0–1, at ``size`` px long side, as :func:`~artem_vr.style.data.eval_photos`
    reads them). Returns the means and the reduction."""
    s_feats = vgg(style_img.to(device), EVAL_LAYERS)
    before, after = [], []
    for x in photos:
        x = x.to(device)
        y = net(x).float()
        before.append(float(mean_std_style_loss(vgg(x, EVAL_LAYERS), s_feats, EVAL_LAYERS)))
        after.append(float(mean_std_style_loss(vgg(y, EVAL_LAYERS), s_feats, EVAL_LAYERS)))
    b, a = sum(before) / len(before), sum(after) / len(after)
    return {"photos": len(photos), "size": size, "style_loss_photo": b, "style_loss_output": a, "reduction": 1 - a / b}


def _save_sample(path: Path, net, x: torch.Tensor) -> None:
    was = net.training
    net.eval()
    with torch.no_grad():
        y = net(x).float()
    net.train(was)
    img = torch.cat([x.float().cpu(), y.cpu()], dim=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(path, to_rgb8(img), what="sample", quality=90)


# ------------------------------------------------------------------------------------- main


def train(cfg: GeneratorTrainConfig) -> None:
    with ExitStack() as claims:  # the output name (and run folder), released when the run ends
        _train(cfg, claims)


def _train(cfg: GeneratorTrainConfig, claims: ExitStack) -> None:
    import torch.distributed as dist
    from torch.utils.data.distributed import DistributedSampler

    t_start = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world, rank, local_rank = _dist_info()
    if world > 1:
        dev = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    else:
        dev = pick_device(cfg.device)
    main_proc = rank == 0
    amp = dev.type == "cuda" if cfg.amp is None else bool(cfg.amp and dev.type == "cuda")
    random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)

    style_layers = check_layers(cfg.style_layers)
    arch = arch_by_name(cfg.arch)
    style_name, style_path = resolve_style(cfg.style)
    target = output_path(cfg.out, cfg.out_dir, cfg.force, cfg.resume)  # before any training: refuses to overwrite
    run_dir = cfg.run_dir or user_data_dir() / "runs" / cfg.out
    if main_proc:  # before anything is written: a second run of this name stops here
        for lock in (claim_output(target), claim_run_dir(run_dir)):
            claims.callback(lock.release)
    files = list_images(cfg.content)
    train_files, held = split_holdout(files, cfg.holdout)
    # no output replaces what the run reads: the painting and the photos (a user style retrained
    # under its own name keeps its thumbnail, which is the painting: see write_model)
    inputs = InputsRead([style_path, *files])
    run_dir.mkdir(parents=True, exist_ok=True)

    # 1. loss network and the style targets (computed once)
    vgg = VGGFeatures(tuple(dict.fromkeys([*style_layers, cfg.content_layer, *EVAL_LAYERS]))).to(dev)
    style_rgb = load_rgb(style_path, max_megapixels=cfg.max_megapixels)
    if cfg.style_size:
        style_rgb = resize_long(style_rgb, cfg.style_size)
    style_img = rgb8_to_chw(style_rgb)[None].to(dev)
    # which style image this sitting trained against (a resume may meet a regenerated thumbnail)
    style_note = f"{style_rgb.shape[1]}×{style_rgb.shape[0]} px, sha256 {hashlib.sha256(style_rgb.tobytes()).hexdigest()[:12]}"
    with torch.no_grad():
        target_grams = {k: gram(v) for k, v in vgg(style_img, style_layers).items()}

    # 2. generator, optimizer, resume
    net = TransformNet(arch).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    step, prior_wall = 0, 0.0
    sittings: list[dict] = []  # one entry per run of this command on this run dir (resumes)
    ckpt = run_dir / "checkpoint.safetensors"
    if cfg.resume:
        check_resumable(ckpt)
        load_safetensors(ckpt, net, expect_arch=arch.to_dict(), device=dev)
        net.requires_grad_(True)
        prior = load_optimizer(ckpt.with_name(OPTIMIZER_FILE), opt)
        step = int(prior["step"])
        prior_wall = float(prior.get("wall_s", 0.0))
        sittings = list(prior.get("sittings", []))
        if main_proc:
            say(f"resumed {ckpt} at step {step}", flush=True)
        if step >= cfg.iters:
            if main_proc:
                say(f"already at step {step} >= --iters {cfg.iters}: nothing to do (raise --iters to train on)", flush=True)
            if world > 1:
                dist.destroy_process_group()
            return
    net.train()
    model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None) if world > 1 else net
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    # 3. data
    ds = RandomCrops(train_files, cfg.size, seed=cfg.seed + 1000 * rank + step, max_megapixels=cfg.max_megapixels)
    sampler = DistributedSampler(ds, seed=cfg.seed) if world > 1 else None
    loader = crop_loader(ds, cfg.batch, cfg.workers, sampler, pin_memory=dev.type == "cuda")

    def batches():
        epoch = 0
        while True:
            if world > 1:
                sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    sample_src = held[0] if held else train_files[0]
    sample_x = rgb8_to_chw(resize_long(load_rgb(sample_src, max_megapixels=cfg.max_megapixels), 256))[None].to(dev)
    held_x = eval_photos(held, max_megapixels=cfg.max_megapixels) if main_proc else []

    # 4. loop
    from tqdm import tqdm

    bar = tqdm(total=cfg.iters, initial=step, disable=not main_proc or cfg.no_progress, dynamic_ncols=True, desc=cfg.out)
    claims.push(lambda _t, e, _tb: say_resumable(e, ckpt, cfg.checkpoint_every))
    claims.callback(bar.close)  # first: the bar's line ends before the CLI's "interrupted" line
    ema: dict[str, float] = {}
    first: dict[str, float] = {}
    history: list[tuple[int, float, float]] = []  # (step, total, weighted style) per step of this sitting
    it = batches()
    t_loop, steps_run = time.time(), 0
    limit = TimeLimit(cfg.time_limit)
    note = LongRunNote(step, cfg.iters, f"a smaller --size (now {cfg.size})", write=tqdm.write,
                       time_limit=cfg.time_limit) if main_proc else None
    start_step = step
    stopped = None  # --time-limit reached before --iters: the line that says so

    def sitting_log() -> list[dict]:
        if step == start_step:
            return sittings
        return sittings + [{"from": start_step, "to": step, "command": command_line(cfg), "device": str(dev),
                            "wall_s": round(time.time() - t_start, 1), "style": style_note}]
    while step < cfg.iters:
        x = next(it).to(dev, non_blocking=True)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=amp):
            y = model(x)
            fy = vgg(y)
            with torch.no_grad():
                fx = vgg(x, [cfg.content_layer])
            lc = content_loss(fy[cfg.content_layer], fx[cfg.content_layer])
            ls = gram_style_loss(fy, target_grams, style_layers)
            ltv = tv_loss(y.float())
            loss = cfg.content_weight * lc + cfg.style_weight * ls + cfg.tv_weight * ltv
            terms = {"content": lc, "style": ls, "tv": ltv}
            if cfg.temporal_weight > 0:
                y2 = model((x + cfg.temporal_noise * torch.randn_like(x)).clamp(0, 1))
                lt = torch.nn.functional.mse_loss(y.float(), y2.float())
                loss = loss + cfg.temporal_weight * lt
                terms["temporal"] = lt
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        step += 1
        steps_run += 1
        vals = {"loss": float(loss.detach()), **{k: float(v.detach()) * w for k, v, w in
                [("content", lc, cfg.content_weight), ("style", ls, cfg.style_weight), ("tv", ltv, cfg.tv_weight)]}}
        if "temporal" in terms:
            vals["temporal"] = float(terms["temporal"]) * cfg.temporal_weight
        if not all(math.isfinite(v) for v in vals.values()):
            raise UsageError(f"training diverged at step {step}: {vals}", "lower --lr or --style-weight")
        if not first:
            first = dict(vals)
        history.append((step, round(vals["loss"], 6), round(vals["style"], 6)))
        for k, v in vals.items():
            ema[k] = v if k not in ema else 0.95 * ema[k] + 0.05 * v
        if main_proc:
            note.step()
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in ema.items()})
            if cfg.log_every and step % cfg.log_every == 0:
                el = time.time() - t_loop
                tqdm.write(f"step {step}/{cfg.iters} " + " ".join(f"{k}={v:.4g}" for k, v in ema.items())
                           + f" s/iter={el / steps_run:.2f}", file=sys.stderr)
            if cfg.sample_every and step % cfg.sample_every == 0:
                _save_sample(run_dir / "samples" / f"step{step:06d}.jpg", net, sample_x)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.iters:
                save_checkpoint(ckpt, net, arch.to_dict(), {"step": step}, opt,
                                {"step": step, "out": cfg.out, "wall_s": prior_wall + time.time() - t_start, "sittings": sitting_log()})
        up = limit.reached()
        if world > 1 and cfg.time_limit:  # every rank stops after the same step: when any rank's clock says so
            flag = torch.tensor([float(up)], device=dev)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            up = bool(flag.item())
        if up and step < cfg.iters:  # the end's writing follows: model, card, checkpoint (--resume goes on)
            stopped = limit.stopped(step, cfg.iters)
            if main_proc:
                tqdm.write(stopped, file=sys.stderr)
            break
    bar.close()

    # 5. held-out check, the model and its card, then the checkpoint (rank 0): the model first, so
    #    that a write failing at the end (a full disk) leaves the last checkpoint short of --iters —
    #    --resume then trains the rest and writes the model, never "nothing to do" without one
    if main_proc:
        net.eval()
        wall = prior_wall + time.time() - t_start
        _save_sample(run_dir / "samples" / f"step{step:06d}.jpg", net, sample_x)
        evals = heldout_style_reduction(net, vgg, held_x, style_img, device=dev) if held else None
        meta = {"style": style_name, "painting": painting_label(style_name, style_path), "iters": step,
                "arch_name": cfg.arch, "size": cfg.size, "batch": cfg.batch,
                "final_losses": {k: round(v, 6) for k, v in ema.items()}}
        out_w, _, _ = write_model(
            target, safetensors_writer(net, arch.to_dict(), meta, fp16=True),
            lambda _w, thumb, hw: model_card(cfg, arch, style_name, style_path, files, train_files, held, ema, step, wall, dev,
                                        world, amp, evals, sitting_log(), thumb, hw, stopped=stopped),
            painting=style_path, inputs=inputs)
        save_checkpoint(ckpt, net, arch.to_dict(), {"step": step}, opt,
                        {"step": step, "out": cfg.out, "wall_s": wall, "sittings": sitting_log()})
        write_text_atomic(run_dir / "result.json", json.dumps({"weights": str(out_w), "iters": step, "wall_s": wall,
                                                          "first_losses": first, "final_losses": ema, "heldout": evals,
                                                          "history": history}), what="run result")
        say(f"wrote {out_w} and {out_w.with_suffix('.md')} ({step} iterations, {wall / 60:.1f} min)", flush=True)
        if evals:
            say(f"held-out style loss (mean/std relu1_1..relu4_1): photo {evals['style_loss_photo']:.4g} → "
                  f"output {evals['style_loss_output']:.4g} ({change_text(evals['reduction'])})", flush=True)
    if world > 1:  # every rank leaves together: one torn down while rank 0 still wrote aborted (gloo)
        dist.barrier()
        dist.destroy_process_group()
