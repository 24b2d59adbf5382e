"""Bad, degenerate, fuzzed and oversized inputs: one line, exit 2, no traceback, nothing written;
and memory is bounded before decoding."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from faults_helpers import child_env, one_error_line, partials, run_cli, write_png, write_video


def png_claiming(path, w: int, h: int):
    """A tiny PNG file whose header claims w×h (a decompression bomb's header; the data is 1 row)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * (3 * w + 1)))
                     + chunk(b"IEND", b""))
    return path


def _bad_inputs(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", n=20)
    png = write_png(tmp_path / "ok.png")
    text = "hello, this is not a picture\n" * 50
    cases = {
        "text named mp4": (tmp_path / "t.mp4", text, "o.mp4", "text file"),
        "text named png": (tmp_path / "t.png", text, "o.png", "not an image"),
        "text named jpg": (tmp_path / "t.jpg", text, "o.jpg", "not an image"),
        "text, unknown ext, image out": (tmp_path / "t.dat", text, "o.png", "not an image"),
        "random bytes mp4": (tmp_path / "r.mp4", np.random.default_rng(3).bytes(5000), "o.mp4", "video"),
        "truncated mp4": (tmp_path / "cut.mp4", clip.read_bytes()[: clip.stat().st_size // 3], "o.mp4", "video"),
        "truncated png": (tmp_path / "cut.png", png.read_bytes()[:200], "o.png", "truncated"),
        "empty png": (tmp_path / "e.png", b"", "o.png", "empty"),
        "1x1 image": (tmp_path / "one.png", cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(), "o.png", "too small"),
        "1 px wide": (tmp_path / "thin.png", cv2.imencode(".png", np.zeros((300, 1, 3), np.uint8))[1].tobytes(), "o.png", "too small"),
        "5x5 image": (tmp_path / "five.png", cv2.imencode(".png", np.zeros((5, 5, 3), np.uint8))[1].tobytes(), "o.png", "too small"),
    }
    for name, (path, data, _out, _needle) in cases.items():
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
    return cases


@pytest.mark.parametrize("case", ["text named mp4", "text named png", "text named jpg", "text, unknown ext, image out",
                                  "random bytes mp4", "truncated mp4", "truncated png", "empty png", "1x1 image",
                                  "1 px wide", "5x5 image"])
def test_bad_stylize_input_is_one_line(tmp_path, cli, case):
    path, _, out, needle = _bad_inputs(tmp_path)[case]
    code, stdout, err = cli("stylize", path, tmp_path / out, "--method", "identity")
    assert code == 2, (stdout, err)
    assert needle in one_error_line(err).lower()
    assert not (tmp_path / out).exists() and partials(tmp_path) == []


@pytest.mark.parametrize("case", ["text named png", "text named jpg", "empty png"])
def test_a_file_named_an_image_that_is_none_is_refused_before_the_model_loads(tmp_path, cli, case):
    """Its first bytes are read first: the one line comes before the stylizer is built (nothing on
    stdout: no engine line, no model loaded for an input that cannot be stylized)."""
    path, _, out, _ = _bad_inputs(tmp_path)[case]
    code, stdout, err = cli("stylize", path, tmp_path / out)
    said = "is empty (0 bytes)" if case == "empty png" else "is not an image file (by its content: no png, jpg, bmp, webp, gif or tiff header)"
    assert code == 2 and one_error_line(err).startswith(f"artem-vr stylize: error: {path} {said}"), err
    assert stdout == ""
    assert not (tmp_path / out).exists() and partials(tmp_path) == []


@pytest.mark.parametrize("case", ["text named png", "text named jpg"])
def test_run_on_a_file_named_an_image_that_is_none_says_so_not_that_a_video_failed(tmp_path, cli, case):
    """`run --source t.png` with text in it: not an image (what its name says it is), rather than
    "OpenCV cannot open video t.png" and advice to give an mp4."""
    path, _, _, _ = _bad_inputs(tmp_path)[case]
    code, stdout, err = cli("run", "--source", path, "--output", "headless", "--method", "identity", "--frames", "2",
                            "--eye-size", "64x48", "--out", tmp_path / "o")
    assert code == 2 and one_error_line(err) == (
        f"artem-vr run: error: {path} is not an image file (by its content: no png, jpg, bmp, webp, gif or tiff "
        "header) — give a png/jpg/bmp/webp/tiff image, or a video file under its own name (e.g. .mp4)"), err
    assert not (tmp_path / "o").exists()


def test_stylize_on_a_video_named_as_an_image_says_what_it_is(tmp_path, cli):
    """A real mp4 named .jpg: stylize goes by the names (OUT's type follows), so it says the input is
    a video under an image's name, before the model loads; `run --source` plays it by its content
    (tests/sources/test_sources_files.py)."""
    disguised = tmp_path / "clip.jpg"
    disguised.write_bytes(write_video(tmp_path / "clip.mp4", n=5).read_bytes())
    code, stdout, err = cli("stylize", disguised, tmp_path / "o.jpg")
    assert code == 2 and stdout == ""
    assert one_error_line(err) == (f"artem-vr stylize: error: {disguised} is a video (mp4) named as an image — give it "
                                   "a video's name (.mp4, .avi, .mkv, ...) and OUT one too, e.g. out.mp4"), err


def test_tiny_tiny_tiny_video_is_one_line(tmp_path, cli):
    clip = write_video(tmp_path / "small.mp4", n=5, size=(8, 8))
    code, _, err = cli("stylize", clip, tmp_path / "o.mp4", "--method", "identity")
    assert code == 2 and "too small" in one_error_line(err)


@pytest.mark.parametrize("kind", ["png", "jpg", "mp4"])
def test_fuzzed_files_never_give_a_traceback_or_a_broken_output(tmp_path, cli, kind):
    """Seeded mutations (byte flips, cuts, zeroed runs) of a good file: either a verified output
    (exit 0) or one line (exit 2); never a traceback, never a partial file."""
    good = write_video(tmp_path / "good.mp4", n=6) if kind == "mp4" else write_png(tmp_path / f"good.{kind}")
    data = good.read_bytes()
    rng = np.random.default_rng({"png": 11, "jpg": 12, "mp4": 13}[kind])
    outcomes = {0: 0, 2: 0}
    for i in range(12):
        b = bytearray(data)
        how = i % 3
        if how == 0:
            for j in rng.integers(0, len(b), size=8):
                b[j] ^= int(rng.integers(1, 256))
        elif how == 1:
            b = b[: int(rng.integers(1, len(b)))]
        else:
            j = int(rng.integers(0, len(b) - 64))
            b[j : j + 64] = bytes(64)
        src = tmp_path / f"f{i}.{kind}"
        src.write_bytes(bytes(b))
        out = tmp_path / f"o{i}.{'mp4' if kind == 'mp4' else 'png'}"
        code, stdout, err = cli("stylize", src, out, "--method", "identity", "--temporal", "off")
        assert code in (0, 2), err
        outcomes[code] += 1
        if code == 0:
            assert "wrote" in stdout
            if kind == "mp4":
                assert cv2.VideoCapture(str(out)).read()[0]
            else:
                assert cv2.imread(str(out)) is not None
        else:
            one_error_line(err)
            assert not out.exists()
    assert partials(tmp_path) == []
    assert outcomes[2] > 0, outcomes  # the mutations did produce bad files


def test_huge_image_header_is_refused_before_decoding(tmp_path, cli):
    bomb = png_claiming(tmp_path / "bomb.png", 12000, 9000)
    code, _, err = cli("stylize", bomb, tmp_path / "o.png", "--method", "identity", "--max-side", "0")
    line = one_error_line(err)
    assert code == 2 and "108.0 megapixels" in line and "--max-megapixels" in line


def test_max_megapixels_moves_the_limit(tmp_path, cli):
    src = write_png(tmp_path / "in.png", size=(200, 100))  # 0.02 MP
    code, _, err = cli("stylize", src, tmp_path / "o.png", "--method", "identity", "--max-megapixels", "0.01")
    assert code == 2 and "over the limit of 0.01 megapixels" in one_error_line(err)
    code, _, err = cli("stylize", src, tmp_path / "o.png", "--method", "identity", "--max-megapixels", "0.03")
    assert code == 0, err
    clip = write_video(tmp_path / "c.mp4", n=4, size=(160, 120))
    code, _, err = cli("stylize", clip, tmp_path / "o.mp4", "--method", "identity", "--max-megapixels", "0.01")
    assert code == 2 and "video" in one_error_line(err) and "160x120" in err
    for bad in ("0", "-1", "1e9"):
        code, _, err = cli("stylize", src, tmp_path / "o.png", "--method", "identity", "--max-megapixels", bad)
        assert code == 2 and "out of range" in one_error_line(err)


def test_max_megapixels_moves_the_limit_of_run(tmp_path, cli):
    """run hands its limit to the source it opens; the next command in the same process has its own."""
    src = write_png(tmp_path / "in.png", size=(200, 100))  # 0.02 MP
    args = ("run", "--output", "headless", "--source", src, "--method", "identity", "--frames", "2",
            "--eye-size", "64x48", "--out", tmp_path / "o")
    code, _, err = cli(*args, "--max-megapixels", "0.01")
    assert code == 2 and "over the limit of 0.01 megapixels" in one_error_line(err)
    code, out, err = cli(*args)  # no limit given: the default, not the last command's
    assert code == 0 and "presented" in out, err
    code, _, err = cli(*args, "--max-megapixels", "0")
    assert code == 2 and "out of range" in one_error_line(err)


@pytest.mark.parametrize("value", ["-5", "3", "99999"])
def test_max_side_is_range_checked(tmp_path, cli, value):
    src = write_png(tmp_path / "in.png")
    code, _, err = cli("stylize", src, tmp_path / "o.png", "--method", "identity", "--max-side", value)
    assert code == 2 and "--max-side" in one_error_line(err)


def test_run_with_a_bomb_source_is_bounded_and_one_line(tmp_path):
    """As a live source, a 108 MP header is refused at start: one line, exit 2, little memory."""
    bomb = png_claiming(tmp_path / "bomb.png", 12000, 9000)
    r = run_cli("run", "--output", "headless", "--source", bomb, "--frames", "3", "--method", "identity",
                "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2 and "megapixels" in one_error_line(r.stderr)


@pytest.mark.slow  # four real runs of the CLI with AdaIN on the CPU: ~20 s on 2 busy cores
def test_max_megapixels_holds_for_the_style_image_of_stylize_and_run(tmp_path):
    """The painting given to AdaIN (--style PAINTING) is read under the command's limit, as the input is —
    not under the default 50 MP. (The shipped paintings are at most 0.1 MP: the limits here are above them.)"""
    painting = write_png(tmp_path / "painting.png", size=(800, 500), seed=3)  # 0.4 MP
    src = write_png(tmp_path / "in.png", size=(48, 32))
    said = (f"image {painting} is 800x500 (0.4 megapixels), over the limit of 0.3 megapixels — downscale it first, "
            "or raise the limit with --max-megapixels N")
    stylize = ["stylize", src, tmp_path / "o.png", "--style", painting, "--device", "cpu"]
    r = run_cli(*stylize, "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == f"artem-vr stylize: error: {said}", r.stderr
    assert not (tmp_path / "o.png").exists()
    r = run_cli(*stylize, "--max-megapixels", "0.5", cwd=tmp_path)
    assert r.returncode == 0 and f"adain: {painting})" in r.stdout, r.stderr
    assert cv2.imread(str(tmp_path / "o.png")).shape == (32, 48, 3)
    run = ["run", "--output", "headless", "--source", src, "--style", painting, "--frames", "2", "--eye-size", "64x48",
           "--device", "cpu", "--out", tmp_path / "r"]
    r = run_cli(*run, "--max-megapixels", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and one_error_line(r.stderr) == f"artem-vr run: error: {said}", r.stderr
    r = run_cli(*run, "--max-megapixels", "0.5", cwd=tmp_path)
    assert r.returncode == 0 and "presented" in r.stdout and f"style: {painting}" in r.stdout, r.stderr
    # a limit below the shipped paintings: the one the user named is the only one read
    small = write_png(tmp_path / "small.png", size=(100, 80), seed=4)
    for cmd, out in (("run", ["--output", "headless", "--frames", "2", "--eye-size", "64x48", "--out", tmp_path / "r2"]),
                     ("stylize", [tmp_path / "o2.png"])):
        args = [cmd, *(["--source", src] if cmd == "run" else [src]), *out, "--style", small, "--device", "cpu",
                "--max-megapixels", "0.05"]
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr


def _run_importtime(*argv, cwd) -> tuple[subprocess.CompletedProcess, set[str], str]:
    """``artem-vr ARGV`` as a real child process under ``-X importtime``: (result, the top-level
    packages it imported, its stderr without the import lines)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "artem_vr", *map(str, argv)], cwd=cwd,
                       capture_output=True, text=True, timeout=180, env=child_env())
    lines = r.stderr.splitlines()
    imported = {ln.rsplit("|", 1)[1].strip().split(".")[0] for ln in lines if ln.startswith("import time:")}
    return r, imported, "\n".join(ln for ln in lines if not ln.startswith("import time:"))


def _cheap_cases(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello, this is not a video\n" * 50)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "cut.png").write_bytes(write_png(tmp_path / "ok.png", size=(64, 48)).read_bytes()[:200])
    run = ["run", "--output", "headless", "--frames", "2", "--eye-size", "64x48", "--device", "cpu", "--out", tmp_path / "o"]
    stylize = ["--device", "cpu"]
    return {
        "run: a source that is not there": ([*run, "--source", "missing.mp4"], "no such file: missing.mp4"),
        "run: a folder as the source": ([*run, "--source", "folder"], "folder is a directory"),
        "run: an empty video": ([*run, "--source", "empty.mp4"], "empty.mp4 is empty (0 bytes)"),
        "run: text named as a video": ([*run, "--source", "text.mp4"], "OpenCV cannot open video text.mp4: it is a text file"),
        "run: a panorama that is not there": ([*run, "--source", "sim-camera:missing.jpg"], "panorama missing.jpg: no such file"),
        "run: a style image that is not there": ([*run, "--source", "ok.png", "--style", "missing.jpg"],
                                                 "style image 'missing.jpg' not found"),
        "run: --record under a file": ([*run, "--source", "ok.png", "--record", "a_file/run.mp4"], "a_file is a file, not a folder"),
        "stylize: an empty video": (["stylize", "empty.mp4", "out.mp4", *stylize], "video file is empty (0 bytes): empty.mp4"),
        "stylize: text named as a video": (["stylize", "text.mp4", "out.mp4", *stylize],
                                           "OpenCV cannot open video text.mp4: it is a text file"),
        "stylize: a truncated image": (["stylize", "cut.png", "out.png", *stylize], "cut.png"),
        "stylize: a style image that is not there": (["stylize", "ok.png", "out.png", "--style", "missing.jpg", *stylize],
                                                     "style image 'missing.jpg' not found"),
    }


@pytest.mark.parametrize("case", ["run: a source that is not there", "run: a folder as the source", "run: an empty video",
                                  "run: text named as a video", "run: a panorama that is not there",
                                  "run: a style image that is not there", "run: --record under a file",
                                  "stylize: an empty video", "stylize: text named as a video", "stylize: a truncated image",
                                  "stylize: a style image that is not there"])
def test_an_input_that_cannot_be_used_is_said_before_any_model_loads(tmp_path, case):
    """A source, input, painting or recording path that is unusable is found by cheap checks (the
    file exists, is no folder, its first bytes, OpenCV opens it and decodes a frame): one line,
    exit 2, and no model built: nothing on stdout (every stylizer built says its engine there),
    and neither ONNX Runtime (the CPU's default generator engine loads it with the model) nor
    torchvision (AdaIN's VGG encoder) ever imported — the control below shows the first two when a
    model does load."""
    argv, said = _cheap_cases(tmp_path)[case]
    r, imported, err = _run_importtime(*argv, cwd=tmp_path)
    command = argv[0]
    assert r.returncode == 2, err
    line = one_error_line(err)
    assert line.startswith(f"artem-vr {command}: error: ") and said in line, line
    assert r.stdout == ""
    assert not imported & {"onnxruntime", "torchvision"}, sorted(imported & {"onnxruntime", "torchvision"})
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("out.*"))


def test_the_control_a_usable_input_loads_the_model(tmp_path):
    """What the test above rules out: with a usable source the model loads, says its engine on
    stdout and (the CPU's default engine) imports ONNX Runtime."""
    write_video(tmp_path / "clip.mp4", n=10)
    r, imported, err = _run_importtime("run", "--output", "headless", "--frames", "1", "--eye-size", "64x48", "--device", "cpu",
                                       "--source", "clip.mp4", "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 0, err
    assert r.stdout.startswith("generator engine: ort"), r.stdout
    assert "onnxruntime" in imported
