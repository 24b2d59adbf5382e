"""Foveation through `artem-vr run`: options, defaults per output, the status figures, the outline key."""

from __future__ import annotations

import numpy as np
import pytest

from artem_vr.config import RunConfig
from artem_vr.errors import UsageError


def test_foveation_defaults_per_output_and_checks():
    assert RunConfig(output="xr").foveated and not RunConfig(output="headless").foveated
    assert not RunConfig(output="mirror").foveated
    assert RunConfig(output="headless", foveate="on").foveated and not RunConfig(output="xr", foveate="off").foveated
    assert RunConfig(fovea_size=0.5).fovea().size == 0.5
    with pytest.raises(UsageError, match="fovea size"):
        RunConfig(fovea_size=0.05)
    with pytest.raises(UsageError, match="--foveate"):
        RunConfig(foveate="maybe")


def test_bad_fovea_size_is_one_line(cli):
    code, out, err = cli("run", "--output", "headless", "--fovea-size", "2")
    assert code == 2 and "fovea size" in err and "Traceback" not in err


def test_foveated_pipeline_shows_the_window_and_counts_pixels():
    """The app's pipeline with --foveate on: the status has the network pixels (fewer than the
    frame's), and the outline command draws the window into the eyes the outputs show."""
    from artem_vr.app import build_pipeline
    from artem_vr.frames import Frame
    from artem_vr.temporal.foveate import find_foveated

    config = RunConfig(method="generator", output="headless", device="cpu", foveate="on", internal_scale=1.0,
                       stylizer_options=(("arch", None), ("engine", "eager")), temporal=False)
    lines = []
    p = build_pipeline(config, printer=lines.append)
    assert any(line.startswith("foveation: on") for line in lines)
    w = p.worker
    assert find_foveated(w.stylizer) is not None and w.fovea_region is not None
    rng = np.random.default_rng(0)
    img = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    frame = Frame(img, 0.0, 0, None)
    plain, _ = w.stylize_frame(frame)
    net, full = w.network_pixels
    assert full == 96 * 128 and net < full
    assert f"network {net / 1e3:.1f}/{full / 1e3:.1f} kpx (" in p.status().line() and p.status().network_pixels == (net, full)
    p.controller.toggle_fovea_outline()
    w._apply(p.controller.pending())
    outlined, _ = w.stylize_frame(frame)
    wy, wx, fh, fw = find_foveated(w.stylizer).last_windows[0]
    assert outlined[0][wy, wx + fw // 2].tolist() == [255, 217, 26]  # the outline's colour on the window's edge
    diff = np.abs(outlined[0].astype(int) - plain[0].astype(int)).sum(-1) > 0
    assert diff[wy, wx:wx + fw].all() and not diff[wy + fh // 2, wx + fw // 2]


def test_help_teaches_foveation():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "artem_vr", "run", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--foveate" in out.stdout and "--fovea-size" in out.stdout and "foveal window outline" in out.stdout
    b = subprocess.run([sys.executable, "-m", "artem_vr", "bench", "--help"], capture_output=True, text=True)
    assert "--foveate" in b.stdout


def test_headless_run_with_foveation_on(tmp_path, cli):
    code, out, err = cli("run", "--output", "headless", "--foveate", "on", "--fovea-size", "0.4", "--frames", "6",
                         "--eye-size", "160x120", "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert "foveation: on (window 40% of each side" in out and "presented 6 frames" in out
