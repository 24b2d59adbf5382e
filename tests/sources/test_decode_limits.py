"""The decode limit is the project's own, checked from the header: Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` is never changed, so no other image opened in the process warns."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from artem_vr.config import RunConfig
from artem_vr.errors import ImageError, SourceError, UsageError
from artem_vr.sources import imageio, open_source


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_small_limit_refuses_without_touching_pillow():
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="over the limit of 0.03 megapixels"):
        imageio.decode_image(_png(176, 176), "big.png", max_megapixels=0.03)  # 30,000 pixels
    assert imageio.decode_image(_png(100, 100), "small.png", max_megapixels=0.03).shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == before
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(_png(176, 176))) as im:  # someone else's image: no warning
            im.load()


def test_readers_with_different_limits_coexist(tmp_path):
    """The limit is a value each reader is given, not process-wide state: a strict reader and a
    default one side by side, each keeping its own."""
    big = tmp_path / "big.png"
    big.write_bytes(_png(176, 176))
    with pytest.raises(ImageError, match="over the limit of 0.03 megapixels"):
        imageio.read_image(big, max_megapixels=0.03)
    assert imageio.read_image(big).shape == (176, 176, 3)  # the default (50 MP) is untouched
    assert imageio.DEFAULT_MAX_MEGAPIXELS == 50.0
    clip = tmp_path / "c.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(3):
        w.write(np.full((120, 160, 3), 40 * i, np.uint8))
    w.release()
    with imageio.VideoReaderRGB(clip) as loose:  # open while a strict one refuses the same file
        with pytest.raises(ImageError, match=r"160x120 .*over the limit of 0.01 megapixels"):
            imageio.VideoReaderRGB(clip, max_megapixels=0.01)
        assert len(list(loose)) == 3


def test_sources_take_the_limit_from_their_maker(tmp_path):
    """open_source hands the run's limit to the file sources: refused at start, one line."""
    big = tmp_path / "big.png"
    big.write_bytes(_png(176, 176))
    strict, loose = open_source(str(big), max_megapixels=0.03), open_source(str(big))
    with pytest.raises(SourceError, match="over the limit of 0.03 megapixels"):
        strict.start()
    with loose:
        assert loose.wait_frame(timeout=10) is not None
    with pytest.raises(UsageError, match="out of range"):
        RunConfig(max_megapixels=0.0)
    assert RunConfig().max_megapixels == imageio.DEFAULT_MAX_MEGAPIXELS
