"""`artem-vr train adain`: train an AdaIN decoder on photos × paintings.

Losses (Huang & Belongie 2017): content = MSE(VGG(out)[layer], t) with ``t = AdaIN(f_c, s)``
at the encoder layer (relu4_1 "full", relu3_1 "fast"); style = Σ over relu1_1…relu4_1 of
MSE of channel means + MSE of channel stds between the output and the style crop. Adam,
random crops, inverse-time learning-rate decay, a tqdm bar with the losses, periodic sample
sheets and checkpoints (``runs/<out>/`` in the user data folder), ``--resume``, AMP on CUDA.

Style crops: with ``--style-crops K`` (default 8) each training painting's statistics are
computed once for K random crops (a "stat bank"); each step draws from the bank. That drops a
VGG pass per step, which matters on CPUs. ``--style-crops 0`` encodes fresh crops every step.

Split: with ``--holdout N`` (default 5) the N-th, 2N-th, … file of each sorted directory is
held out (never trained on) and used for the held-out evaluation recorded in the model card.

Output: ``<out>.safetensors`` (decoder, fp16) and ``<out>.md`` (model card) in the user's models
folder (then ``--adain-model <out>`` selects it) or ``--out-dir``; replacing a model needs ``--force``.

This module is the trainer (:func:`train` on a :class:`~artem_vr.style.train_adain_cli.TrainConfig`);
the command line is :mod:`artem_vr.style.train_adain_cli`, the card :mod:`~artem_vr.style.adain_card`, Adam's saved
state :mod:`~artem_vr.style.optim_state`.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from artem_vr.errors import Interrupted, UsageError
from artem_vr.paths import user_data_dir
from artem_vr.style.adain import (
    STYLE_LOSS_LAYERS,
    adain,
    content_loss,
    feature_stats,
    make_decoder,
    normalized_layer_weights,
    style_loss,
    variant,
)
from artem_vr.atomic import InputsRead, write_image_atomic
from artem_vr.style.adain_card import model_card
from artem_vr.style.data import center_crop, gather, load_images, random_crops
from artem_vr.style.device import pick_device
from artem_vr.style.optim_state import OPTIMIZER_FILE, check_resumable, load_optimizer, save_checkpoint
from artem_vr.style.train_adain_cli import TrainConfig
from artem_vr.style.train_config import LongRunNote, TimeLimit, say_resumable
from artem_vr.style.user_styles import claim_output, claim_run_dir, output_path, write_model
from artem_vr.style.vgg import VGGFeatures
from artem_vr.style.weights import load_safetensors, safetensors_writer
from artem_vr.text import say



# --------------------------------------------------------------------------- training


def device_description(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(dev)}"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} cores visible"


class StatBank:
    """Per-layer statistics of K random crops of every training painting (computed once)."""

    def __init__(self, images, size, crops, loss_net, device, g):
        self.mean: dict[str, list] = {k: [] for k in STYLE_LOSS_LAYERS}
        self.std: dict[str, list] = {k: [] for k in STYLE_LOSS_LAYERS}
        with torch.no_grad():
            for i in range(len(images)):
                x = random_crops(images, [i] * crops, size, g).to(device)
                st = feature_stats(loss_net(x), STYLE_LOSS_LAYERS)
                for k, (m, s) in st.items():
                    self.mean[k].append(m)
                    self.std[k].append(s)
        self.mean = {k: torch.cat(v) for k, v in self.mean.items()}
        self.std = {k: torch.cat(v) for k, v in self.std.items()}
        self.n = len(images) * crops

    def sample(self, n: int, g: torch.Generator) -> dict:
        idx = torch.randint(0, self.n, (n,), generator=g).to(next(iter(self.mean.values())).device)
        return {k: (self.mean[k][idx], self.std[k][idx]) for k in STYLE_LOSS_LAYERS}


def sample_sheet(content: torch.Tensor, out: torch.Tensor) -> np.ndarray:
    """Rows: content crops over their stylized outputs → uint8 (H, W, 3)."""
    top = torch.cat(list(content.clamp(0, 1)), dim=-1)
    bot = torch.cat(list(out.detach().float().clamp(0, 1)), dim=-1)
    return (torch.cat([top, bot], dim=-2).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def heldout_eval(decoder, v, encoder, loss_net, contents, styles, n_pairs, size, device) -> dict:
    """Mean content/style losses on held-out content × held-out style pairs (centre crops)."""
    if not contents or not styles:
        return {}
    decoder.eval()
    c_l, s_l, s_in = [], [], []
    for k in range(n_pairs):
        c = center_crop(contents[k % len(contents)], size).to(device)
        s = center_crop(styles[(k * 7 + k // len(contents)) % len(styles)], size).to(device)
        f_c = encoder(c)[v.layer]
        target = feature_stats(loss_net(s), STYLE_LOSS_LAYERS)
        t = adain(f_c, target[v.layer])
        out = decoder(t).clamp(0, 1)
        fo = loss_net(out)
        c_l.append(float(content_loss(fo[v.layer], t)))
        s_l.append(float(style_loss(fo, target)))
        s_in.append(float(style_loss(loss_net(c), target)))
    decoder.train()
    red = [1 - a / b for a, b in zip(s_l, s_in) if b > 0]
    return {
        "pairs": n_pairs,
        "content_loss": float(np.mean(c_l)),
        "style_loss": float(np.mean(s_l)),
        "style_loss_input": float(np.mean(s_in)),
        "style_reduction": float(np.mean(red)) if red else float("nan"),
    }


@dataclass
class TrainResult:
    weights: Path
    card: Path
    iterations: int
    history: list[dict]
    heldout: dict
    wall_s: float
    interrupted: bool


def is_flat(out: torch.Tensor, tol: float = 1 / 255) -> bool:
    """True when every image of a (N, 3, H, W) batch is a single flat colour (per-channel spatial
    std below ``tol``): the mark of a decoder whose ReLUs died."""
    return bool(out.detach().float().flatten(2).std(dim=2).max() < tol)


def train(cfg: TrainConfig) -> TrainResult:
    """Train, write the decoder and its card, and say what was written."""
    with ExitStack() as claims:  # the output name (and run folder), released when the run ends
        res = _train(cfg, claims)
    h = res.heldout
    say(f"{'stopped early at' if res.interrupted else 'finished'} iteration {res.iterations} in {res.wall_s / 60:.1f} min")
    if h:
        say(f"held-out: style loss {h['style_loss']:.4g} vs input {h['style_loss_input']:.4g} → reduction {100 * h['style_reduction']:.1f}%")
    say(f"wrote {res.weights} and {res.card}")
    return res


def _train(cfg: TrainConfig, claims: ExitStack) -> TrainResult:
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    v = variant(cfg.variant)
    out_path = output_path(cfg.out, cfg.out_dir, cfg.force, cfg.resume)  # before any training: refuses to overwrite
    run_dir = Path(cfg.run_dir or user_data_dir() / "runs" / cfg.out)
    for lock in (claim_output(out_path), claim_run_dir(run_dir)):  # a second run of this name stops here
        claims.callback(lock.release)
    dev = pick_device(cfg.device)
    use_amp = bool(cfg.amp and dev.type == "cuda")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    load_size = cfg.load_size or round(cfg.size * 1.5)

    c_train, c_held = gather(cfg.content, cfg.holdout)
    s_train, s_held = gather(cfg.styles, cfg.holdout)
    if not c_train or not s_train:
        raise UsageError("nothing left to train on after the hold-out split", "add images or lower --holdout")
    t0 = time.time()
    contents = load_images(c_train, load_size, cfg.max_megapixels)
    styles_img = load_images(s_train, load_size, cfg.max_megapixels)
    held_c = load_images(c_held, cfg.size, cfg.max_megapixels)
    held_s = load_images(s_held, cfg.size, cfg.max_megapixels)

    loss_net = VGGFeatures(STYLE_LOSS_LAYERS).to(dev)
    encoder = VGGFeatures((v.layer,)).to(dev)
    decoder = make_decoder(v).to(dev)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    warned_flat = False
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.safetensors"
    opt_ckpt = ckpt.with_name(OPTIMIZER_FILE)
    claims.push(lambda _t, e, _tb: say_resumable(e, ckpt, cfg.checkpoint_every))
    start, history, prev_wall = 0, [], 0.0
    if cfg.resume:
        check_resumable(ckpt)
        load_safetensors(ckpt, decoder, expect_arch=v.arch, device=dev)
        decoder.requires_grad_(True)
        decoder.train()
        meta = load_optimizer(opt_ckpt, opt)
        start = int(meta.get("iteration", 0))
        history = list(meta.get("history", []))
        prev_wall = float(meta.get("wall_s", 0.0))
        g.manual_seed(cfg.seed + start)
    decoder.train()

    lw = normalized_layer_weights()
    bank = StatBank(styles_img, cfg.size, cfg.style_crops, loss_net, dev, g) if cfg.style_crops > 0 else None

    signals: list[int] = []

    def _stop(signum, _frame):  # the first signal: finish the step, keep a checkpoint, end; a second: end now
        signals.append(signum)
        if len(signals) > 1:
            raise Interrupted(signals[0])

    old = {s: signal.signal(s, _stop) for s in END_SIGNALS} if _main_thread() else {}
    ema: dict[str, float] = {}
    it = start
    limit = TimeLimit(cfg.time_limit)
    bar = tqdm(range(start, cfg.iters), initial=start, total=cfg.iters, desc=f"adain-{v.name}", mininterval=1 if sys.stderr.isatty() else 30, file=sys.stderr, disable=cfg.no_progress)
    note = LongRunNote(start, cfg.iters, f"a smaller --size (now {cfg.size})", write=tqdm.write, time_limit=cfg.time_limit)

    def checkpoint():
        meta = {"iteration": it, "history": history[-2000:], "wall_s": prev_wall + time.time() - t0}
        save_checkpoint(ckpt, decoder, v.arch, meta, opt, meta)  # both files or neither

    try:
        for it in bar:
            for pg in opt.param_groups:
                pg["lr"] = cfg.lr / (1.0 + cfg.lr_decay * it)
            ci = torch.randint(0, len(contents), (cfg.batch,), generator=g).tolist()
            c = random_crops(contents, ci, cfg.size, g).to(dev)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                with torch.no_grad():
                    f_c = encoder(c)[v.layer]
                    if bank is not None:
                        target = bank.sample(cfg.batch, g)
                    else:
                        si = torch.randint(0, len(styles_img), (cfg.batch,), generator=g).tolist()
                        target = feature_stats(loss_net(random_crops(styles_img, si, cfg.size, g).to(dev)), STYLE_LOSS_LAYERS)
                    t = adain(f_c, target[v.layer])
                out = decoder(t)
                fo = loss_net(out)
                lc = content_loss(fo[v.layer], t) * lw[v.layer]
                ls = style_loss(fo, target, STYLE_LOSS_LAYERS, lw)
                loss = cfg.content_weight * lc + cfg.style_weight * ls
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            vals = {"content": lc.item(), "style": ls.item(), "total": loss.item()}
            if not all(math.isfinite(x) for x in vals.values()):
                raise FloatingPointError(f"loss became {vals} at iteration {it}; lower --lr")
            for k, x in vals.items():
                ema[k] = x if k not in ema else 0.9 * ema[k] + 0.1 * x
            history.append({"it": it + 1, **{k: round(x, 5) for k, x in vals.items()}})
            note.step()
            bar.set_postfix(c=f"{ema['content']:.3g}", s=f"{ema['style']:.3g}", refresh=False)
            n = it + 1
            if cfg.log_every and n % cfg.log_every == 0:
                tqdm.write(
                    f"it {n}/{cfg.iters} content {ema['content']:.4g} style {ema['style']:.4g} total {ema['total']:.4g} "
                    f"lr {opt.param_groups[0]['lr']:.2e} elapsed {time.time() - t0:.0f}s",
                    file=sys.stderr,
                )
            if cfg.log_every and n % cfg.log_every == 0 and not warned_flat and n >= 50 and is_flat(out):
                warned_flat = True  # dead ReLUs: it does not come back (seen with --lr 1e-3 on the full variant)
                tqdm.write(f"warning: at iteration {n} every output is one flat colour (std < 1/255): the decoder has "
                           f"collapsed and will not recover; stop and restart with a lower --lr (now {cfg.lr:g}; "
                           f"default {TrainConfig.lr:g})", file=sys.stderr)
            if cfg.sample_every and n % cfg.sample_every == 0:
                write_image_atomic(run_dir / f"sample_{n:06d}.jpg", sample_sheet(c[:4].cpu(), out[:4].cpu()), what="sample")
            if cfg.checkpoint_every and n % cfg.checkpoint_every == 0:
                it = n
                checkpoint()
            if signals:
                it = n
                break
            if limit.reached() and n < cfg.iters:
                it = n
                tqdm.write(limit.stopped(n, cfg.iters), file=sys.stderr)
                break
        else:
            it = cfg.iters
    finally:
        bar.close()
        for s, h in old.items():
            signal.signal(s, h)
    if signals:  # asked to end: the finished steps are kept for --resume; no model from a run cut short
        checkpoint()
        raise Interrupted(signals[0])
    interrupted = it < cfg.iters  # --time-limit: the model is written, its card says it stopped early
    if it > start and not (cfg.sample_every and it % cfg.sample_every == 0):  # the last step's sample (not written yet)
        write_image_atomic(run_dir / f"sample_{it:06d}.jpg", sample_sheet(c[:4].cpu(), out[:4].cpu()), what="sample")
    wall = prev_wall + time.time() - t0
    held = heldout_eval(decoder, v, encoder, loss_net, held_c, held_s, cfg.eval_pairs, cfg.size, dev)

    final = {k: round(x, 5) for k, x in ema.items()}
    meta = {
        "iterations": it,
        "variant": v.name,
        "final_losses_ema": final,
        "heldout": held,
        "wall_s": round(wall, 1),
        "device": device_description(dev),
        "content_images": len(c_train),
        "style_images": len(s_train),
        "interrupted": interrupted,
    }
    inputs = InputsRead([*c_train, *c_held, *s_train, *s_held])  # no output replaces a training image
    weights, card, _ = write_model(out_path, safetensors_writer(decoder, v.arch, meta, fp16=True),
                                   lambda _w, _t, _hw: model_card(cfg, v, decoder, meta, c_train, c_held, s_train, s_held, load_size),
                                   inputs=inputs)
    checkpoint()  # after the model: a write failing at the end leaves the last checkpoint short of --iters (--resume finishes)
    return TrainResult(weights, card, it, history, held, wall, interrupted)


#: the signals that end a run (as the CLI's): the step in progress finishes and is kept first
END_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
