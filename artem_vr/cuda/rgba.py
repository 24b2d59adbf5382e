"""Float RGB (3, H, W) 0–1 → RGBA8 (H, W, 4): the ``to_rgba8.cu`` kernel and its torch reference.

Per channel: clamp to [0, 1] (NaN → 0), optional sRGB encode (for linear-light input), ×255,
round half to even; alpha 255. Without sRGB the RGB bytes are exactly
:func:`artem_vr.frames.to_rgb8`'s. ``flip_y`` writes the bottom row first (GL's row order).
"""

from __future__ import annotations

import torch

from artem_vr.cuda.launch import get_kernel, launch
from artem_vr.errors import ConventionError


def _check(img: torch.Tensor, where: str) -> None:
    if not isinstance(img, torch.Tensor) or img.ndim != 3 or img.shape[0] != 3 or not img.is_floating_point():
        got = f"{img.dtype} {tuple(img.shape)}" if isinstance(img, torch.Tensor) else type(img).__name__
        raise ConventionError(f"{where}: expected a float (3, H, W) RGB 0-1 tensor, got {got}")


def srgb_encode(v: torch.Tensor) -> torch.Tensor:
    """Linear [0, 1] → sRGB-encoded [0, 1] (IEC 61966-2-1)."""
    return torch.where(v <= 0.0031308, v * 12.92, 1.055 * v.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def to_rgba8_reference(img: torch.Tensor, flip_y: bool = False, srgb: bool = False) -> torch.Tensor:
    """(3, H, W) float → uint8 (H, W, 4) on the same device (torch ops only)."""
    _check(img, "to_rgba8_reference")
    v = torch.nan_to_num(img.float(), nan=0.0).clamp(0, 1)
    if srgb:
        v = srgb_encode(v).clamp(0, 1)
    rgb = v.mul(255.0).round_().to(torch.uint8)
    if flip_y:
        rgb = rgb.flip(1)
    a = torch.full((1, *rgb.shape[1:]), 255, dtype=torch.uint8, device=rgb.device)
    return torch.cat([rgb, a]).permute(1, 2, 0).contiguous()


def to_rgba8_cuda(img: torch.Tensor, out: torch.Tensor | int | None = None, flip_y: bool = False, srgb: bool = False,
                  stream=None):
    """Run ``float_to_rgba8`` on CUDA. ``out``: a uint8 (H, W, 4) CUDA tensor, a raw device
    pointer (int, e.g. a mapped GL buffer of H·W·4 bytes) or None (allocate). Returns ``out``."""
    import numpy as np

    _check(img, "to_rgba8_cuda")
    if not img.is_cuda:
        raise ConventionError(f"to_rgba8_cuda: expected a CUDA tensor, got one on {img.device}")
    img = img.float().contiguous()
    _, h, w = img.shape
    if out is None:
        out = torch.empty(h, w, 4, dtype=torch.uint8, device=img.device)
    if isinstance(out, torch.Tensor):
        if out.shape != (h, w, 4) or out.dtype != torch.uint8 or not out.is_cuda or not out.is_contiguous():
            raise ConventionError(f"to_rgba8_cuda: out must be contiguous CUDA uint8 ({h}, {w}, 4), got {out.dtype} {tuple(out.shape)}")
        ptr = np.uint64(out.data_ptr())
    else:
        ptr = np.uint64(int(out))
    grid = max(1, min((h * w + 255) // 256, 65535 * 4))
    launch(get_kernel("to_rgba8", "float_to_rgba8"), grid, 256, img, ptr, h, w, int(flip_y), int(srgb), stream=stream)
    return out
