"""Screen capture under a private Xvfb with a known pattern painted on the root window,
and the doctor checks for capture."""

from __future__ import annotations

import numpy as np
import pytest

from artem_vr.errors import SourceError
from artem_vr.sources import open_source
from artem_vr.sources.probe import doctor_checks
from artem_vr.sources.screen import ScreenSource

PATTERN = [
    (0, 0, 320, 240, (40, 40, 40)),
    (10, 20, 100, 60, (250, 20, 20)),  # red
    (150, 100, 80, 50, (20, 230, 40)),  # green
    (300, 220, 20, 20, (30, 60, 250)),  # blue, bottom-right corner
]


@pytest.fixture
def display(xvfb, paint, monkeypatch):
    paint(xvfb, PATTERN)
    monkeypatch.setenv("DISPLAY", xvfb)
    return xvfb


def test_whole_screen(display):
    with open_source("screen") as src:
        assert isinstance(src, ScreenSource)
        f = src.wait_frame(timeout=5)
    img = f.image
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    assert tuple(img[50, 60]) == (250, 20, 20)  # RGB, not BGR
    assert tuple(img[120, 200]) == (20, 230, 40)
    assert tuple(img[230, 310]) == (30, 60, 250)
    assert tuple(img[5, 5]) == (40, 40, 40)


def test_region(display):
    with open_source("screen:140,90,100,70") as src:
        f = src.wait_frame(timeout=5)
        g = src.wait_frame(f.index, timeout=2)  # keeps capturing
    img = f.image
    assert img.shape == (70, 100, 3)
    # the green rectangle (150..230, 100..150) sits at (10..90, 10..60) in the region
    assert (img[10:60, 10:90] == (20, 230, 40)).all()
    assert (img[:10, :] == (40, 40, 40)).all() and (img[:, :10] == (40, 40, 40)).all()
    assert g is not None and g.index > f.index


def test_screen_follows_changes(display, paint):
    with open_source("screen:0,0,40,40") as src:
        f = src.wait_frame(timeout=5)
        assert tuple(f.image[30, 30]) == (250, 20, 20)
        paint(display, [(0, 0, 40, 40, (200, 200, 0))])
        for _ in range(40):
            f = src.wait_frame(f.index, timeout=1)
            if tuple(f.image[30, 30]) == (200, 200, 0):
                break
        assert tuple(f.image[30, 30]) == (200, 200, 0)


def test_region_outside_the_screen(display):
    with pytest.raises(SourceError, match="outside the screen"):
        open_source("screen:300,200,100,100").start()
    with pytest.raises(SourceError, match="no monitor 5"):
        open_source("screen:5").start()


def test_no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY"):
        open_source("screen").start()
    checks = {c.name: c for c in doctor_checks()}
    assert checks["screen capture"].ok is None and "DISPLAY not set" in checks["screen capture"].detail


def test_unreachable_display(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":987")  # no X server there
    with pytest.raises(SourceError, match="cannot connect to the X display :987"):
        open_source("screen").start()
    checks = {c.name: c for c in doctor_checks()}
    assert checks["X display"].ok is False and checks["X display"].fix
    assert checks["screen capture"].ok is False


def test_doctor_checks_with_a_display(display):
    checks = doctor_checks()
    by = {c.name: c for c in checks}
    assert by["X display"].ok is True and "320x240" in by["X display"].detail
    assert by["screen capture"].ok is True
    cams = [c for c in checks if c.name.startswith("camera")]
    assert cams, "no camera line"
    for c in cams:
        assert c.ok in (True, False, None) and c.detail
