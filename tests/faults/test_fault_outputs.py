"""Outputs are all or nothing: never over an input, never reported when broken, never half there."""

from __future__ import annotations

import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from faults_helpers import (ARTEM, child_env, count_frames, digest, one_error_line, partials, run_cli, write_png,
                            write_video)

from artem_vr.atomic import AtomicVideoWriter, commit, verify_video, write_image_atomic
from artem_vr.errors import ConventionError, ImageError, UsageError


@pytest.mark.parametrize("kind", ["image", "video"])
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotted"])
def test_output_that_is_the_input_is_refused_before_reading(tmp_path, cli, kind, how):
    src = write_png(tmp_path / "in.png") if kind == "image" else write_video(tmp_path / "in.mp4", n=20)
    before = digest(src)
    out = {"same": src, "dotted": tmp_path / "." / src.name}.get(how, tmp_path / f"link{src.suffix}")
    if how == "symlink":
        out.symlink_to(src)
    elif how == "hardlink":
        os.link(src, out)
    code, stdout, err = cli("stylize", src, out, "--method", "identity")
    assert code == 2 and "same file as the input" in one_error_line(err) and "wrote" not in stdout
    assert digest(src) == before and count_frames(src) == (20 if kind == "video" else 1)
    assert partials(tmp_path) == []


def test_output_that_is_the_style_image_is_refused(tmp_path, cli):
    src, style = write_png(tmp_path / "in.png"), write_png(tmp_path / "style.png", seed=5)
    before = digest(style)
    code, _, err = cli("stylize", src, style, "--method", "adain", "--style", style)
    assert code == 2 and "same file as the input" in one_error_line(err)
    assert digest(style) == before


@pytest.mark.parametrize("spec", ["{s}:0.5+starry_night:0.5", "starry_night+{s}", "{s}:0.7"])
def test_output_that_is_a_blends_style_image_is_refused(tmp_path, cli, spec):
    """A painting named inside a blend (or with a weight) is read like a lone one: never the output."""
    src, style = write_png(tmp_path / "in.png"), write_png(tmp_path / "style.png", seed=5)
    before = digest(style)
    code, stdout, err = cli("stylize", src, style, "--style", spec.format(s=style))
    assert code == 2 and "same file as the input" in one_error_line(err) and "wrote" not in stdout
    assert digest(style) == before and partials(tmp_path) == []


@pytest.mark.parametrize("option, reads", [("--comfort-json", "videos"), ("--json", "videos"), ("--sheet", "content"),
                                           ("--json", "styles")])
def test_an_eval_output_that_is_an_input_is_refused_before_the_work(tmp_path, cli, option, reads):
    """eval --comfort-json vids/clip.mp4 replaced the video it measured with its JSON."""
    vids = tmp_path / "vids"
    vids.mkdir()
    clip, photo, style = write_video(vids / "clip.mp4", n=6), write_png(tmp_path / "in.png"), write_png(tmp_path / "s.png", seed=5)
    victim = {"videos": clip, "content": photo, "styles": style}[reads]
    argv = (["--videos", vids, "--video-frames", "3", "--method", "identity"] if reads == "videos"
            else ["--content", photo, "--styles", style, "--method", "adain"])
    before = digest(victim)
    code, stdout, err = cli("eval", *argv, option, tmp_path / "." / victim.relative_to(tmp_path))
    assert code == 2 and f"{option} " in one_error_line(err) and "same file as the input" in one_error_line(err), err
    assert digest(victim) == before and "wrote" not in stdout and "|" not in stdout  # refused before measuring
    assert partials(vids) == partials(tmp_path) == []


def test_stylize_replaces_an_existing_output_only_when_complete(tmp_path, cli):
    src, out = write_video(tmp_path / "in.mp4", n=12), write_video(tmp_path / "out.mp4", n=3, seed=9)
    code, stdout, err = cli("stylize", src, out, "--method", "identity")
    assert code == 0, err
    assert "wrote" in stdout and "12 frames" in stdout and count_frames(out) == 12
    assert partials(tmp_path) == []


@pytest.mark.parametrize("kind", ["video", "image"])
def test_full_disk_stylize_is_an_error_and_the_target_survives(tmp_path, kind):
    """Writes past 20 kB fail (EFBIG, as on a full disk): exit 2, one line, old target intact, no temp left."""
    if kind == "video":
        src, out = write_video(tmp_path / "in.mp4", n=40), write_video(tmp_path / "out.mp4", n=5, seed=3)
    else:
        src, out = write_png(tmp_path / "in.png", size=(200, 150)), write_png(tmp_path / "out.png", size=(20, 20), seed=3)
    before = digest(out)
    r = run_cli("stylize", src, out, "--method", "identity", "--temporal", "off", cwd=tmp_path, max_file_bytes=20_000)
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "disk" in line and out.name in line
    assert "wrote" not in r.stdout
    assert digest(out) == before
    assert partials(tmp_path) == []


def test_full_disk_recording_reports_no_success(tmp_path):
    src = write_video(tmp_path / "in.mp4", n=30)
    rec = write_video(tmp_path / "rec.mp4", n=4, seed=4)
    before = digest(rec)
    r = run_cli("run", "--output", "headless", "--source", src, "--record", rec, "--frames", "20", "--method", "identity",
                "--out", tmp_path / "o", cwd=tmp_path, max_file_bytes=8_000)
    assert r.returncode == 2, r.stderr
    assert "recorded" not in r.stdout
    assert "disk" in one_error_line(r.stderr)
    assert digest(rec) == before and partials(tmp_path) == []


def test_recording_over_its_own_source_is_refused(tmp_path):
    src = write_video(tmp_path / "clip.mp4", n=30)
    before = digest(src)
    r = run_cli("run", "--output", "headless", "--source", src, "--record", src, "--frames", "10", "--method", "identity",
                "--eye-size", "64x48", "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2
    assert "same file as the input" in one_error_line(r.stderr) and "recorded" not in r.stdout
    assert digest(src) == before and count_frames(src) == 30 and partials(tmp_path) == []


def test_recorder_says_so_before_replacing_the_png_beside_and_can_refuse(tmp_path, capsys):
    from artem_vr.recording import Recorder

    png = write_png(tmp_path / "r.png")
    before = digest(png)
    with pytest.raises(UsageError, match="r.png exists"):
        Recorder(tmp_path / "r.mp4", png=png, replace_png=False)
    assert digest(png) == before
    rec = Recorder(tmp_path / "r.mp4", png=png)
    assert "r.png exists and will be replaced" in capsys.readouterr().err
    frames = [np.full((24, 32, 3), 40 * i, np.uint8) for i in range(5)]
    for f in frames:
        rec.add([f])
    rec.close()
    assert count_frames(tmp_path / "r.mp4") == 5 == rec.frames
    assert cv2.imread(str(png)).shape == (24, 32, 3)
    with pytest.raises(UsageError, match="both"):
        Recorder(tmp_path / "x.png", png=tmp_path / "x.png")
    with pytest.raises(UsageError, match="same file as the input"):
        Recorder(tmp_path / "r.mp4", png=None, inputs=[tmp_path / "r.mp4"])


def test_a_video_whose_frame_count_does_not_verify_never_replaces_the_target(tmp_path):
    target = write_video(tmp_path / "t.mp4", n=3, seed=7)
    before = digest(target)
    w = AtomicVideoWriter(target, fps=30)
    for i in range(6):
        w.write(np.full((16, 16, 3), 30 * i, np.uint8))
    w._writer.close()
    tmp = w._writer.path
    assert count_frames(tmp) == 6
    with pytest.raises(ImageError, match="has 6 decodable frames of the 7 written"):
        commit(tmp, target, lambda p: verify_video(p, 7))
    assert digest(target) == before and not tmp.exists()


@pytest.mark.parametrize("in_file", [True, False])
def test_a_signal_between_a_frames_write_and_its_count_still_records_what_the_file_has(tmp_path, in_file):
    """A signal raises its exception in the main thread between two bytecodes: after the encoder took
    a frame and before the writer counted it (the file then has one frame more than counted — a CI
    run's "33 decodable frames of the 32 written" for a recording stopped by SIGHUP), or before the
    encoder took it. Either way the recording closes, plays, and says the frames it has; a frame
    missing for another reason still fails the check (the test above)."""
    from artem_vr.errors import Interrupted
    from artem_vr.recording import Recorder

    rec = Recorder(tmp_path / "r.mp4")
    for i in range(5):
        rec.add([np.full((16, 16, 3), 40 * i, np.uint8)])
    enc = rec._writer._writer
    real = enc.write

    def interrupted(rgb):
        if in_file:
            real(rgb)
        raise Interrupted(1)

    enc.write = interrupted
    with pytest.raises(Interrupted):
        rec.add([np.full((16, 16, 3), 250, np.uint8)])
    rec.close()
    assert rec.frames == count_frames(rec.path) == (6 if in_file else 5)
    assert partials(tmp_path) == []


def test_discarded_and_empty_writers_leave_nothing(tmp_path):
    target = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError):
        with AtomicVideoWriter(target) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError("stop")
    assert not target.exists() and partials(tmp_path) == []
    assert AtomicVideoWriter(target).close() is None and not target.exists()


def test_image_write_that_fails_leaves_the_target(tmp_path):
    target = write_png(tmp_path / "t.png")
    before = digest(target)
    with pytest.raises(ConventionError):
        write_image_atomic(target, np.zeros((4, 4), np.uint8))  # not RGB: refused by the writer
    assert digest(target) == before and partials(tmp_path) == []
    with pytest.raises(UsageError, match="does not exist"):
        write_image_atomic(tmp_path / "nope" / "x.png", np.zeros((4, 4, 3), np.uint8))


def _without_root_override() -> list[str]:
    """The prefix that makes a root child meet file permissions as any user does (root bypasses
    them): setpriv without the two capabilities that override them; nothing for another user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop the file-permission override")
    return [shutil.which("setpriv"), "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("kind", ["stylize image", "stylize video", "stylize into a new folder", "run", "run --record",
                                  "eval --sheet", "eval --json", "bench --json"])
def test_a_folder_it_may_not_write_into_is_said_first_and_by_its_cause(tmp_path, kind):
    """An output folder without write permission: one line naming the output and the cause, before
    the model is loaded and frames are made — not a codec that is "unavailable", a fall-back
    `.avi` name the user never gave, or a writer's hidden temporary name."""
    locked = tmp_path / "locked"
    locked.mkdir()
    img, clip = write_png(tmp_path / "in.png"), write_video(tmp_path / "in.mp4", n=6)
    argv, target = {
        "stylize image": (["stylize", img, locked / "o.png"], locked / "o.png"),
        "stylize video": (["stylize", clip, locked / "o.mp4"], locked / "o.mp4"),
        "stylize into a new folder": (["stylize", img, locked / "new" / "o.png"], locked / "new" / "o.png"),
        "run": (["run", "--output", "headless", "--frames", "3", "--eye-size", "64x48", "--out", locked / "o"],
                locked / "o" / "run.mp4"),
        "run --record": (["run", "--output", "headless", "--frames", "3", "--eye-size", "64x48", "--out", tmp_path / "o",
                          "--record", locked / "r.mp4"], locked / "r.mp4"),
        # said before the evaluation or the measurements, not when their files are written at the end
        "eval --sheet": (["eval", "--content", img, "--styles", "starry_night", "--sheet", locked / "new" / "s.png"],
                         locked / "new" / "s.png"),
        "eval --json": (["eval", "--content", img, "--styles", "starry_night", "--json", locked / "e.json"], locked / "e.json"),
        "bench --json": (["bench", "--json", locked / "b.json"], locked / "b.json"),
    }[kind]
    os.chmod(locked, 0o555)
    try:
        r = subprocess.run([*_without_root_override(), *ARTEM, *map(str, argv)], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env=child_env())
    finally:
        os.chmod(locked, 0o755)
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == (f"artem-vr {kind.split()[0]}: error: permission denied: cannot write {target} — "
                                        "check its permissions and those of its folder (ls -l), or use a path you own")
    assert "engine" not in r.stdout and "presented" not in r.stdout and "loss" not in r.stdout, r.stdout  # before any work
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("kind", ["image", "video"])
def test_stylize_makes_the_folders_of_its_output_as_every_command_does(tmp_path, cli, kind):
    """`stylize a.jpg new/dir/b.jpg` writes (as `run --record`, `eval --sheet`, `bench --json` and
    `export --out` do) instead of refusing a folder that is still to be made."""
    src = write_png(tmp_path / "in.png") if kind == "image" else write_video(tmp_path / "in.mp4", n=6)
    out = tmp_path / "new" / "dir" / f"out{src.suffix}"
    code, stdout, err = cli("stylize", src, out, "--method", "identity")
    assert code == 0, err
    assert f"wrote {out}" in stdout and count_frames(out) == (6 if kind == "video" else 1)
    assert partials(out.parent) == []


@pytest.mark.parametrize("argv", [["eval", "--content", "{img}", "--styles", "starry_night", "--json", "{img}/e.json"],
                                  ["eval", "--content", "{img}", "--styles", "starry_night", "--comfort-images", "{img}/strips"],
                                  ["bench", "--profile", "{img}/p"],
                                  ["stylize", "{img}", "{img}/new/o.png"]])
def test_a_file_where_an_output_folder_must_be_is_said_before_the_work(tmp_path, cli, argv):
    img = write_png(tmp_path / "in.png")
    code, stdout, err = cli(*[a.format(img=img) for a in argv])
    assert code == 2 and one_error_line(err).endswith(f"{img} is a file, not a folder — give a path whose folders are folders"), err
    assert "engine" not in stdout and "loss" not in stdout, stdout


def test_a_video_writer_in_a_folder_it_may_not_write_says_so_not_that_the_codec_is_missing(tmp_path):
    """OpenCV only says that it could not open the file: the writer finds the OSError behind that
    (here: permission denied) instead of falling back to MJPG under a name the user never gave."""
    locked = tmp_path / "locked"
    locked.mkdir()
    code = ("import numpy as np\nfrom artem_vr.encode import VideoWriterRGB\n"
            "try:\n    VideoWriterRGB('locked/x.mp4').write(np.zeros((48, 64, 3), np.uint8))\n"
            "except OSError as e:\n    print(type(e).__name__, e.filename)\n")
    os.chmod(locked, 0o555)
    try:
        r = subprocess.run([*_without_root_override(), ARTEM[0], "-c", code], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, env=child_env())
    finally:
        os.chmod(locked, 0o755)
    assert r.returncode == 0 and r.stdout == "PermissionError locked/x.mp4\n" and r.stderr == "", (r.stdout, r.stderr)
    assert list(locked.iterdir()) == []
