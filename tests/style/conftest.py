"""Fixtures shared by the style tests (keep them small and additive).

Real images only: the committed preset thumbnails (paintings, 256 px shorter side) stand in for photos,
so the tests need neither the assembled data set nor a download.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from artem_vr.paths import STYLES_DIR


@pytest.fixture(scope="session")
def thumbnails() -> dict[str, Path]:
    """preset name -> committed thumbnail path (RGB jpg, 256 px shorter side)."""
    from artem_vr.style.presets import list_presets

    out = {p.name: p.image for p in list_presets()}
    missing = [str(p) for p in out.values() if not p.is_file()]
    assert not missing, f"preset thumbnails missing from {STYLES_DIR}: {missing}"
    return out


@pytest.fixture(scope="session")
def small_content_dir(tmp_path_factory, thumbnails) -> Path:
    """A folder of 4 real images (copies of thumbnails other than starry_night)."""
    d = tmp_path_factory.mktemp("content")
    for name in ["great_wave", "the_scream", "morisot_bougival", "hiroshige_snow"]:
        shutil.copy(thumbnails[name], d / f"{name}.jpg")
    return d
