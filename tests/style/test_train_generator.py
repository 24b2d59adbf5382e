"""`artem-vr train generator` end to end on CPU: a tiny real run (real images, real VGG),
its losses fall, its output moves toward the style, resume continues, files and card written."""

from __future__ import annotations

import json
import re

import pytest
import torch

from artem_vr.errors import UsageError
from artem_vr.style.generator import generator_from_arch
from artem_vr.style.weights import load_safetensors, read_header


def _saved_step(run_dir) -> int:
    """The step of the optimizer state beside the run folder's checkpoint (saved with it)."""
    from safetensors import safe_open

    with safe_open(str(run_dir / "optimizer.safetensors"), "pt") as f:
        return json.loads(f.metadata()["meta"])["step"]


pytestmark = pytest.mark.slow  # a real (tiny) training run: ~1 min on 2 busy cores


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, small_content_dir):
    from artem_vr.cli import main

    d = tmp_path_factory.mktemp("train")
    argv = ["train", "generator", "--content", str(small_content_dir), "--style", "starry_night", "--style-size", "256", "--out", "tiny",
            "--size", "64", "--batch", "2", "--iters", "20", "--lr", "5e-3", "--holdout", "4",
            "--run-dir", str(d / "run"), "--out-dir", str(d / "models"), "--no-progress",
            "--sample-every", "10", "--checkpoint-every", "10", "--style-layers", "relu1_1", "relu2_1", "relu3_1"]
    assert main(argv) == 0
    return d, argv


def test_tiny_run_losses_fall_and_output_moves_toward_style(tiny_run):
    d, _ = tiny_run
    res = json.loads((d / "run" / "result.json").read_text())
    hist = res["history"]  # (step, total, style) per step
    assert [h[0] for h in hist] == list(range(1, 21))
    first = sum(h[1] for h in hist[:3]) / 3
    last = sum(h[1] for h in hist[-3:]) / 3
    first_style = sum(h[2] for h in hist[:3]) / 3
    last_style = sum(h[2] for h in hist[-3:]) / 3
    print(f"total loss {first:.4g} -> {last:.4g}; style {first_style:.4g} -> {last_style:.4g}; held-out {res['heldout']}")
    assert last < 0.6 * first and last_style < 0.6 * first_style
    assert res["heldout"]["photos"] == 1  # the card's held-out check ran


def test_tiny_run_output_moves_toward_the_style(tiny_run, small_content_dir, thumbnails):
    """On the held-out image, the trained generator's output has a much smaller Gram style loss
    than an untrained generator's output."""
    from artem_vr.style.data import list_images, load_rgb, resize_long, rgb8_to_chw, split_holdout
    from artem_vr.style.generator import ARCHS, TransformNet
    from artem_vr.style.losses import gram, gram_style_loss
    from artem_vr.style.vgg import VGGFeatures

    d, _ = tiny_run
    layers = ("relu1_1", "relu2_1", "relu3_1")
    vgg = VGGFeatures(layers)
    _, held = split_holdout(list_images(small_content_dir), 4)
    x = rgb8_to_chw(resize_long(load_rgb(held[0]), 64))[None]
    with torch.no_grad():
        tg = {k: gram(v) for k, v in vgg(rgb8_to_chw(load_rgb(thumbnails["starry_night"]))[None]).items()}
        trained = load_safetensors(d / "models" / "tiny.safetensors", generator_from_arch)
        torch.manual_seed(1)
        untrained = TransformNet(ARCHS["compact"]).eval()
        l_trained = float(gram_style_loss(vgg(trained(x)), tg, layers))
        l_untrained = float(gram_style_loss(vgg(untrained(x)), tg, layers))
    print(f"held-out Gram style loss: untrained {l_untrained:.4g}, after 20 steps {l_trained:.4g}")
    assert l_trained < 0.7 * l_untrained


def test_tiny_run_writes_fp16_weights_card_samples_checkpoint(tiny_run):
    d, _ = tiny_run
    w = d / "models" / "tiny.safetensors"
    arch, meta = read_header(w)
    assert arch["type"] == "transform_net" and meta["style"] == "starry_night" and meta["iters"] == 20
    from safetensors import safe_open

    with safe_open(str(w), "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    net = load_safetensors(w, generator_from_arch)
    assert net(torch.rand(1, 3, 40, 40)).shape == (1, 3, 40, 40)
    card = (d / "models" / "tiny.md").read_text()
    for needed in ("compact", "starry_night", "20 iterations", "--style starry_night", "wall time", "held-out", "final losses"):
        assert needed in card, needed
    assert sorted(p.name for p in (d / "run" / "samples").iterdir()) == ["step000010.jpg", "step000020.jpg"]
    assert _saved_step(d / "run") == 20


def test_resume_continues_from_the_checkpoint(tiny_run, capsys):
    from artem_vr.cli import main

    d, argv = tiny_run
    argv = [a if a != "20" else "25" for a in argv] + ["--resume"]
    assert main(argv) == 0
    assert "resumed" in capsys.readouterr().out
    res = json.loads((d / "run" / "result.json").read_text())
    assert res["iters"] == 25 and _saved_step(d / "run") == 25
    # Adam state came back: the first resumed step is not a fresh-optimizer jump
    assert res["first_losses"]["loss"] < 2.0 * res["final_losses"]["loss"]
    # the card lists both sittings with the style image each one trained against
    import re

    card = (d / "models" / "tiny.md").read_text()
    sittings = re.findall(r"- steps (\d+)→(\d+) on cpu, [\d.]+ min, style image (\d+)×(\d+) px, sha256 ([0-9a-f]{12})", card)
    assert [(a, b) for a, b, *_ in sittings] == [("0", "20"), ("20", "25")], card
    assert {(w, h) for _, _, w, h, _ in sittings} == {("256", "204")}  # starry_night at --style-size 256


def test_bad_arguments_are_usage_errors(cli, tmp_path, small_content_dir):
    code, _, err = cli("train", "generator", "--content", str(tmp_path / "none"), "--style", "starry_night", "--out", "x")
    assert code == 2 and "does not exist" in err
    photo = next(p for p in small_content_dir.iterdir() if p.is_file())  # one photo where its folder is meant
    code, _, err = cli("train", "generator", "--content", str(photo), "--style", "starry_night", "--out", "x")
    assert code == 2 and err.strip() == (f"artem-vr train generator: error: --content {photo} is a file, not a folder — give the "
                                         f"folder of photos it is in, e.g. --content {photo.parent}"), err
    code, _, err = cli("train", "generator", "--content", str(small_content_dir), "--style", "nope_style", "--out", "x",
                       "--run-dir", str(tmp_path / "r"), "--out-dir", str(tmp_path / "m"))
    assert code == 2 and "neither a preset nor an image" in err and "did you mean" not in err  # nothing near
    code, _, err = cli("train", "generator", "--content", str(small_content_dir), "--style", "great_wav", "--out", "x",
                       "--run-dir", str(tmp_path / "r"), "--out-dir", str(tmp_path / "m"))
    assert code == 2 and "'great_wav' is neither a preset nor an image file (did you mean great_wave?)" in err
    code, _, err = cli("train", "generator", "--content", str(small_content_dir), "--style", "starry_night", "--out", "x",
                       "--resume", "--run-dir", str(tmp_path / "r2"), "--out-dir", str(tmp_path / "m"))
    assert code == 2 and "no checkpoint" in err
    for option in ("--iters", "--batch"):  # which number is wrong, and what to give
        code, _, err = cli("train", "generator", "--content", str(small_content_dir), "--style", "starry_night",
                           "--out", "x", option, "0", "--run-dir", str(tmp_path / "r3"), "--out-dir", str(tmp_path / "m"))
        assert code == 2 and f"{option} 0 must be at least 1 — e.g. {option} " in err, err


@pytest.mark.parametrize("kind", ["generator", "adain", "xnor"])
def test_debug_after_the_kind_shows_the_traceback(cli, tmp_path, kind):
    """`train KIND … --debug` is taken (not "unrecognized arguments") and shows the traceback."""
    missing = str(tmp_path / "none")
    args = {"generator": ["--content", missing, "--style", "starry_night", "--out", "x"],
            "adain": ["--content", missing, "--styles", missing, "--out", "x"],
            "xnor": ["--from", "no_such_teacher", "--content", missing, "--out", "x"]}[kind]
    code, _, err = cli("train", kind, *args, "--debug")
    assert code == 2 and "unrecognized" not in err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith(f"artem-vr train {kind}: error: ")


@pytest.mark.parametrize("kind", ["generator", "adain", "xnor"])
def test_train_help_says_each_default(kind):
    """`train KIND --help` teaches: every option that has a default says what it is."""
    import argparse

    from artem_vr.cli import build_parser
    from artem_vr.style import train_cli

    sp = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    train_cli.add_arguments(sp)
    kp = next(a for a in sp._actions if isinstance(a, argparse._SubParsersAction)).choices[kind]  # noqa: SLF001
    silent = [max(a.option_strings, key=len) for a in kp._actions
              if a.option_strings and a.default not in (None, False, [], argparse.SUPPRESS)
              and "default" not in (a.help or "")]
    assert silent == [], f"train {kind}: options whose --help does not say their default: {silent}"
    assert f"artem-vr train {kind} " in (kp.epilog or ""), "an example command line"


@pytest.mark.parametrize("kind, option, value, said", [
    ("generator", "--workers", "-1", "--workers -1 must be at least 0 — e.g. --workers 2"),  # were exit 3 (torch's errors)
    ("xnor", "--workers", "-1", "--workers -1 must be at least 0 — e.g. --workers 2"),
    ("generator", "--style-size", "5", "--style-size 5 must be at least 32 — e.g. --style-size 512"),
    ("generator", "--lr", "-1", "--lr -1 must be above 0 — e.g. --lr 0.001"),
    ("generator", "--threads", "0", "--threads 0 must be at least 1"),
    ("xnor", "--lr", "0", "--lr 0 must be above 0"),
    ("xnor", "--log-every", "-1", "--log-every -1 must be at least 0"),
    ("adain", "--lr", "-0.5", "--lr -0.5 must be above 0"),
    ("adain", "--checkpoint-every", "-1", "--checkpoint-every -1 must be at least 0"),
    ("xnor", "--checkpoint-every", "-1", "--checkpoint-every -1 must be at least 0"),
    ("generator", "--sample-every", "-5", "--sample-every -5 must be at least 0"),
    ("generator", "--holdout", "-1", "--holdout -1 must be at least 0"),
    ("xnor", "--holdout", "1", "--holdout 1 would hold out every file, leaving none to train on — give 0 to hold out none"),
    ("adain", "--holdout-every", "1", "--holdout 1 would hold out every file"),  # the earlier spelling, checked alike
])
def test_train_numbers_out_of_range_are_one_line(cli, capsys, tmp_path, kind, option, value, said):
    """Checked with the config, before any data is read (the folders here do not even exist)."""
    missing = str(tmp_path / "none")
    args = {"generator": ["--content", missing, "--style", "starry_night", "--out", "x"],
            "adain": ["--content", missing, "--styles", missing, "--out", "x"],
            "xnor": ["--from", "starry_night", "--content", missing, "--out", "x"]}[kind]
    code, _, err = cli("train", kind, *args, option, value)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and said in lines[0], err
    assert lines[0].startswith(f"artem-vr train {kind}: error: "), err  # as argparse names the kind's usage errors
    with pytest.raises(SystemExit):
        cli("train", kind, option, value)  # the required options missing: argparse's own error
    assert f"artem-vr train {kind}: error: the following arguments are required" in capsys.readouterr().err


def test_train_dispatch_reports_a_missing_trainer(monkeypatch):
    from artem_vr.style import train_cli

    monkeypatch.setitem(train_cli.TRAINERS, "ghost", ("artem_vr.style.train_ghost", "not there"))
    with pytest.raises(UsageError, match="train ghost.*not available"):
        train_cli._load("ghost")


@pytest.mark.parametrize("port, limit", [(29531, []), (29532, ["--time-limit", "1e-6"])])
def test_ddp_under_torchrun_on_cpu(tmp_path, small_content_dir, port, limit):
    """Two processes (gloo on CPU) through the standard launcher: one model and card written; with
    --time-limit, both stop after the same step (else the next step's all-reduce would wait forever)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "artem_vr", "train", "generator", "--content", str(small_content_dir), "--style", "great_wave",
           "--out", "ddp", "--size", "32", "--batch", "1", "--iters", "3", "--holdout", "0",
           "--style-layers", "relu1_1", "relu2_1", "--run-dir", str(tmp_path / "run"), "--out-dir", str(tmp_path / "m"),
           "--no-progress", *limit]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (tmp_path / "m" / "ddp.safetensors").is_file()
    card = (tmp_path / "m" / "ddp.md").read_text()
    assert "×2 (DDP)" in card
    assert ("after iteration 1 of 3" in card) == bool(limit), card



_KINDS = {"generator": ["--style", "starry_night", "--holdout", "0", "--style-layers", "relu1_1", "relu2_1"],
          "xnor": ["--from", "starry_night", "--holdout", "0"],
          "adain": ["--holdout", "0", "--style-crops", "1"]}


@pytest.mark.parametrize("kind", ["generator", "xnor", "adain"])
def test_a_long_run_is_said_once_with_how_to_shorten_it(cli, tmp_path, small_content_dir, monkeypatch, kind):
    """A default run on a CPU takes about a day: after the first steps its estimate is said, once,
    with the --iters that fits (here every run is "long": the threshold is 0 s)."""
    from artem_vr.style import train_config

    monkeypatch.setattr(train_config, "LONG_RUN_S", 0)
    styles = ["--styles", small_content_dir] if kind == "adain" else []
    code, _, err = cli("train", kind, "--content", small_content_dir, *styles, "--out", "k", "--size", "32", "--batch", "1",
                       "--iters", "6", *_KINDS[kind], "--out-dir", tmp_path / "m",
                       "--run-dir", tmp_path / "run")
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert code == 0 and len(notes) == 1, err
    assert re.fullmatch(r"note: at [0-9.e-]+ s a step, the 2 steps left take about \d+ s here; for about 0 s give "
                        "--iters 10, or " + re.escape("a smaller --size (now 32), or --time-limit MINUTES (it stops and saves then)"),
                        notes[0]), notes[0]


@pytest.mark.parametrize("kind", ["generator", "xnor", "adain"])
def test_a_long_run_with_a_time_limit_says_nothing_more(cli, tmp_path, small_content_dir, monkeypatch, kind):
    from artem_vr.style import train_config

    monkeypatch.setattr(train_config, "LONG_RUN_S", 0)
    styles = ["--styles", small_content_dir] if kind == "adain" else []
    code, _, err = cli("train", kind, "--content", small_content_dir, *styles, "--out", "a", "--size", "32", "--batch", "1",
                       "--iters", "6", *_KINDS[kind], "--time-limit", "60", "--out-dir", tmp_path / "m",
                       "--run-dir", tmp_path / "run")
    assert code == 0 and "note: " not in err, err


def test_a_time_limit_stops_writes_the_model_card_and_checkpoint_and_resume_goes_on(cli, tmp_path, small_content_dir):
    """--time-limit: checked after each step; a limit shorter than one step stops after the first. The
    end's writing follows (model, card, checkpoint and Adam's state), and --resume trains on from there."""
    argv = ["train", "generator", "--content", small_content_dir, "--out", "t", "--size", "32", "--batch", "1",
            *_KINDS["generator"], "--run-dir", tmp_path / "run", "--out-dir", tmp_path / "m", "--no-progress"]
    code, _, err = cli(*argv, "--iters", "5", "--time-limit", "1e-6")
    said = "stopped early: the --time-limit of 1e-06 min was reached after iteration 1 of 5"
    assert code == 0 and said in err, err  # the log says why it stopped
    card = (tmp_path / "m" / "t.md").read_text()
    assert f"**Status:** {said}" in card and "--time-limit 1e-06" in card, card
    assert read_header(tmp_path / "m" / "t.safetensors")[1]["iters"] == 1
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()
    assert _saved_step(tmp_path / "run") == 1
    code, out, err = cli(*argv, "--iters", "3", "--resume")
    assert code == 0 and "resumed" in out and "stopped early" not in err, err
    assert _saved_step(tmp_path / "run") == 3
    card = (tmp_path / "m" / "t.md").read_text()
    assert "**Status:**" not in card and re.findall(r"- steps (\d+)→(\d+)", card) == [("0", "1"), ("1", "3")], card


def test_a_short_run_says_nothing():
    from artem_vr.style.train_config import LongRunNote

    said = []

    def write(line, file):
        said.append(line)

    note = LongRunNote(0, 10, write=write)
    for _ in range(10):
        note.step()
    assert said == []


def test_a_resume_that_would_start_the_optimizer_afresh_is_refused(tmp_path):
    """Every train kind resumes through optim_state: a checkpoint with no optimizer state beside it,
    or an optimizer file without the metadata artem-vr writes (another program's, an older run
    folder's), is one line — never a run that quietly goes on with a fresh Adam."""
    from safetensors.torch import save_file

    from artem_vr.style.optim_state import OPTIMIZER_FILE, check_resumable, load_optimizer, save_checkpoint

    net = torch.nn.Conv2d(3, 3, 1)
    opt = torch.optim.Adam(net.parameters())
    net(torch.rand(1, 3, 4, 4)).sum().backward()
    opt.step()
    ckpt = tmp_path / "run" / "checkpoint.safetensors"
    save_checkpoint(ckpt, net, {"type": "test"}, {"step": 1}, opt, {"step": 1})
    check_resumable(ckpt)  # both files: resumable
    fresh = torch.optim.Adam(net.parameters())
    assert load_optimizer(ckpt.with_name(OPTIMIZER_FILE), fresh) == {"step": 1} and len(fresh.state) == 2
    save_file({"0.exp_avg": torch.zeros(3)}, str(ckpt.with_name(OPTIMIZER_FILE)))  # no metadata: not ours
    with pytest.raises(UsageError, match="is not an optimizer state this artem-vr wrote"):
        load_optimizer(ckpt.with_name(OPTIMIZER_FILE), torch.optim.Adam(net.parameters()))
    ckpt.with_name(OPTIMIZER_FILE).unlink()
    with pytest.raises(UsageError, match="has no optimizer state beside it"):
        check_resumable(ckpt)


def test_a_model_write_failing_at_the_end_leaves_a_run_that_resume_finishes(tmp_path, small_content_dir, monkeypatch, capsys):
    """A full disk when the model is written at the end: the run's last checkpoint is the periodic
    one, short of --iters (the model is written before the final checkpoint), so `--resume` trains
    the rest and writes the model — it never says "nothing to do" with no model written."""
    import errno

    from artem_vr.cli import main
    from artem_vr.style import train_generator

    argv = ["train", "generator", "--content", str(small_content_dir), "--style", "starry_night", "--style-size", "64",
            "--out", "full", "--size", "32", "--batch", "1", "--iters", "3", "--holdout", "0", "--checkpoint-every", "2",
            "--run-dir", str(tmp_path / "run"), "--out-dir", str(tmp_path / "models"), "--no-progress", "--sample-every", "0",
            "--style-layers", "relu1_1"]

    def full_disk(target, *_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(train_generator, "write_model", full_disk)
    assert main(argv) == 2
    assert "no space left" in capsys.readouterr().err
    assert _saved_step(tmp_path / "run") == 2 and not (tmp_path / "models" / "full.safetensors").exists()
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed" in out and "at step 2" in out and (tmp_path / "models" / "full.safetensors").is_file()
    assert _saved_step(tmp_path / "run") == 3
