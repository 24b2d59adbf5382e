"""`artem-vr train adain`: its command line (:func:`add_arguments`), parsed once into its frozen,
checked :class:`TrainConfig` (no Namespace goes further). No torch here: `--help` and a refused
number stay fast; the trainer, :mod:`artem_vr.style.train_adain`, is imported to train."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from artem_vr.errors import InvalidNumber, UsageError, check_at_least, shown
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.style.adain_variants import VARIANTS, variant
from artem_vr.style.train_config import add_shared_arguments, check_holdout, check_time_limit, field_defaults

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
    out_dir: Path | None = None  # None: the user's models folder
    force: bool = False  # replace an existing model (or take a shipped model's name)
    run_dir: Path | None = None
    sample_every: int = 500
    checkpoint_every: int = 250
    log_every: int = 50
    no_progress: bool = False
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
                              ("--content-weight", self.content_weight)):
            if value is not None and not math.isfinite(value):
                raise InvalidNumber(f"{option} {value} is not a finite number", "give an ordinary number, e.g. 0.5")
        check_at_least(("--iters", self.iters, 1, 1000), ("--batch", self.batch, 1, 4), ("--threads", self.threads, 1, 2),
                       ("--sample-every", self.sample_every, 0, 500), ("--checkpoint-every", self.checkpoint_every, 0, 250),
                       ("--log-every", self.log_every, 0, 50))
        check_holdout(self.holdout)
        check_time_limit(self.time_limit)
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
        run_dir=args.run_dir, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
        log_every=args.log_every, no_progress=args.no_progress,
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
    p.add_argument("--content", nargs="+", required=True, metavar="DIR", help="folders of training photos (the images directly in each)")
    p.add_argument("--styles", nargs="+", required=True, metavar="DIR", help="folders of training paintings (the images directly in each)")
    p.add_argument("--out", default=None, metavar="NAME",
                   help="the decoder's name: writes NAME.safetensors and NAME.md to your styles folder (see `artem-vr "
                        "doctor`), or to --out-dir; `run --adain-model NAME` uses it (default my_adain_<variant>)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default=d.variant, help="fast: relu3_1 encoder + small decoder; full: relu4_1 (paper) (default %(default)s)")
    p.add_argument("--size", type=int, default=d.size, help="training crop size in px (default %(default)s)")
    p.add_argument("--load-size", type=int, default=d.load_size, help="shorter side images are resized to before cropping (default 1.5×size)")
    p.add_argument("--batch", type=int, default=d.batch, help="photo × painting pairs per step (default %(default)s)")
    p.add_argument("--iters", type=int, default=d.iters, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="inverse-time decay: lr / (1 + decay × step) (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=d.style_weight, help="weight of the style (mean/std) loss (default %(default)s)")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="weight of the content loss (default %(default)s)")
    p.add_argument("--style-crops", type=int, default=d.style_crops, help="precomputed style crops per painting (default %(default)s; 0: fresh crops each step)")
    p.add_argument("--eval-pairs", type=int, default=d.eval_pairs, help="held-out photo × painting pairs scored at the end (default %(default)s)")
    p.add_argument("--manifest", nargs="*", default=[], help="SOURCES.tsv files (default: next to the data directories)")
    # no --workers (train generator's and xnor's): the photos and paintings are preloaded tensors
    # and a crop is a slice of one, drawn with the run's own torch.Generator (reseeded at --resume);
    # worker processes would only add copying, and the style side is the stat bank's VGG pass
    add_shared_arguments(p, TrainConfig)
