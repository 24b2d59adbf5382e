"""`artem-vr train generator`: its command line (:func:`add_arguments`), parsed once into its frozen,
checked :class:`GeneratorTrainConfig` (no Namespace goes further). No torch here: `--help` and a
refused number stay fast; the trainer, :mod:`artem_vr.style.train_generator`, is imported to train."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from artem_vr.errors import UsageError, check_at_least, shown
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.style.generator_arch import ARCHS
from artem_vr.style.train_config import (TrainCommandConfig, add_shared_arguments, check_holdout, check_time_limit,
                                        field_defaults)
from artem_vr.style.vgg_layers import RELU_INDEX, STYLE_LAYERS

#: the module whose ``train(config)`` runs this command (imported only then: torch)
TRAINER = "artem_vr.style.train_generator"


@dataclass(frozen=True)
class GeneratorTrainConfig(TrainCommandConfig):
    """`artem-vr train generator`, parsed once and checked (see :func:`add_arguments` for each value)."""

    content: Path
    style: str
    out: str
    arch: str = "compact"
    size: int = 256
    style_size: int | None = None
    batch: int = 4
    iters: int = 2000
    lr: float = 0.001
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    temporal_weight: float = 0.0
    temporal_noise: float = 0.02
    content_layer: str = "relu3_1"
    style_layers: tuple[str, ...] = STYLE_LAYERS
    holdout: int = 10
    time_limit: float | None = None  # minutes
    run_dir: Path | None = None
    out_dir: Path | None = None
    force: bool = False
    resume: bool = False
    sample_every: int = 200
    checkpoint_every: int = 200
    device: str = "auto"
    amp: bool | None = None
    threads: int | None = None
    seed: int = 0
    workers: int = 0
    log_every: int = 50
    no_progress: bool = False
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS  # the decode limit of the photos and the painting (--max-megapixels)

    def __post_init__(self):
        check_max_megapixels(self.max_megapixels)  # first, as run does
        check_at_least(("--iters", self.iters, 1, 1000), ("--batch", self.batch, 1, 4), ("--workers", self.workers, 0, 2),
                       ("--threads", self.threads, 1, 2), ("--style-size", self.style_size, 32, 512),
                       ("--sample-every", self.sample_every, 0, 200), ("--checkpoint-every", self.checkpoint_every, 0, 200),
                       ("--log-every", self.log_every, 0, 50))
        check_holdout(self.holdout)
        check_time_limit(self.time_limit)
        if not self.lr > 0:
            raise UsageError(f"--lr {shown(self.lr)} must be above 0", "e.g. --lr 0.001")


def config_from_args(args) -> GeneratorTrainConfig:
    return GeneratorTrainConfig.from_args(args)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = field_defaults(GeneratorTrainConfig)
    p.epilog = (
        "examples:\n"
        "  # CPU, small crops (how the shipped compact presets were trained; resume to train longer)\n"
        "  artem-vr train generator --content data/content --style great_wave --out great_wave_compact \\\n"
        "      --size 128 --batch 2 --iters 800 --style-layers relu1_1 relu2_1 relu3_1 relu4_1 --threads 1\n"
        "  # one NVIDIA GPU, AMP on by default\n"
        "  artem-vr train generator --content data/content --style painting.jpg --out mine_full --arch full \\\n"
        "      --size 256 --batch 8 --iters 20000\n"
        "  # several GPUs (DDP)\n"
        "  torchrun --nproc_per_node 4 -m artem_vr train generator --content data/content --style the_scream --out scream_full --arch full"
    )
    p.add_argument("--content", required=True, type=Path, metavar="DIR", help="folder of training photos (searched recursively)")
    p.add_argument("--style", required=True, help="preset or user style name, or a painting's image file")
    p.add_argument("--out", required=True, metavar="NAME",
                   help="the new style's name: writes NAME.safetensors, NAME.md and a thumbnail NAME.jpg to your "
                        "styles folder (see `artem-vr doctor`), or to --out-dir")
    p.add_argument("--arch", default=d.arch, choices=sorted(ARCHS),
                   help="compact: small and fast, for the CPU and headsets; full: the paper's larger network (default %(default)s)")
    p.add_argument("--size", type=int, default=d.size, help="training crop size in px (default %(default)s)")
    p.add_argument("--style-size", type=int, default=d.style_size, help="resize the style image's long side to this (default: as is)")
    p.add_argument("--batch", type=int, default=d.batch, help="photos per step (default %(default)s)")
    p.add_argument("--iters", type=int, default=d.iters, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default %(default)s)")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="weight of the content (VGG feature) loss (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=d.style_weight, help="Gram style weight (for Caffe-scale VGG features; 1 keeps content recognisable, 5+ paints over it; default %(default)s)")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight, help="weight of the total-variation (smoothness) loss (default %(default)s)")
    p.add_argument("--temporal-weight", type=float, default=d.temporal_weight, help="weight of the mean squared change G(x) vs G(x + noise) (flicker; the term is ~1e-2, try 1e5-1e6; default %(default)s: off)")
    p.add_argument("--temporal-noise", type=float, default=d.temporal_noise, help="std of that noise (0–1 scale; default %(default)s)")
    p.add_argument("--content-layer", default=d.content_layer, choices=list(RELU_INDEX), metavar="LAYER",
                   help="the VGG19 layer the content loss compares (default %(default)s; relu1_1 … relu5_4)")
    p.add_argument("--style-layers", nargs="+", default=list(d.style_layers), choices=list(RELU_INDEX), metavar="LAYER",
                   help=f"the VGG19 layers the style (Gram) loss compares (default: {' '.join(d.style_layers)})")
    add_shared_arguments(p, GeneratorTrainConfig)
