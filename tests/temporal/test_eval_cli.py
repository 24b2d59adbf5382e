"""`artem-vr eval --videos DIR --stereo DIR`: the comfort metrics through the CLI, on files written here."""

from __future__ import annotations

import json

import cv2
import numpy as np
from temporal_helpers import pan, texture, write_video


def test_eval_videos_and_stereo_with_identity(cli, tmp_path):
    vids, stereo = tmp_path / "videos", tmp_path / "stereo"
    vids.mkdir()
    stereo.mkdir()
    write_video(vids / "pan.avi", pan(texture(120, 160, seed=31), 5, (96, 72)))
    wide = texture(60, 90, seed=32)
    for side, img in (("left", wide[:, :80]), ("right", wide[:, 10:])):
        cv2.imwrite(str(stereo / f"p_{side}.png"), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(stereo / "p_disparity.png"), np.full((60, 80), 10, np.uint8))
    out = tmp_path / "comfort.json"
    code, stdout, err = cli("eval", "--videos", vids, "--stereo", stereo, "--method", "identity",
                            "--video-frames", 4, "--video-width", 96, "--stereo-width", 80,
                            "--comfort-json", out, "--comfort-images", tmp_path / "img")
    assert code == 0, err
    r = json.loads(out.read_text())["methods"]["identity"]
    t = r["temporal"]["pan"]
    assert t["frames"] == 4 and t["per_frame"] == t["raw"]  # identity: per-frame stylization is the input
    s = r["stereo"]["p"]
    assert s["raw"] < 1.0 and s["independent"] == s["raw"]
    assert "| pan | 4 | 96x72 |" in stdout and "| p | 80x60 |" in stdout  # the tables
    assert (tmp_path / "img" / "identity" / "temporal_pan.png").is_file()
    assert (tmp_path / "img" / "identity" / "stereo_p.png").is_file()


def test_eval_reports_missing_inputs(cli, tmp_path):
    code, _out, err = cli("eval", "--videos", tmp_path, "--method", "identity")
    assert code == 2 and "no videos" in err
    code, _out, err = cli("eval", "--stereo", tmp_path, "--method", "identity")
    assert code == 2 and "no stereo pairs" in err


def test_eval_passes_the_comfort_backend_and_checks_its_numbers(cli, tmp_path):
    """--comfort-backend reaches the comfort half through EvalConfig (the result says which ran);
    a count or width the metrics cannot use is refused in one line before any work."""
    vids = tmp_path / "videos"
    vids.mkdir()
    write_video(vids / "pan.avi", pan(texture(120, 160, seed=33), 4, (96, 72)))
    out = tmp_path / "comfort.json"
    code, _stdout, err = cli("eval", "--videos", vids, "--method", "identity", "--video-frames", 3,
                             "--video-width", 96, "--comfort-backend", "opencv", "--comfort-json", out)
    assert code == 0, err
    assert json.loads(out.read_text())["backend"] == "opencv"
    for argv, says in ((["--video-frames", "1"], "--video-frames"), (["--video-width", "4"], "--video-width")):
        code, _out, err = cli("eval", "--videos", vids, "--method", "identity", *argv)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
