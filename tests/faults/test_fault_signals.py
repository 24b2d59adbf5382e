"""SIGINT, SIGTERM and SIGHUP sent to a real `artem-vr` child: the recording plays, the summary is
printed, the exit code is 128 + the signal; a stylize keeps its target untouched."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from faults_helpers import count_frames, digest, one_error_line, partials, run_cli, start_cli, write_png, write_video


def _wait_for(stream, needle: str, timeout: float = 60.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never appeared: {seen!r}")


def signal_cli(*argv, cwd, sig: int, marker: str | None = None, stream: str = "stderr", ready=None,
               settle: float = 0.0) -> subprocess.CompletedProcess:
    """``artem-vr ARGV`` as a real child: once ``marker`` (if given) appeared on its ``stream``
    ("stdout" or "stderr"), ``ready()`` (if given) is true and ``settle`` seconds passed, it is sent
    ``sig``. Returns its exit code and what it wrote after the marker. The child is killed if it is
    still there at the end (it did not end within 60 s of the signal, or the marker never came)."""
    p = start_cli(*argv, cwd=cwd)
    try:
        if marker is not None:
            _wait_for(getattr(p, stream), marker)
        deadline = time.monotonic() + 60  # e.g. the output's first frame can take seconds on a loaded machine
        while ready is not None and not ready() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        time.sleep(settle)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_run_record_keeps_a_playable_recording(tmp_path, sig):
    src = write_video(tmp_path / "in.mp4", n=30)
    rec = tmp_path / "rec.mp4"
    r = signal_cli("run", "--output", "headless", "--source", src, "--record", rec, "--frames", "100000",
                   "--method", "identity", "--eye-size", "64x48", "--out", tmp_path / "o", cwd=tmp_path, sig=sig,
                   marker="style:", stream="stdout", ready=lambda: partials(tmp_path),
                   settle=1.0)  # the recording has begun, and frames are being recorded
    out, err = r.stdout, r.stderr
    assert r.returncode == 128 + sig, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err
    line = next(ln for ln in out.splitlines() if ln.startswith("recorded "))
    n = int(line.split()[1])
    assert n >= 3 and count_frames(rec) == n  # every recorded frame plays
    assert "presented" in out
    assert (tmp_path / "o" / "last.png").stat().st_size > 0
    assert partials(tmp_path) == []


def test_sigterm_during_stylize_discards_the_partial_output(tmp_path):
    src = write_video(tmp_path / "in.mp4", n=600, size=(96, 64))
    out = write_video(tmp_path / "out.mp4", n=5, seed=8)
    before = digest(out)
    r = signal_cli("stylize", src, out, "--method", "identity", cwd=tmp_path, sig=signal.SIGTERM,
                   ready=lambda: partials(tmp_path))  # the partial output is there: frames are being written
    err = r.stderr
    assert r.returncode == 128 + signal.SIGTERM, err
    said = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert said == [f"artem-vr stylize: interrupted by SIGTERM: the partial output was discarded, {out} is untouched"], err
    assert "Traceback" not in err
    assert digest(out) == before and count_frames(out) == 5
    assert partials(tmp_path) == []


def test_sigint_during_train_keeps_the_checkpoint_and_says_how_to_resume(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    for i in range(3):
        write_png(content / f"{i}.png", size=(64, 64), seed=i)
    run_dir, models = tmp_path / "run", tmp_path / "models"
    r = signal_cli("train", "generator", "--content", content, "--style", "starry_night", "--out", "sig", "--size", "32",
                   "--batch", "1", "--iters", "100000", "--checkpoint-every", "2", "--holdout", "0",
                   "--run-dir", run_dir, "--out-dir", models, cwd=tmp_path, sig=signal.SIGINT,
                   marker="it/s", ready=lambda: (run_dir / "checkpoint.safetensors").is_file(),
                   settle=0.2)  # the bar moves (steps are being taken), then past a checkpoint (however loaded the machine)
    err = "\n".join(ln for ln in r.stderr.splitlines() if not ln.startswith("note: at "))  # 100000 steps may be long
    assert r.returncode == 128 + signal.SIGINT, err
    # one line of its own (the bar's line ended first), saying what was kept and how to go on
    assert one_error_line(err) == (f"artem-vr train generator: interrupted by SIGINT: the last checkpoint is kept in {run_dir}: "
                                   "the same command with --resume continues from it")
    assert (run_dir / "checkpoint.safetensors").is_file() and not (models / "sig.safetensors").exists()


def test_sigint_during_train_xnor_keeps_the_checkpoint_and_resume_goes_on(tmp_path):
    """As `train generator`: exit 130, one line saying what was kept and how to go on; no model is
    written; the same command with --resume trains on from the checkpoint's step."""
    from artem_vr.style.weights import read_header

    content = tmp_path / "content"
    content.mkdir()
    for i in range(3):
        write_png(content / f"{i}.png", size=(64, 64), seed=i)
    run_dir, models = tmp_path / "run", tmp_path / "models"
    argv = ["train", "xnor", "--from", "starry_night", "--content", content, "--out", "sigx", "--size", "32", "--batch", "1",
            "--checkpoint-every", "2", "--log-every", "0", "--holdout", "0", "--run-dir", run_dir, "--out-dir", models]
    # once a checkpoint is complete (Adam's state is renamed into place after the weights), however loaded the machine
    r = signal_cli(*argv, "--iters", "100000", cwd=tmp_path, sig=signal.SIGINT,
                   ready=lambda: (run_dir / "optimizer.safetensors").is_file())
    err = "\n".join(ln for ln in r.stderr.splitlines() if not ln.startswith("note: at "))  # 100000 steps may be long
    assert r.returncode == 128 + signal.SIGINT, err
    assert one_error_line(err) == (f"artem-vr train xnor: interrupted by SIGINT: the last checkpoint is kept in {run_dir}: "
                                   "the same command with --resume continues from it")
    assert not (models / "sigx.safetensors").exists() and partials(run_dir) == []
    done = read_header(run_dir / "checkpoint.safetensors")[1]["step"]
    assert done >= 2 and done % 2 == 0, done  # a periodic checkpoint (--checkpoint-every 2)
    r = run_cli(*argv, "--iters", done + 1, "--resume", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0 and f"at step {done};" in r.stdout, r.stdout + r.stderr
    assert read_header(models / "sigx.safetensors")[1]["iters"] == done + 1


@pytest.mark.slow  # two real trainer processes (VGG on CPU): ~15 s on 2 busy cores
def test_sigint_during_train_adain_keeps_the_step_and_resume_finishes_it(tmp_path):
    """Like `train generator`: exit 130, one line saying what was kept and how to go on — the step in
    progress finishes and is checkpointed, no model is written; the same command with --resume ends it."""
    from artem_vr.style.weights import read_header

    for kind in ("content", "styles"):
        (tmp_path / kind).mkdir()
        for i in range(2):
            write_png(tmp_path / kind / f"{i}.png", size=(64, 64), seed=i + (10 if kind == "styles" else 0))
    run_dir, models = tmp_path / "run", tmp_path / "models"
    argv = ["train", "adain", "--content", tmp_path / "content", "--styles", tmp_path / "styles", "--out", "siga",
            "--size", "32", "--batch", "1", "--holdout", "0", "--style-crops", "1", "--sample-every", "2",
            "--checkpoint-every", "100000", "--log-every", "100000", "--run-dir", run_dir, "--out-dir", models]
    # once steps are being taken (a sample sheet is there; the bar's line may come only every 30 s)
    r = signal_cli(*argv, "--iters", "100000", cwd=tmp_path, sig=signal.SIGINT,
                   ready=lambda: any(run_dir.glob("sample_*.jpg")))
    assert r.returncode == 128 + signal.SIGINT, r.stderr
    assert one_error_line(r.stderr) == (f"artem-vr train adain: interrupted by SIGINT: the last checkpoint is kept in {run_dir}: "
                                        "the same command with --resume continues from it")
    assert not (models / "siga.safetensors").exists() and partials(models if models.exists() else tmp_path) == []
    done = read_header(run_dir / "checkpoint.safetensors")[1]["iteration"]
    assert done >= 2, done  # the steps taken until the signal (no periodic checkpoint comes before step 100000)
    r = run_cli(*argv, "--iters", done + 1, "--resume", "--eval-pairs", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"finished iteration {done + 1}" in r.stdout and (models / "siga.safetensors").is_file()


@pytest.mark.parametrize("existed", [True, False])
def test_a_signal_just_after_the_output_is_renamed_says_it_was_written(tmp_path, cli, monkeypatch, existed):
    """A signal landing between the rename and the end said "the partial output was discarded, out.png is
    untouched" although out.png had just been replaced by the complete output."""
    import os

    from artem_vr.atomic import files
    from artem_vr.errors import Interrupted

    def replace_then_signal(tmp, target):
        os.replace(tmp, target)
        raise Interrupted(signal.SIGTERM)  # as the handler raises it at the next bytecode

    monkeypatch.setattr(files, "replace", replace_then_signal)
    src, out = write_png(tmp_path / "in.png"), tmp_path / "out.png"
    if existed:
        write_png(out, size=(8, 8), seed=3)
    code, stdout, err = cli("stylize", src, out, "--method", "identity")
    assert code == 128 + signal.SIGTERM
    said = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert said == [f"artem-vr stylize: interrupted by SIGTERM: {out} was complete and had been written"], err
    import cv2
    import numpy as np

    assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(src))) and partials(tmp_path) == []  # identity: the input's pixels
