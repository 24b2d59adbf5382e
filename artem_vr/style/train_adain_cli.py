"""`artem-vr train adain`: the command line of :mod:`artem_vr.style.train_adain`, parsed once into
its frozen, checked :class:`~artem_vr.style.train_adain.TrainConfig` (no Namespace goes further)."""

from __future__ import annotations

import argparse
import shlex
import sys

from artem_vr.limits import check_max_megapixels
from artem_vr.style.train_adain import TrainConfig, train
from artem_vr.text import say


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig(content=[], styles=[])
    p.epilog = (
        "examples:\n"
        "  artem-vr train adain --content DATA/content --styles DATA/style --out my_decoder   # then:\n"
        "  artem-vr run --method adain --adain-model my_decoder --style painting.jpg\n"
        "  artem-vr train adain --content photos --styles paintings --size 128 --iters 500 --time-limit 30   # CPU, a short try"
    )
    p.add_argument("--content", nargs="+", required=True, metavar="DIR", help="directories of photos")
    p.add_argument("--styles", nargs="+", required=True, metavar="DIR", help="directories of paintings")
    p.add_argument("--variant", choices=["fast", "full"], default="fast", help="fast: relu3_1 encoder + small decoder; full: relu4_1 (paper) (default %(default)s)")
    p.add_argument("--size", type=int, default=d.size, help="crop side in px (default %(default)s)")
    p.add_argument("--load-size", type=int, default=None, help="shorter side images are resized to before cropping (default 1.5×size)")
    p.add_argument("--batch", type=int, default=d.batch, help="photo × painting pairs per step (default %(default)s)")
    p.add_argument("--iters", type=int, default=d.iters, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="inverse-time decay: lr / (1 + decay × step) (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=d.style_weight, help="weight of the style (mean/std) loss (default %(default)s)")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="weight of the content loss (default %(default)s)")
    p.add_argument("--holdout", type=int, default=d.holdout, help="hold out every N-th file of each directory (default %(default)s; 0: none)")
    p.add_argument("--style-crops", type=int, default=d.style_crops, help="precomputed style crops per painting (default %(default)s; 0: fresh crops each step)")
    p.add_argument("--resume", action="store_true", help="continue from runs/<out>/checkpoint.safetensors")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--out", default=None, metavar="NAME",
                   help="decoder name (default my_adain_<variant>); use it with --adain-model NAME")
    p.add_argument("--out-dir", default=None, help="where the .safetensors and .md go (default: your styles folder, see `artem-vr doctor`)")
    p.add_argument("--force", action="store_true", help="replace an existing model NAME, or take a shipped model's name")
    p.add_argument("--run-dir", default=None, help="checkpoints and samples (default: runs/<out> in the user data folder)")
    p.add_argument("--sample-every", type=int, default=d.sample_every, help="write sample images to the run folder every N steps (default %(default)s; 0: never)")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every, help="save a checkpoint (for --resume) every N steps (default %(default)s)")
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps per loss line (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed for the crops and the initial weights (default %(default)s)")
    p.add_argument("--eval-pairs", type=int, default=d.eval_pairs, help="held-out photo × painting pairs scored at the end (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="stop (and save) after this many minutes (default: no limit)")
    p.add_argument("--manifest", nargs="*", default=[], help="SOURCES.tsv files (default: next to the data directories)")


def config_from_args(args) -> TrainConfig:
    """The command line's values; the Namespace goes no further than this."""
    return TrainConfig(
        content=args.content, styles=args.styles, variant=args.variant, size=args.size, load_size=args.load_size,
        batch=args.batch, iters=args.iters, lr=args.lr, lr_decay=args.lr_decay, style_weight=args.style_weight,
        content_weight=args.content_weight, holdout=args.holdout, style_crops=args.style_crops, resume=args.resume,
        device=args.device, amp=args.amp, out=args.out or f"my_adain_{args.variant}", out_dir=args.out_dir, force=args.force,
        run_dir=args.run_dir, sample_every=args.sample_every, ckpt_every=args.ckpt_every, log_every=args.log_every,
        seed=args.seed, eval_pairs=args.eval_pairs, threads=args.threads, time_limit=args.time_limit, manifest=args.manifest,
        max_megapixels=check_max_megapixels(args.max_megapixels),
        command="artem-vr " + shlex.join(sys.argv[1:]),
    )


def run(args) -> int:
    res = train(config_from_args(args))
    h = res.heldout
    say(f"{'stopped early at' if res.interrupted else 'finished'} iteration {res.iterations} in {res.wall_s / 60:.1f} min")
    if h:
        say(f"held-out: style loss {h['style_loss']:.4g} vs input {h['style_loss_input']:.4g} → reduction {100 * h['style_reduction']:.1f}%")
    say(f"wrote {res.weights} and {res.card}")
    return 0
