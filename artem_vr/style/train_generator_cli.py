"""`artem-vr train generator`: the command line of :mod:`artem_vr.style.train_generator`, parsed
once into its frozen, checked :class:`~artem_vr.style.train_generator.GeneratorTrainConfig` (no
Namespace goes further)."""

from __future__ import annotations

import argparse
from pathlib import Path

from artem_vr.style.generator_net import ARCHS
from artem_vr.style.train_generator import GeneratorTrainConfig, train
from artem_vr.style.vgg import RELU_INDEX, STYLE_LAYERS


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--content", required=True, type=Path, help="folder of training photos (searched recursively)")
    p.add_argument("--style", required=True, help="preset or user style name, or a painting's image file")
    p.add_argument("--out", required=True, metavar="NAME",
                   help="the new style's name: writes NAME.safetensors, NAME.md and a thumbnail NAME.jpg to your "
                        "styles folder (see `artem-vr doctor`), or to --out-dir")
    p.add_argument("--arch", default="compact", choices=sorted(ARCHS))
    p.add_argument("--size", type=int, default=256, help="training crop size in px (default 256)")
    p.add_argument("--style-size", type=int, default=None, help="resize the style image's long side to this (default: as is)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=1.0, help="Gram style weight (for Caffe-scale VGG features; 1 keeps content recognisable, 5+ paints over it)")
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument("--temporal-weight", type=float, default=0.0, help="weight of the mean squared change G(x) vs G(x + noise) (flicker; the term is ~1e-2, try 1e5-1e6)")
    p.add_argument("--temporal-noise", type=float, default=0.02, help="std of that noise (0–1 scale)")
    p.add_argument("--content-layer", default="relu3_1", choices=list(RELU_INDEX))
    p.add_argument("--style-layers", nargs="+", default=list(STYLE_LAYERS), choices=list(RELU_INDEX), metavar="LAYER")
    p.add_argument("--holdout-every", type=int, default=10, help="hold out every Nth photo (sorted) for evaluation; 0: none")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoints and samples (default: runs/NAME in the user data folder)")
    p.add_argument("--out-dir", type=Path, default=None, help="where the final weights + card go (default: your styles folder)")
    p.add_argument("--force", action="store_true", help="replace an existing model NAME, or take a shipped preset's name")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.safetensors")
    p.add_argument("--sample-every", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="mixed precision (default: on for CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")


def run(args) -> int:
    return train(cfg=GeneratorTrainConfig.from_args(args))
