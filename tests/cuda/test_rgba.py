"""The float → RGBA8 conversion: torch reference == frames.to_rgb8; sRGB and flip conventions."""

import numpy as np
import torch

from artem_vr.cuda.rgba import srgb_encode, to_rgba8_reference
from artem_vr.frames import to_rgb8


def _img(h=7, w=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, h, w, generator=g) * 1.4 - 0.2  # some values outside 0-1
    x[0, 0, :5] = torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255, 254.5 / 255, 1.0])  # rounding ties
    return x


def test_rgb_bytes_equal_frames_to_rgb8():
    x = _img()
    rgba = to_rgba8_reference(x).numpy()
    assert rgba.shape == (7, 9, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., :3], to_rgb8(x[None]))
    assert (rgba[..., 3] == 255).all()


def test_nan_becomes_zero_and_flip_reverses_rows():
    x = _img(seed=1)
    x[1, 2, 3] = float("nan")
    rgba = to_rgba8_reference(x)
    assert rgba[2, 3, 1] == 0
    assert torch.equal(to_rgba8_reference(x, flip_y=True), rgba.flip(0))


def test_srgb_encode_known_values():
    v = torch.tensor([0.0, 0.0031308, 0.18, 0.5, 1.0])
    e = srgb_encode(v)
    assert torch.allclose(e, torch.tensor([0.0, 0.0404500, 0.4613561, 0.7353570, 1.0]), atol=1e-5)
    x = torch.full((3, 1, 1), 0.18)
    assert to_rgba8_reference(x, srgb=True)[0, 0, 0] == 118  # round(0.46136 * 255)
