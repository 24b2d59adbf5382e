"""The decode limit is the project's own, checked from the header: Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` is never changed, so no other image opened in the process warns."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from artem_vr.errors import ImageError
from artem_vr.sources import imageio


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_small_limit_refuses_without_touching_pillow():
    before, limit = Image.MAX_IMAGE_PIXELS, imageio.max_megapixels()
    try:
        imageio.set_max_megapixels(0.03)  # 30,000 pixels
        with pytest.raises(ImageError, match="over the limit of 0.03 megapixels"):
            imageio.decode_image(_png(176, 176), "big.png")
        assert imageio.decode_image(_png(100, 100), "small.png").shape == (100, 100, 3)
        assert Image.MAX_IMAGE_PIXELS == before
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(_png(176, 176))) as im:  # someone else's image: no warning
                im.load()
    finally:
        imageio.set_max_megapixels(limit)
