"""`artem-vr train xnor`: its command line (:func:`add_arguments`), parsed once into its frozen,
checked :class:`XnorTrainConfig` (no Namespace goes further). No torch here: `--help` and a
refused number stay fast; the trainer, :mod:`artem_vr.style.train_xnor`, is imported to train."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from artem_vr.errors import UsageError, check_at_least, shown
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.style.train_config import (TrainCommandConfig, add_shared_arguments, check_holdout, check_time_limit,
                                        field_defaults)

#: the module whose ``train(config)`` runs this command (imported only then: torch)
TRAINER = "artem_vr.style.train_xnor"


@dataclass(frozen=True)
class XnorTrainConfig(TrainCommandConfig):
    """`artem-vr train xnor`, parsed once and checked (see :func:`add_arguments` for each value)."""

    teacher: str
    content: Path
    out: str
    arch: str | None = None
    out_dir: Path | None = None
    force: bool = False
    run_dir: Path | None = None  # None: runs/<out> in the user data folder
    resume: bool = False
    checkpoint_every: int = 200
    iters: int = 1000
    size: int = 128
    batch: int = 4
    lr: float = 0.0005
    perceptual_weight: float = 0.0
    holdout: int = 10
    time_limit: float | None = None  # minutes
    device: str = "auto"
    threads: int | None = None
    workers: int = 0
    seed: int = 0
    log_every: int = 50
    no_progress: bool = False
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS  # the decode limit of the photos (--max-megapixels)

    def __post_init__(self):
        check_max_megapixels(self.max_megapixels)  # first, as run does
        check_at_least(("--iters", self.iters, 1, 1000), ("--batch", self.batch, 1, 4), ("--workers", self.workers, 0, 2),
                       ("--threads", self.threads, 1, 2), ("--checkpoint-every", self.checkpoint_every, 0, 200),
                       ("--log-every", self.log_every, 0, 50))
        check_holdout(self.holdout)
        check_time_limit(self.time_limit)
        if not self.lr > 0:
            raise UsageError(f"--lr {shown(self.lr)} must be above 0", "e.g. --lr 0.0005")


def config_from_args(args) -> XnorTrainConfig:
    return XnorTrainConfig.from_args(args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = field_defaults(XnorTrainConfig)
    p.epilog = (
        "examples:\n"
        "  artem-vr train xnor --from klimt --content PHOTOS --out klimt_xnor   # a binarized copy of your style klimt\n"
        "  artem-vr train xnor --from klimt --content PHOTOS --out klimt_xnor --iters 2000 --resume   # train on from its checkpoint\n"
        "  artem-vr run --method xnor --style klimt_xnor"
    )
    p.add_argument("--from", dest="teacher", required=True,
                   help="the float generator: a preset or user style name (its trained generator) or a .safetensors file")
    p.add_argument("--arch", default=d.arch, help="with a preset: which generator (compact/full; default: compact, else full)")
    p.add_argument("--content", required=True, type=Path, metavar="DIR", help="folder of training photos (searched recursively)")
    p.add_argument("--out", required=True, metavar="NAME",
                   help="the model's name: writes NAME.safetensors and NAME.md to your styles folder (see `artem-vr "
                        "doctor`), or to --out-dir (a shipped preset's model there is <preset>_xnor_<arch>)")
    p.add_argument("--iters", type=int, default=d.iters, help="training steps (default %(default)s)")
    p.add_argument("--size", type=int, default=d.size, help="training crop size in px (default %(default)s)")
    p.add_argument("--batch", type=int, default=d.batch, help="photos per step (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate, cosine-annealed (default %(default)s)")
    p.add_argument("--perceptual-weight", type=float, default=d.perceptual_weight, help="weight of the VGG relu2_1 feature MSE (default %(default)s: L1 only)")
    add_shared_arguments(p, XnorTrainConfig)
