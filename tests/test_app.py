"""The run pipeline end to end, the CLI's error contract, and the controller."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from artem_vr.app import ControlState, Controller, StylizerWorker, parse_size
from artem_vr.errors import UsageError
from artem_vr.paths import STYLES_DIR


def test_parse_size():
    assert parse_size("1440x1600") == (1440, 1600)
    for bad in ("1440", "axb", "0x10", "10x99999", "12x"):
        with pytest.raises(UsageError):
            parse_size(bad)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--method", "cubism"], "unknown method"),
        (["run", "--eye-size", "big"], "not WxH"),
        (["run", "--source", "/nonexistent/clip.mp4", "--output", "headless"], "nonexistent"),
        (["run", "--output", "hologram"], "unknown output"),
        (["run", "--ipd", "150", "--output", "headless"], "IPD 150 mm"),
        (["run", "--internal-scale", "2", "--output", "headless"], "out of range"),
        (["stylize", str(STYLES_DIR / "great_wave.jpg"), "o.jpg", "--internal-scale", "0"], "out of range"),
        (["run", "--style", "no_such_style_xyz", "--output", "headless"], "no_such_style_xyz"),
        (["stylize", "/nonexistent.jpg", "out.jpg"], "does not exist"),
        (["run", "--output", "headless", "--mirror"], "--mirror only applies to the headset (--output xr)"),
        (["run", "--output", "headless", "--out", str(STYLES_DIR / "great_wave.jpg")], "great_wave.jpg is a file, not a folder"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2(cli, argv, needle):
    code, out, err = cli(*argv)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("env, value", [("ARTEM_VR_CONV_WAYS", "fastest"), ("ARTEM_VR_FRAME_GRAPH", "sometimes")])
def test_a_bad_engine_knob_is_said_at_start_up(cli, monkeypatch, env, value):
    """On any device, before the worker's first frame: one line naming the variable, exit 2."""
    monkeypatch.setenv(env, value)
    code, out, err = cli("run", "--output", "headless", "--frames", "1", "--eye-size", "64x48")
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and f"{env}={value!r}" in lines[0], err
    assert "Traceback" not in err and "presented" not in out


@pytest.mark.parametrize("argv, usage, said", [
    (["run", "--strenght", "0.5"], "usage: artem-vr run ", "artem-vr run: error: unrecognized arguments: --strenght "
                                                           "(did you mean --strength?) 0.5"),
    (["train", "generator", "--content", "c", "--style", "s", "--out", "o", "--itres", "5"], "usage: artem-vr train generator ",
     "artem-vr train generator: error: unrecognized arguments: --itres (did you mean --iters?) 5"),
    (["doctor", "--zzz"], "usage: artem-vr doctor ", "artem-vr doctor: error: unrecognized arguments: --zzz"),
    # no abbreviations: a shortening is named, never taken (a later option would change what it means);
    # the old spellings kept unshown (--holdout-every) are never offered
    (["run", "--str", "0.5"], "usage: artem-vr run ",
     "artem-vr run: error: unrecognized arguments: --str (did you mean --strength?) 0.5"),
    (["train", "generator", "--content", "c", "--style", "s", "--out", "o", "--hold", "2"], "usage: artem-vr train generator ",
     "artem-vr train generator: error: unrecognized arguments: --hold (did you mean --holdout?) 2"),
    (["run", "--st", "0.5"], "usage: artem-vr run ", "artem-vr run: error: unrecognized arguments: --st 0.5"),
])
def test_an_unknown_option_is_named_by_its_command(capsys, argv, usage, said):
    """The command's own usage and name (not the top level's), and the option meant where one is near."""
    from artem_vr.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(usage) and err.strip().splitlines()[-1] == said, err


@pytest.mark.parametrize("argv, said", [
    (["stylize", STYLES_DIR / "great_wave.jpg", "o.jpg", "--style", "starry_nigth"],
     "artem-vr stylize: error: unknown style 'starry_nigth' (did you mean starry_night?) — choose one of: starry_night"),
    (["run", "--output", "headless", "--method", "genrator"],
     "artem-vr run: error: unknown method 'genrator' (did you mean generator?) — choose one of: identity, generator"),
    (["bench", "--method", "adian"], "artem-vr bench: error: unknown method 'adian' for bench (did you mean adain?)"),
    (["stylize", STYLES_DIR / "great_wave.jpg", "o.jpg", "--method", "xnor", "--style", "the_scream"],
     "artem-vr stylize: error: style 'the_scream' has no xnor model here — use --method generator or adain, "
     "or one of the xnor styles: starry_night, great_wave"),
])
def test_a_mistyped_or_misplaced_style_or_method_says_the_one_meant(cli, tmp_path, monkeypatch, argv, said):
    """A typo in a style or method name names the nearest one (as a mistyped option does); a
    style that exists, but not for the method asked, says which methods have it."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*argv)
    assert code == 2 and err.startswith(said) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.jpg").exists()


@pytest.mark.parametrize("record, said", [("snap.jpg", "(.jpg) — give it one of .mp4, .m4v, .mov, .avi, .mkv, e.g. --record snap.mp4"),
                                           ("clip", "(no extension) — give it one of .mp4")])
def test_record_to_a_name_that_is_no_video_is_refused_before_the_run_starts(cli, tmp_path, monkeypatch, record, said):
    """`--record photo.jpg`: one line from the checked command line, not the video writer's once
    the model is loaded and the first frame is drawn."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("run", "--output", "headless", "--method", "identity", "--frames", "2", "--eye-size", "64x48",
                         "--record", record)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"artem-vr run: error: --record {record} is not a video name {said}"), err
    assert out == "" and list(tmp_path.iterdir()) == []


def test_cli_help_teaches():
    out = subprocess.run([sys.executable, "-m", "artem_vr", "run", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "examples:" in out.stdout and "--stereo" in out.stdout and "--eye-size" in out.stdout


def _help_of(command: str, *kind: str) -> dict[str, str]:
    """option → its help text, for `artem-vr COMMAND [KIND]` as the CLI builds it."""
    import argparse

    from artem_vr.cli import build_parser, command_parser

    sp = command_parser(build_parser(), command)
    for k in kind:
        sp = next(a for a in sp._actions if isinstance(a, argparse._SubParsersAction)).choices[k]  # noqa: SLF001
    return {max(a.option_strings, key=len) if a.option_strings else a.metavar: a.help or "" for a in sp._actions}


def test_stylize_help_says_each_default():
    helps = _help_of("stylize")
    assert "IN" in helps and "OUT" in helps  # the names its description and errors use
    for opt in ("--style", "--method", "--strength", "--max-side", "--temporal", "--device"):
        assert "default" in helps[opt], (opt, helps[opt])
    assert "default 1024" in helps["--max-side"] and "cuda:N" in helps["--device"]


def _controller(styles=("a", "b", "c")):
    lines = []
    st = ControlState(method="identity", methods=["identity"], styles=list(styles))
    return Controller(st, printer=lines.append), lines


def test_controller_steps_once_per_press_and_wraps():
    from artem_vr.sources.base import FrameSource

    class Stills(FrameSource):
        name = "stills"
        pace = 0.01

        def _open(self):
            pass

        def _grab(self):
            return np.full((8, 8, 3), 100, np.uint8)

    c, lines = _controller()
    with Stills() as src:
        w = StylizerWorker(src, c, device="cpu")
        w._active.set_style("a")
        c.next_style()
        c.next_style()
        c.next_style()
        c.prev_style()
        c.change_strength(-0.25)
        c.set_strength(7)
        c.toggle_stylize()
        w._apply(c.pending())
    assert lines == [
        "style: b (2/3)",
        "style: c (3/3)",
        "style: a (1/3)",
        "style: c (3/3)",
        "strength: 0.75",
        "strength: 1.00",
        "stylize: off",
    ]
    assert c.state.index == 2 and c.state.strength == 1.0 and not c.state.stylize


def test_headless_run_end_to_end(tmp_path, cli):
    out_dir = tmp_path / "out"
    code, out, err = cli("run", "--output", "headless", "--frames", "30", "--eye-size", "160x120",
                         "--out", out_dir)
    assert code == 0, err
    assert "output" not in err
    video, png = out_dir / "run.mp4", out_dir / "last.png"
    assert png.is_file()
    cap = cv2.VideoCapture(str(video if video.exists() else out_dir / "run.avi"))
    n = 0
    while cap.read()[0]:
        n += 1
    # real time: the clip lasts as long as the frames were on screen (30 fps timeline; on the
    # CPU the sample stylizes slower than that, so every presented frame is in it, some repeated)
    elapsed = float(re.search(r"presented 30 frames in ([\d.]+) s", out).group(1))
    assert 30 <= n <= (elapsed + 0.1) * 30, (n, elapsed)
    img = cv2.imread(str(png))
    assert img.shape == (120, 320, 3)  # both eyes side by side
    assert img.std() > 5  # the sample scene, not a blank frame
    assert "presented 30 frames" in out


def test_stylize_image_identity(tmp_path, cli):
    rng = np.random.default_rng(0)
    src = tmp_path / "in.png"
    img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(src), img)
    code, out, err = cli("stylize", src, tmp_path / "o.png", "--method", "identity")
    assert code == 0, err
    back = cv2.imread(str(tmp_path / "o.png"))
    assert np.array_equal(back, img)
    assert "downscaled" not in err
    code, out, err = cli("stylize", src, tmp_path / "small.png", "--method", "identity", "--max-side", "32")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "small.png")).shape == (24, 32, 3)
    assert "note: downscaled from 64x48 to 32x24 (--max-side 32; --max-side 0 keeps the size)" in err


def test_doctor_tells_the_truth_here(cli):
    code, out, err = cli("doctor")
    assert code == 0
    assert "CUDA" in out or "cuda" in out
    assert "OpenXR" in out or "openxr" in out.lower()
    assert "GL" in out


def test_doctor_says_a_missing_driver_once_without_a_raw_exception(cli):
    """Without an NVIDIA driver: `cuda` says so and that the CPU path is taken; `cuda driver` says
    what else is off. Neither repeats the other, nor quotes cuda-python's exception text."""
    from artem_vr.cuda.device import NO_DRIVER, driver_status

    if driver_status()[0]:
        pytest.skip("this machine has a CUDA driver")
    code, out, err = cli("doctor")
    lines = [ln for ln in out.splitlines() if "] cuda" in ln]
    assert code == 0 and len(lines) == 2, out
    assert "Error" not in out and "cuInit" not in out, out
    if driver_status()[1] == NO_DRIVER:
        assert lines == ["[info] cuda               no CUDA driver (no NVIDIA driver found): CPU path (stylizing runs on "
                         "the CPU; use the compact models)",
                         "[info] cuda driver        none: the GPU kernels and the CUDA-GL upload are off"], out
    assert sum("CPU path" in ln for ln in lines) == 1, out


def test_recording_is_kept_when_the_source_fails(tmp_path):
    """A source that dies mid-run stops the run with its error; what was recorded is playable."""
    from artem_vr.app import Pipeline, Recorder
    from artem_vr.errors import SourceError
    from artem_vr.render.headless import run_headless
    from artem_vr.render.renderer import ViewConfig
    from artem_vr.sources.base import FrameSource

    class Dying(FrameSource):
        name = "dying"
        pace = 0.02

        def _open(self):
            self.n = 0

        def _grab(self):
            self.n += 1
            if self.n > 12:
                raise SourceError("camera unplugged", "plug it back in")
            return np.full((24, 32, 3), self.n * 10, np.uint8)

    c, _lines = _controller(("identity",))
    src = Dying()
    worker = StylizerWorker(src, c, device="cpu")
    rec = Recorder(tmp_path / "r.mp4", fps=30.0, png=tmp_path / "r.png")
    p = Pipeline(src, worker, c, max_frames=10_000, recorder=rec)
    try:
        with src:
            worker.start()
            p.wait_first()
            run_headless(p, eye_size=(32, 24), view=ViewConfig(mode="full"))
    finally:
        worker.stop()
        p.close_recording()
    assert isinstance(worker.error, SourceError)
    assert rec.frames >= 2  # frames on the recording's 30 fps timeline, for as long as they were shown
    cap = cv2.VideoCapture(str(rec.path))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == rec.frames
    assert cv2.imread(str(tmp_path / "r.png")) is not None


def test_stylize_picks_the_adain_decoder_variant(tmp_path, cli):
    """--adain-variant reaches the stylizer: fast stylizes; a variant whose decoder is not shipped
    is one clear line naming the training command."""
    from artem_vr.style.adain import default_weights

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), (np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8))
    code, out, err = cli("stylize", src, tmp_path / "o.png", "--method", "adain", "--style", "great_wave",
                         "--adain-variant", "fast")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "o.png")).shape == (40, 56, 3)
    code, _, err = cli("stylize", src, tmp_path / "f.png", "--method", "adain", "--adain-variant", "full")
    if default_weights("full").is_file():
        assert code == 0, err
        assert not np.array_equal(cv2.imread(str(tmp_path / "f.png")), cv2.imread(str(tmp_path / "o.png")))
    else:
        assert code == 2 and "adain_full" in err and "train adain" in err and len(err.strip().splitlines()) == 1


def test_stylize_arch_reaches_the_generator(tmp_path, cli):
    """--arch picks the generator network; a preset without that network is one clear line."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8))
    code, _, err = cli("stylize", src, tmp_path / "c.png", "--style", "great_wave", "--arch", "compact")
    assert code == 0, err
    code, _, err = cli("stylize", src, tmp_path / "f.png", "--style", "great_wave", "--arch", "full")
    assert code == 2 and "no trained full generator for style 'great_wave'" in err, err


def test_a_blend_is_adain_whichever_part_comes_first(tmp_path):
    """`--style painting.jpg:0.7+starry_night:0.3` and `starry_night+great_wave` are AdaIN blends
    (both were taken for an unknown preset name); a blend naming a missing image or an unknown
    style says which part."""
    from artem_vr.app import plan_style
    from artem_vr.errors import ImageError

    painting = str(STYLES_DIR / "great_wave.jpg")
    quiet = {"printer": lambda *_: None}
    for spec in (f"{painting}:0.7+starry_night:0.3", f"starry_night+{painting}", f"{painting}+starry_night",
                 "starry_night:0.6+great_wave:0.4"):
        method, _, _, initial = plan_style(None, spec, **quiet)
        assert (method, initial) == ("adain", spec)
    with pytest.raises(ImageError, match="missing.jpg"):
        plan_style(None, "missing.jpg+starry_night", **quiet)
    with pytest.raises(UsageError, match="unknown style 'starry_nite' in --style starry_nite\\+great_wave.*starry_night"):
        plan_style(None, "starry_nite+great_wave", **quiet)
    with pytest.raises(UsageError, match="a blend needs --method adain"):
        plan_style("generator", "starry_night+great_wave", **quiet)
    with pytest.raises(UsageError, match="unknown style"):
        plan_style(None, "starry_nite", **quiet)
