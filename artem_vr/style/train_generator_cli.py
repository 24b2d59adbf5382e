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
    p.add_argument("--arch", default="compact", choices=sorted(ARCHS),
                   help="compact: small and fast, for the CPU and headsets; full: the paper's larger network (default %(default)s)")
    p.add_argument("--size", type=int, default=256, help="training crop size in px (default 256)")
    p.add_argument("--style-size", type=int, default=None, help="resize the style image's long side to this (default: as is)")
    p.add_argument("--batch", type=int, default=4, help="photos per step (default %(default)s)")
    p.add_argument("--iters", type=int, default=2000, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default %(default)s)")
    p.add_argument("--content-weight", type=float, default=1.0, help="weight of the content (VGG feature) loss (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=1.0, help="Gram style weight (for Caffe-scale VGG features; 1 keeps content recognisable, 5+ paints over it; default %(default)s)")
    p.add_argument("--tv-weight", type=float, default=1.0, help="weight of the total-variation (smoothness) loss (default %(default)s)")
    p.add_argument("--temporal-weight", type=float, default=0.0, help="weight of the mean squared change G(x) vs G(x + noise) (flicker; the term is ~1e-2, try 1e5-1e6; default %(default)s: off)")
    p.add_argument("--temporal-noise", type=float, default=0.02, help="std of that noise (0–1 scale; default %(default)s)")
    p.add_argument("--content-layer", default="relu3_1", choices=list(RELU_INDEX), metavar="LAYER",
                   help="the VGG19 layer the content loss compares (default %(default)s; relu1_1 … relu5_4)")
    p.add_argument("--style-layers", nargs="+", default=list(STYLE_LAYERS), choices=list(RELU_INDEX), metavar="LAYER",
                   help=f"the VGG19 layers the style (Gram) loss compares (default: {' '.join(STYLE_LAYERS)})")
    p.add_argument("--holdout-every", type=int, default=10, help="hold out every Nth photo (sorted) for evaluation (default %(default)s; 0: none)")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoints and samples (default: runs/NAME in the user data folder)")
    p.add_argument("--out-dir", type=Path, default=None, help="where the final weights + card go (default: your styles folder)")
    p.add_argument("--force", action="store_true", help="replace an existing model NAME, or take a shipped preset's name")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.safetensors")
    p.add_argument("--sample-every", type=int, default=200, help="write a sample image to the run folder every N steps (default %(default)s; 0: at the end only)")
    p.add_argument("--checkpoint-every", type=int, default=200, help="save a checkpoint (for --resume) every N steps (default %(default)s; 0: at the end only)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="mixed precision (default: on for CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the crops and the initial weights (default %(default)s)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default %(default)s: load in the training process)")
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")


def run(args) -> int:
    return train(cfg=GeneratorTrainConfig.from_args(args))
