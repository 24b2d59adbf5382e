"""--max-megapixels in `artem-vr eval` and `artem-vr train`: every photo, painting, video frame and
stereo view those commands read is under the command's limit (not the default 50 MP), and one over
it is refused as `run` refuses it — one line, exit 2, before any work. Real CLI child processes."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
from faults_helpers import one_error_line, run_cli, write_png, write_video

from artem_vr.cli import build_parser, command_parser
from artem_vr.errors import ImageError
from artem_vr.temporal.readers import load_stereo_pair

FIX = "downscale it first, or raise the limit with --max-megapixels N"


def said(command: str, what: str, path, w: int, h: int, limit: str) -> str:
    """The one line `run` gives for an input over the limit, as ``command`` gives it."""
    return (f"artem-vr {command}: error: {what} {path} is {w}x{h} ({w * h / 1e6:.1f} megapixels), over the limit of "
            f"{limit} megapixels — {FIX}")


def test_eval_reads_photos_and_paintings_under_its_limit(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    big_photo = write_png(photos / "a.png", size=(800, 500), seed=1)  # 0.4 MP
    painting = write_png(tmp_path / "painting.png", size=(120, 90), seed=2)
    args = ["eval", "--content", photos, "--styles", painting, "--method", "identity", "--size", "32", "--device", "cpu",
            "--json", tmp_path / "r.json"]
    r = run_cli(*args, "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("eval", "image", big_photo, 800, 500, "0.3"), r.stderr
    assert not (tmp_path / "r.json").exists()
    r = run_cli(*args, "--max-megapixels", "0.5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["style"]["summary"]["identity"]["pairs_ok"] == 1
    # the painting is read under the same limit (photos now small)
    big_photo.unlink()
    write_png(photos / "b.png", size=(60, 40), seed=3)
    big_painting = write_png(tmp_path / "big_painting.png", size=(800, 500), seed=4)
    r = run_cli(*args[:4], big_painting, *args[5:], "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("eval", "image", big_painting, 800, 500, "0.3"), r.stderr


def test_eval_reads_videos_and_stereo_pairs_under_its_limit(tmp_path):
    """A video's frame size is checked before its frames are decoded; each stereo view is too."""
    vids, stereo = tmp_path / "videos", tmp_path / "stereo"
    vids.mkdir()
    stereo.mkdir()
    clip = write_video(vids / "clip.mp4", n=4, size=(320, 240))  # 0.077 MP
    left = write_png(stereo / "p_left.png", size=(400, 300), seed=5)  # 0.12 MP
    write_png(stereo / "p_right.png", size=(400, 300), seed=6)
    cv2.imwrite(str(stereo / "p_disparity.png"), np.full((300, 400), 8, np.uint8))
    common = ["--method", "identity", "--video-frames", "3", "--video-width", "64", "--stereo-width", "64",
              "--device", "cpu", "--comfort-json", tmp_path / "c.json"]
    r = run_cli("eval", "--videos", vids, *common, "--max-megapixels", "0.05", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("eval", "video", clip, 320, 240, "0.05"), r.stderr
    r = run_cli("eval", "--stereo", stereo, *common, "--max-megapixels", "0.1", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("eval", "image", left, 400, 300, "0.1"), r.stderr
    assert not (tmp_path / "c.json").exists()
    r = run_cli("eval", "--videos", vids, "--stereo", stereo, *common, "--max-megapixels", "0.2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "c.json").read_text())["methods"]["identity"]
    assert m["temporal"]["clip"]["frames"] == 3 and "p" in m["stereo"]


def test_a_disparity_map_over_the_limit_is_refused_from_its_header(tmp_path):
    for side in ("left", "right"):
        write_png(tmp_path / f"p_{side}.png", size=(100, 100), seed=7)  # 0.01 MP
    big = tmp_path / "p_disparity.png"
    cv2.imwrite(str(big), np.full((200, 200), 8, np.uint8))  # 0.04 MP
    with pytest.raises(ImageError, match=r"disparity .* is 200x200 .* over the limit of 0.02 megapixels"):
        load_stereo_pair(tmp_path, "p", max_megapixels=0.02)
    with pytest.raises(ImageError, match="sizes differ"):  # under the limit: read, and then compared
        load_stereo_pair(tmp_path, "p", max_megapixels=0.05)


@pytest.mark.slow  # a real training step of the generator on the CPU with VGG19: ~15 s on 2 busy cores
def test_train_generator_reads_photos_and_the_painting_under_its_limit(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        write_png(photos / f"p{i}.png", size=(64, 48), seed=10 + i)
    painting = write_png(tmp_path / "painting.png", size=(800, 500), seed=8)  # 0.4 MP
    args = ["train", "generator", "--content", photos, "--style", painting, "--out", "tiny", "--out-dir", tmp_path / "models",
            "--run-dir", tmp_path / "run", "--iters", "1", "--size", "32", "--batch", "1", "--threads", "1",
            "--device", "cpu", "--holdout-every", "3", "--no-progress"]
    r = run_cli(*args, "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("train generator", "image", painting, 800, 500, "0.3"), r.stderr
    assert not (tmp_path / "models" / "tiny.safetensors").exists()
    r = run_cli(*args, "--max-megapixels", "0.5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "models" / "tiny.safetensors").is_file()


def test_train_refuses_a_photo_over_its_limit_before_training(tmp_path):
    """Generator and xnor share the photo reader (style/data.load_rgb; the held-out photo too, read
    before the first step); the AdaIN trainer has its own (load_images): photos then paintings."""
    photos = tmp_path / "photos"
    photos.mkdir()
    small = [write_png(photos / f"p{i}.png", size=(64, 48), seed=20 + i) for i in range(2)]
    held = write_png(photos / "p2.png", size=(800, 500), seed=22)  # the held-out one (every 3rd)
    out = ["--out", "tiny", "--out-dir", tmp_path / "models", "--iters", "1", "--size", "32", "--batch", "1",
           "--threads", "1", "--device", "cpu"]
    r = run_cli("train", "generator", "--content", photos, "--style", small[0], *out, "--run-dir", tmp_path / "run",
                "--holdout-every", "3", "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("train generator", "image", held, 800, 500, "0.3"), r.stderr
    r = run_cli("train", "xnor", "--from", "great_wave", "--content", photos, *out, "--holdout-every", "0",
                "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("train xnor", "image", held, 800, 500, "0.3"), r.stderr
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    painting = write_png(paintings / "big.png", size=(800, 500), seed=23)
    held.unlink()
    r = run_cli("train", "adain", "--content", photos, "--styles", paintings, *out, "--run-dir", tmp_path / "run_a",
                "--holdout", "0", "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == said("train adain", "image", painting, 800, 500, "0.3"), r.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.parametrize("command", [["eval", "--content", "x", "--styles", "y"],
                                     ["train", "adain", "--content", "x", "--styles", "y"],
                                     ["train", "generator", "--content", "x", "--style", "y", "--out", "z"]])
def test_a_limit_out_of_range_is_one_line(tmp_path, command):
    r = run_cli(*command, "--max-megapixels", "0", cwd=tmp_path)
    assert r.returncode == 2
    name = " ".join(command[:2]) if command[0] == "train" else command[0]  # a train kind is named in full
    assert one_error_line(r.stderr) == (f"artem-vr {name}: error: --max-megapixels 0 is out of range — "
                                        "use 0.01–10000, e.g. --max-megapixels 120")


@pytest.mark.parametrize("command", [["eval"], ["train", "generator"], ["train", "adain"], ["train", "xnor"]])
def test_the_option_is_run_s_own_with_its_default_stated(command):
    """One definition: the same help text and default as `run`'s, the default said in the help."""
    def option(names):
        sp = command_parser(build_parser(), names[0])
        for name in names[1:]:
            sp = next(a for a in sp._actions if isinstance(a, argparse._SubParsersAction)).choices[name]  # noqa: SLF001
        return next(a for a in sp._actions if "--max-megapixels" in a.option_strings)  # noqa: SLF001

    ours, runs = option(command), option(["run"])
    assert (ours.help, ours.default, ours.type, ours.metavar) == (runs.help, runs.default, runs.type, runs.metavar)
    assert ours.help.endswith("(default 50)")
