"""`artem-vr train adain`: its command line (:func:`add_arguments`), parsed once into its frozen,
checked :class:`TrainConfig` (no Namespace goes further). No torch here: `--help` and a refused
number stay fast; the trainer, :mod:`artem_vr.style.train_adain`, is imported to train."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field

from artem_vr.errors import InvalidNumber, UsageError, check_at_least, shown
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.style.adain_variants import VARIANTS, variant
from artem_vr.style.train_config import field_defaults

#: the module whose ``train(config)`` runs this command (imported only then: torch)
TRAINER = "artem_vr.style.train_adain"


@dataclass(frozen=True)
class TrainConfig:
    """`artem-vr train adain`, parsed once (:func:`config_from_args`) and checked here, before any data is read."""

    content: list[str]
    styles: list[str]
    variant: str = "fast"
    size: int = 256  # crop side
    load_size: int | None = None  # shorter side after loading (default 1.5 × size)
    batch: int = 8
    iters: int = 5000
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    holdout: int = 5
    style_crops: int = 8
    resume: bool = False
    device: str = "auto"
    amp: bool = False
    out: str = "my_adain_fast"
    out_dir: str | None = None  # None: the user's models folder
    force: bool = False  # replace an existing model (or take a shipped model's name)
    run_dir: str | None = None
    sample_every: int = 500
    ckpt_every: int = 250
    log_every: int = 50
    seed: int = 0
    threads: int | None = None
    time_limit: float | None = None  # minutes
    eval_pairs: int = 16
    command: str = ""
    manifest: list[str] = field(default_factory=list)
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS  # the decode limit of the photos and paintings (--max-megapixels)

    def __post_init__(self):
        check_max_megapixels(self.max_megapixels)  # first, as run does
        for option, value in (("--lr", self.lr), ("--lr-decay", self.lr_decay), ("--style-weight", self.style_weight),
                              ("--content-weight", self.content_weight), ("--time-limit", self.time_limit)):
            if value is not None and not math.isfinite(value):
                raise InvalidNumber(f"{option} {value} is not a finite number", "give an ordinary number, e.g. 0.5")
        check_at_least(("--iters", self.iters, 1, 1000), ("--batch", self.batch, 1, 4), ("--threads", self.threads, 1, 2))
        if not self.lr > 0:
            raise UsageError(f"--lr {shown(self.lr)} must be above 0", "e.g. --lr 0.0001")
        v = variant(self.variant)
        if self.size % v.downsample:
            raise UsageError(f"--size {self.size} must be a multiple of {v.downsample} for the {v.name} variant",
                             f"e.g. --size {max(v.downsample, self.size // v.downsample * v.downsample)}")


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = field_defaults(TrainConfig)
    p.epilog = (
        "examples:\n"
        "  artem-vr train adain --content DATA/content --styles DATA/style --out my_decoder   # then:\n"
        "  artem-vr run --method adain --adain-model my_decoder --style painting.jpg\n"
        "  artem-vr train adain --content photos --styles paintings --size 128 --iters 500 --time-limit 30   # CPU, a short try"
    )
    p.add_argument("--content", nargs="+", required=True, metavar="DIR", help="directories of photos")
    p.add_argument("--styles", nargs="+", required=True, metavar="DIR", help="directories of paintings")
    p.add_argument("--variant", choices=sorted(VARIANTS), default=d.variant, help="fast: relu3_1 encoder + small decoder; full: relu4_1 (paper) (default %(default)s)")
    p.add_argument("--size", type=int, default=d.size, help="crop side in px (default %(default)s)")
    p.add_argument("--load-size", type=int, default=d.load_size, help="shorter side images are resized to before cropping (default 1.5×size)")
    p.add_argument("--batch", type=int, default=d.batch, help="photo × painting pairs per step (default %(default)s)")
    p.add_argument("--iters", type=int, default=d.iters, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="inverse-time decay: lr / (1 + decay × step) (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=d.style_weight, help="weight of the style (mean/std) loss (default %(default)s)")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="weight of the content loss (default %(default)s)")
    p.add_argument("--holdout", type=int, default=d.holdout, help="hold out every N-th file of each directory (default %(default)s; 0: none)")
    p.add_argument("--style-crops", type=int, default=d.style_crops, help="precomputed style crops per painting (default %(default)s; 0: fresh crops each step)")
    p.add_argument("--resume", action="store_true", help="continue from runs/<out>/checkpoint.safetensors")
    p.add_argument("--device", default=d.device, help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")
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
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default: torch's)")
    p.add_argument("--time-limit", type=float, default=d.time_limit, metavar="MIN", help="stop (and save) after this many minutes (default: no limit)")
    p.add_argument("--manifest", nargs="*", default=[], help="SOURCES.tsv files (default: next to the data directories)")
