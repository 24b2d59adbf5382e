"""Training images: listing, the deterministic hold-out split, and random crops.

Images come out as the project convention: float ``(3, H, W)`` RGB 0–1 per sample.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, get_worker_info

from artem_vr.errors import UsageError
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.sources.imageio import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: what the AdaIN trainer reads (:func:`image_files`): TIFF paintings too
TRAIN_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(folder) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted by relative path."""
    folder = Path(folder)
    if folder.is_file():
        raise UsageError(f"--content {folder} is a file, not a folder", "give the folder of photos it is in, e.g. "
                         f"--content {folder.parent}")
    if not folder.is_dir():
        raise UsageError(f"content folder {folder} does not exist", "give a folder of photos with --content")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UsageError(f"no images (*.jpg, *.png, …) in {folder}", "give a folder of photos with --content")
    return files


def split_holdout(files: list[Path], every: int = 10) -> tuple[list[Path], list[Path]]:
    """Deterministic split of a sorted list (each folder's files in name order, as :func:`list_images`
    gives them): in each folder, every ``every``-th file (the every-th, 2·every-th, … of that folder)
    is held out for evaluation — the rule of every trainer's ``--holdout`` and of ``artem-vr eval
    --holdout``. ``every <= 0`` holds out nothing. Returns (train, held_out)."""
    if every <= 0:
        return list(files), []
    seen: dict[Path, int] = {}
    train, held = [], []
    for f in files:
        folder = Path(f).parent
        seen[folder] = n = seen.get(folder, 0) + 1
        (held if n % every == 0 else train).append(f)
    return train, held


def load_rgb(path, max_short: int | None = None, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB; optionally downscale so min(H, W) <= max_short.
    Unreadable, or over ``max_megapixels`` (the command's ``--max-megapixels``, from its header,
    before decoding) → ImageError."""
    img = read_image(path, max_megapixels=max_megapixels)  # the project's one image reader
    h, w = img.shape[:2]
    if max_short and min(h, w) > max_short:
        s = max_short / min(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.require(img, requirements=["C", "W"])  # a writable copy when the reader's array is read-only


def resize_long(img: np.ndarray, long_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def rgb8_to_chw(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) RGB → float (3, H, W) RGB 0–1."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)


def eval_photos(files: list[Path], size: int = 256, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> list[torch.Tensor]:
    """Held-out photos at ``size`` px long side, float ``(1, 3, H, W)`` 0–1; read before training,
    so a file over ``max_megapixels`` (or unreadable) is refused before any step runs."""
    return [rgb8_to_chw(resize_long(load_rgb(f, max_megapixels=max_megapixels), size))[None] for f in files]


class RandomCrops(torch.utils.data.Dataset):
    """Random square crops of ``size`` px from preloaded photos.

    Each photo is kept in memory with its short side at most ``2·size``; a sample rescales it so
    the short side is uniform in [size, 2·size] (so a crop shows 1/4 … 1 of the photo's short
    side), takes a random ``size``×``size`` crop and flips it horizontally half the time.
    """

    def __init__(self, files: list[Path], size: int, seed: int = 0, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        if size < 16:
            raise UsageError(f"crop size {size} is too small", "use --size >= 16")
        self.size = size
        self.files = list(files)
        self.images = [load_rgb(f, max_short=2 * size, max_megapixels=max_megapixels) for f in self.files]
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = self.images[i]
        h, w = img.shape[:2]
        target = self.rng.uniform(self.size, max(self.size, min(2 * self.size, min(h, w))))
        s = max(target / min(h, w), self.size / min(h, w))
        nh, nw = max(self.size, round(h * s)), max(self.size, round(w * s))
        if (nh, nw) != (h, w):
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        y = self.rng.randint(0, nh - self.size)
        x = self.rng.randint(0, nw - self.size)
        crop = img[y : y + self.size, x : x + self.size]
        if self.rng.random() < 0.5:
            crop = crop[:, ::-1]
        return rgb8_to_chw(crop)


def crop_loader(ds: RandomCrops, batch: int, workers: int, sampler=None, pin_memory: bool = False) -> DataLoader:
    """Batches of ``batch`` crops of ``ds`` (the generator's and the xnor trainer's data): the photos
    drawn at random with replacement, endlessly (``sampler``: another order, e.g. DDP's), cropped by
    ``workers`` processes (``--workers``; 0: in the training process). Each worker reseeds its copy
    of the crops' generator from its own seed: copies of one generator would repeat the same crops."""
    if sampler is None:
        sampler = RandomSampler(ds, replacement=True, num_samples=10**9)
    return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True, pin_memory=pin_memory,
                      persistent_workers=workers > 0, worker_init_fn=_reseed_crops if workers else None)


def _reseed_crops(_worker_id: int) -> None:
    info = get_worker_info()
    info.dataset.rng.seed(info.seed)  # the worker's seed: the run's seed (torch's), plus the worker's number


# --------------------------------------------------------------------------- the AdaIN trainer's data
# Paintings and photos preloaded as uint8 (3, H, W) tensors, cropped on the fly (train_adain).


def image_files(d: str | os.PathLike) -> list[Path]:
    """``d`` itself when it is a file, else the images directly in folder ``d`` (sorted)."""
    p = Path(d)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise UsageError(f"{d}: no such directory", "give a directory of images")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in TRAIN_IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise UsageError(f"{d}: no images (.jpg/.png/...) in it", "give a directory of images")
    return files


def gather(dirs: list[str], every: int) -> tuple[list[Path], list[Path]]:
    train, held = [], []
    for d in dirs:
        t, h = split_holdout(image_files(d), every)
        train += t
        held += h
    return train, held


def load_images(files: list[Path], shorter: int, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> list[torch.Tensor]:
    """Files → uint8 tensors (3, H, W) RGB with the shorter side ``shorter`` (never < it); a file
    over ``max_megapixels`` (the command's ``--max-megapixels``) → ImageError, before decoding."""
    out = []
    for f in files:
        x = torch.from_numpy(read_image(f, max_megapixels=max_megapixels).copy()).permute(2, 0, 1).float().unsqueeze(0) / 255.0
        h, w = x.shape[-2:]
        s = shorter / min(h, w)
        x = F.interpolate(x, size=(max(shorter, round(h * s)), max(shorter, round(w * s))), mode="bilinear", align_corners=False, antialias=s < 1)
        out.append((x[0].clamp(0, 1) * 255).round().to(torch.uint8))
    return out


def random_crops(images: list[torch.Tensor], idx: list[int], size: int, g: torch.Generator) -> torch.Tensor:
    """Random ``size``² crops (with random horizontal flips) → float (N, 3, size, size) 0–1."""
    crops = []
    for i in idx:
        im = images[i]
        h, w = im.shape[-2:]
        y = int(torch.randint(0, h - size + 1, (1,), generator=g))
        x = int(torch.randint(0, w - size + 1, (1,), generator=g))
        c = im[:, y : y + size, x : x + size]
        if torch.rand((), generator=g) < 0.5:
            c = c.flip(-1)
        crops.append(c)
    return torch.stack(crops).float().div_(255.0)


def center_crop(im: torch.Tensor, size: int) -> torch.Tensor:
    h, w = im.shape[-2:]
    y, x = (h - size) // 2, (w - size) // 2
    return im[:, y : y + size, x : x + size].float().div(255.0).unsqueeze(0)


def read_manifest(paths: list[str]) -> dict[str, dict]:
    """``SOURCES.tsv`` rows (file → row) from the given files, or next to the data dirs."""
    rows = {}
    for p in paths:
        p = Path(p)
        if not p.is_file():
            continue
        with open(p, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                if r.get("file"):
                    f = Path(r["file"])
                    rows[f"{f.parent.name}/{f.name}"] = r
                    rows.setdefault(f.name, r)
    return rows
