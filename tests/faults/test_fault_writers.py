"""Every writer under failure and concurrency: a model's three files replaced together or not at
all (a full disk in a real `train` child), two writers of one name (two real processes), partial
files of a run killed with SIGKILL tidied by the next one, and outputs that would replace a file
the run reads without naming it (a user style's files, AdaIN's style image) refused."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from faults_helpers import ARTEM, child_env, digest, one_error_line, partials, run_cli, write_png, write_video

from artem_vr.atomic import AtomicGroup, InputsRead, OutputLock, clean_stale_partials, write_text_atomic
from artem_vr.errors import ImageError, UsageError
from artem_vr.paths import MODELS_DIR


def _leftovers(folder: Path) -> list[Path]:
    """Partial files and files kept aside by a group (there must be none once a write is over)."""
    return sorted(p for p in Path(folder).iterdir() if ".partial-" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


def _noise_painting(path: Path, size=(768, 256)) -> Path:
    """A painting whose 256 px thumbnail is large (noise does not compress): ~170 kB as jpg."""
    img = (np.random.default_rng(3).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def _user_style(models: Path, name: str, painting: Path) -> Path:
    """A user style as `artem-vr train` leaves it: a (shipped) generator's weights, card, thumbnail."""
    from artem_vr.style.user_styles import save_thumbnail

    models.mkdir(parents=True, exist_ok=True)
    w = models / f"{name}.safetensors"
    shutil.copy(MODELS_DIR / "the_scream_compact.safetensors", w)
    shutil.copy(MODELS_DIR / "the_scream_compact.md", w.with_suffix(".md"))
    save_thumbnail(painting, w)
    return w


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh user data folder for this test and its children ($ARTEM_VR_DATA); returns it."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("ARTEM_VR_DATA", str(d))
    return d


@pytest.fixture
def content(tmp_path) -> Path:
    d = tmp_path / "content"
    d.mkdir()
    for i in range(3):
        write_png(d / f"p{i}.png", size=(64, 64), seed=10 + i)
    return d


def _xnor_argv(content: Path, out: str, iters: int = 2, *extra) -> list:
    return ["train", "xnor", "--from", "klimt", "--content", content, "--out", out, "--iters", iters, "--size", 32,
            "--batch", 1, "--holdout", 0, "--no-progress", "--threads", 1, *extra]


# ------------------------------------------------------------------------------ groups


def test_a_group_whose_last_rename_fails_puts_every_file_back(tmp_path, monkeypatch):
    """The third of three renames fails (ENOSPC injected into os.replace): the two replaced
    files are put back byte for byte, the missing one is not created, nothing is left over."""
    old = {n: tmp_path / n for n in ("m.safetensors", "m.md")}
    for i, p in enumerate(old.values()):
        p.write_bytes(b"old %d" % i)
    before = {n: digest(p) for n, p in old.items()}
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("m.jpg"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    group = AtomicGroup(what="model")
    group.add_bytes(tmp_path / "m.safetensors", b"new weights")
    group.add_text(tmp_path / "m.md", "new card")
    group.add_bytes(tmp_path / "m.jpg", b"new thumbnail")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ImageError, match="m.jpg"):
        group.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    assert {n: digest(p) for n, p in old.items()} == before
    assert not (tmp_path / "m.jpg").exists() and _leftovers(tmp_path) == []


def test_a_group_replaces_all_and_drops_what_the_new_model_no_longer_has(tmp_path):
    for suffix in (".safetensors", ".md", ".png"):
        (tmp_path / f"m{suffix}").write_bytes(b"old")
    with AtomicGroup() as group:
        group.add_bytes(tmp_path / "m.safetensors", b"new")
        group.add_text(tmp_path / "m.md", "new")
        group.remove(tmp_path / "m.png")  # the new model has no thumbnail: the old one goes with it
        group.commit()
    assert (tmp_path / "m.safetensors").read_bytes() == b"new" and (tmp_path / "m.md").read_text() == "new"
    assert not (tmp_path / "m.png").exists() and _leftovers(tmp_path) == []


def test_a_group_left_by_an_exception_writes_nothing(tmp_path):
    (tmp_path / "m.md").write_text("old")
    with pytest.raises(RuntimeError):
        with AtomicGroup() as group:
            group.add_text(tmp_path / "m.md", "new")
            raise RuntimeError("training failed after the card")
    assert (tmp_path / "m.md").read_text() == "old" and _leftovers(tmp_path) == []


def test_full_disk_during_train_leaves_no_orphan_and_force_keeps_the_old_trio(data_dir, content, tmp_path):
    """Writes over 130 kB fail (RLIMIT_FSIZE, as on a full disk): the weights (~90 kB) fit, the
    thumbnail (~170 kB) does not. Nothing of the new model appears; with --force over an
    existing model, its weights, card and thumbnail stay exactly as they were."""
    models = data_dir / "models"
    _user_style(models, "klimt", _noise_painting(tmp_path / "klimt_kiss.png"))
    assert (models / "klimt.jpg").stat().st_size > 140_000
    r = run_cli(*_xnor_argv(content, "bits"), cwd=tmp_path, max_file_bytes=130_000)
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "bits.jpg" in line and "disk" in line
    assert not any(models.glob("bits*")) and _leftovers(models) == []

    r = run_cli(*_xnor_argv(content, "bits"), cwd=tmp_path)  # room again: the trio appears
    assert r.returncode == 0, r.stderr
    trio = [models / f"bits{s}" for s in (".safetensors", ".md", ".jpg")]
    before = [digest(p) for p in trio]
    r = run_cli(*_xnor_argv(content, "bits", 3, "--force"), cwd=tmp_path, max_file_bytes=130_000)
    assert r.returncode == 2, r.stderr
    assert "disk" in one_error_line(r.stderr)
    assert [digest(p) for p in trio] == before and _leftovers(models) == []


def test_train_refuses_to_write_over_the_model_it_reads(data_dir, content, tmp_path):
    """`train xnor --from klimt --out klimt --force`: the teacher's weights are the output."""
    models = data_dir / "models"
    w = _user_style(models, "klimt", _noise_painting(tmp_path / "klimt_kiss.png", (300, 260)))
    before = [digest(p) for p in (w, w.with_suffix(".md"), w.with_suffix(".jpg"))]
    r = run_cli(*_xnor_argv(content, "klimt", 2, "--force"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "same file as the input" in one_error_line(r.stderr)
    assert [digest(p) for p in (w, w.with_suffix(".md"), w.with_suffix(".jpg"))] == before
    assert _leftovers(models) == []


# ------------------------------------------------------------------------------ two writers


def test_two_trains_of_one_name_at_once_one_gets_one_line(data_dir, content, tmp_path):
    """Two real `train … --out bits` processes: while the first holds the name, the second stops
    at once with one line naming it (exit 2); the first finishes and its model is the one there."""
    models = data_dir / "models"
    _user_style(models, "klimt", _noise_painting(tmp_path / "klimt_kiss.png", (300, 260)))
    first = subprocess.Popen([*ARTEM, *map(str, _xnor_argv(content, "bits", 100000))], cwd=tmp_path, env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = models / ".bits.safetensors.lock"
        deadline = time.monotonic() + 120
        while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.exists(), first.stderr.read() if first.poll() is not None else "no lock"
        second = run_cli(*_xnor_argv(content, "bits", 2), cwd=tmp_path)
        assert first.poll() is None  # still training
        assert second.returncode == 2, second.stderr
        line = one_error_line(second.stderr)
        assert "being written by process" in line and str(first.pid) in line and "bits" in line
        assert not any(models.glob("bits*"))  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    assert not lock.exists() and _leftovers(models) == []


def test_run_folder_and_name_locks_exclude_each_other_and_end_with_the_holder(tmp_path):
    a = OutputLock(tmp_path / "runs" / "x").acquire()
    with pytest.raises(UsageError, match=f"being written by process {os.getpid()}"):
        OutputLock(tmp_path / "runs" / "x").acquire()
    a.release()
    with OutputLock(tmp_path / "runs" / "x"):  # free again once released
        pass
    assert list((tmp_path / "runs").iterdir()) == []
    # a holder killed with SIGKILL: the kernel drops its lock
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                              "from artem_vr.atomic import OutputLock; OutputLock(Path(sys.argv[1])).acquire(); "
                              "print('held', flush=True); time.sleep(600)", str(tmp_path / "y")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    with pytest.raises(UsageError, match=str(child.pid)):
        OutputLock(tmp_path / "y").acquire()
    child.kill()
    child.wait()
    OutputLock(tmp_path / "y").acquire().release()


def test_two_snapshots_in_one_second_never_share_a_name(tmp_path):
    from artem_vr.recording import write_snapshot

    eyes = [np.full((24, 32, 3), 90, np.uint8)]
    paths = {write_snapshot(tmp_path, eyes) for _ in range(3)}
    assert len(paths) == 3 and all(p.is_file() for p in paths) and _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ stale partial files


def test_partials_of_a_stylize_killed_with_sigkill_are_tidied_by_the_next_run(tmp_path):
    src = write_video(tmp_path / "in.mp4", n=3000, size=(64, 48))
    p = subprocess.Popen([*ARTEM, "stylize", str(src), "out.mp4", "--method", "identity", "--temporal", "off"],
                         cwd=tmp_path, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not partials(tmp_path) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    left = partials(tmp_path)
    p.kill()  # SIGKILL: no handler runs, the partial file stays
    p.wait()
    assert left and f"-{p.pid}-" in left[0].name and partials(tmp_path)
    small = write_png(tmp_path / "small.png")
    r = run_cli("stylize", small, "other.png", "--method", "identity", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert partials(tmp_path) == [] and (tmp_path / "other.png").is_file()
    assert "tidied 1 file(s)" in r.stderr and left[0].name in r.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_partials_of_live_writers_are_kept_and_reused_pids_do_not_protect(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        files = {
            "dead": tmp_path / f".a.partial-{dead.pid}-0123abcd.png",  # its process is gone
            "alive": tmp_path / f".b.partial-{os.getppid()}-0123abcd.png",  # a running process (pytest's parent)
            "reused": tmp_path / f".c.partial-{sleeper.pid}-0123abcd.png",  # a process that started after the file
            "other": tmp_path / ".d.partial-x-y.png",  # not ours by its name
        }
        for p in files.values():
            p.write_bytes(b"x")
        old = time.time() - 3600
        os.utime(files["reused"], (old, old))
        notes: list[str] = []
        removed = clean_stale_partials(tmp_path, notes.append)
        assert sorted(removed) == sorted([files["dead"], files["reused"]])
        assert files["alive"].exists() and files["other"].exists()
        assert len(notes) == 1 and "tidied 2 file(s)" in notes[0]
        # a group stopped between its renames: the file kept aside comes back when its name is free
        aside = tmp_path / f".m.old-{dead.pid}-0123abcd.md"
        aside.write_text("the old card")
        clean_stale_partials(tmp_path, notes.append)
        assert (tmp_path / "m.md").read_text() == "the old card" and not aside.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------------------------------ inputs read, not named


def test_stylize_refuses_to_write_over_a_user_styles_files(data_dir, tmp_path):
    """The user style's thumbnail is AdaIN's style image, and the generator's painting: neither
    may be the output, though the command line never names it."""
    models = data_dir / "models"
    w = _user_style(models, "klimt", _noise_painting(tmp_path / "klimt_kiss.png", (300, 260)))
    thumb = w.with_suffix(".jpg")
    before = digest(thumb)
    src = write_png(tmp_path / "in.png", size=(64, 48))
    for method in ("adain", "generator"):
        r = run_cli("stylize", src, thumb, "--method", method, "--style", "klimt", cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "same file as the input" in one_error_line(r.stderr) and "klimt.jpg" in r.stderr
        assert digest(thumb) == before
    assert _leftovers(models) == []


def test_inputs_read_is_a_value_each_command_gets_its_own(tmp_path):
    """Readers note into the value they are handed; another command's value knows nothing of it."""
    from artem_vr.sources.imageio import read_image

    img = write_png(tmp_path / "a.png")
    mine, other = InputsRead(), InputsRead()
    read_image(img, mine)
    assert list(mine) == [str(img)] and list(other) == []
    with pytest.raises(UsageError, match="same file as the input"):
        write_text_atomic(img, "x", mine)
    write_text_atomic(tmp_path / "b.txt", "ok", other)
    # a writer keeps the value live: a file read after the writer started is refused as well
    late = write_png(tmp_path / "late.png", seed=4)
    group = AtomicGroup(mine)
    group.add_bytes(late, b"not a png")
    read_image(late, mine)
    with pytest.raises(UsageError, match="same file as the input"):
        group.commit()
    assert cv2.imread(str(late)) is not None and _leftovers(tmp_path) == []


def test_full_disk_during_export_is_one_line_and_leaves_nothing(tmp_path):
    """The .onnx (~300 kB) cannot be written past 100 kB: exit 2, one line naming it, and
    neither the .onnx, its card nor a temporary file is left in the folder."""
    out = tmp_path / "onnx"
    r = run_cli("export", "great_wave_compact", "--out", out, cwd=tmp_path, max_file_bytes=100_000)
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "great_wave_compact.onnx" in line and "disk" in line and ".partial-" not in line
    assert list(out.iterdir()) == []


def test_a_group_killed_between_its_renames_is_finished_by_the_next_writer(tmp_path):
    """A real child SIGKILLs itself at its second rename (weights renamed, card and thumbnail
    not): the next writer into the folder finishes the group — all three new, the old
    thumbnail gone, nothing left over."""
    for name, data in (("m.safetensors", b"old weights"), ("m.md", b"old card"), ("m.png", b"old thumbnail")):
        (tmp_path / name).write_bytes(data)
    code = """
import os, signal, sys
from pathlib import Path
from artem_vr.atomic import AtomicGroup
d = Path(sys.argv[1])
g = AtomicGroup()
g.add_bytes(d / "m.safetensors", b"new weights")
g.add_text(d / "m.md", "new card")
g.add_bytes(d / "m.jpg", b"new thumbnail")
g.remove(d / "m.png")
real, calls = os.replace, []
def replace(a, b):
    calls.append(b)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # the power goes out between two renames
    return real(a, b)
os.replace = replace
g.commit()
"""
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert (tmp_path / "m.safetensors").read_bytes() == b"new weights" and (tmp_path / "m.md").read_bytes() == b"old card"
    assert any(".commit-" in p.name for p in tmp_path.iterdir())
    notes: list[str] = []
    clean_stale_partials(tmp_path, notes.append)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        "m.safetensors": b"new weights", "m.md": b"new card", "m.jpg": b"new thumbnail"}
    assert notes and "tidied" in notes[0]


@pytest.mark.slow
def test_retraining_a_user_style_in_place_keeps_its_painting(data_dir, content, tmp_path):
    """`train generator --style klimt --out klimt --force`: the painting read is the thumbnail
    beside the model: the weights and card are replaced, the thumbnail stays byte for byte."""
    models = data_dir / "models"
    w = _user_style(models, "klimt", _noise_painting(tmp_path / "klimt_kiss.png", (300, 260)))
    thumb, weights_before = w.with_suffix(".jpg"), digest(w)
    before = digest(thumb)
    r = run_cli("train", "generator", "--content", content, "--style", "klimt", "--out", "klimt", "--force",
                "--size", 32, "--batch", 1, "--iters", 2, "--holdout", 0, "--style-layers", "relu1_1",
                "--content-layer", "relu1_1", "--no-progress", "--threads", 1, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert digest(thumb) == before and digest(w) != weights_before
    assert "klimt.jpg" in w.with_suffix(".md").read_text() and _leftovers(models) == []
