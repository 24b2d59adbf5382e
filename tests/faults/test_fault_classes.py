"""Every command through every failure class: one line naming the user's path, exit 2, no traceback.

The classes: permission denied, no space left, not a folder, name too long, an invalid number
(NaN/inf), an unsupported ``--device``, and stdout closed early. Each (class, command) pair is one
parametrised case; a pair that cannot happen says why in :data:`NOT_APPLICABLE`.

The fast classes run all their command lines in one child process (``cli_driver.py``: the real
entry point, imports paid once, fds 1 and 2 redirected per case). When the suite runs as root
(root bypasses file permissions), the permission child runs without the two capabilities that
bypass them (``setpriv --bounding-set=-dac_override,-dac_read_search``): still root, so it reaches
a checkout only root may enter (a fresh clone under ``mktemp -d``), but a file or folder whose
mode denies it is denied, as for any user. "No
space" is a real ``python -m artem_vr`` child under a file-size limit (RLIMIT_FSIZE: every write
past it fails with EFBIG, as on a full disk); "stdout closed" is a real child whose stdout pipe is
closed after the first line, as ``… | head -1`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from faults_helpers import ARTEM, _limit_file_size, child_env, count_frames, one_error_line, partials, write_png, write_video

from artem_vr.paths import MODELS_DIR

COMMANDS = ["run", "stylize", "styles", "doctor", "bench", "eval", "export", "train generator", "train adain", "train xnor"]
LONG = "x" * 300

#: (class, command) pairs that cannot happen, and why
NOT_APPLICABLE = {
    ("number", "styles"): "styles takes no number",
    ("number", "doctor"): "doctor takes no number",
    ("device", "styles"): "styles takes no --device",
    ("device", "doctor"): "doctor takes no --device",
    ("device", "export"): "export runs ONNX Runtime on the CPU: no --device",
}
#: commands that write nothing: under a full disk they still work (exit 0)
WRITES_NOTHING = ("styles", "doctor")


@pytest.fixture(scope="module")
def world():
    """A folder with inputs, locked files and a file
    where a folder is expected."""
    w = Path(tempfile.mkdtemp(prefix="artem-fault-classes-"))
    os.chmod(w, 0o777)
    for d in ("content", "styles", "home", "data", "out"):
        (w / d).mkdir()
    write_png(w / "in.png")
    write_png(w / "style.png", size=(64, 64), seed=3)
    write_video(w / "clip.mp4", n=10)
    for i in range(4):
        write_png(w / "content" / f"c{i}.png", size=(64, 64), seed=10 + i)
    for i in range(2):
        write_png(w / "styles" / f"s{i}.png", size=(64, 64), seed=20 + i)
    shutil.copy(MODELS_DIR / "great_wave_compact.safetensors", w / "model.safetensors")
    (w / "afile").write_text("a file where a folder is expected\n")
    # locked: unreadable files and folders, and a folder no one may write into
    shutil.copy(w / "in.png", w / "locked.png")
    shutil.copy(w / "clip.mp4", w / "locked.mp4")
    shutil.copy(w / "model.safetensors", w / "locked.safetensors")
    for d in ("locked_content", "locked_styles", "locked_data"):
        shutil.copytree(w / ("styles" if d == "locked_styles" else "content"), w / d)
    (w / "locked_dir").mkdir()
    for p in w.rglob("*"):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    for p in ("locked.png", "locked.mp4", "locked.safetensors"):
        os.chmod(w / p, 0o000)
    for d in ("locked_content", "locked_styles", "locked_data"):
        os.chmod(w / d, 0o000)
    os.chmod(w / "locked_dir", 0o555)
    yield w
    for p in [w, *w.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, 0o777)
    shutil.rmtree(w, ignore_errors=True)


def _train(kind: str, w: Path, name: str, **over) -> list[str]:
    content = over.get("content", w / "content")
    base = {"generator": ["--content", content, "--style", over.get("style", w / "style.png"), "--no-progress"],
            "adain": ["--content", content, "--styles", over.get("styles", w / "styles")],
            "xnor": ["--from", "starry_night", "--content", content, "--no-progress"]}[kind]
    return ["train", kind, *base, "--out", name, "--size", "32", "--iters", "2", "--batch", "1",
            "--out-dir", over.get("out_dir", w / "out"), *over.get("extra", [])]


def case(cls: str, command: str, w: Path) -> tuple[list, dict, str]:
    """(argv, extra environment, what the error line must name) for ``command`` under ``cls``."""
    o = w / "out"
    run = ["run", "--output", "headless", "--frames", "3", "--method", "identity", "--eye-size", "64x48", "--out", o / "run"]
    stylize = ["stylize", w / "in.png", o / "o.png", "--method", "identity"]
    bench = ["bench", "--method", "identity", "--eye-size", "64x48", "--seconds", "0.2", "--warmup", "0"]
    ev = ["eval", "--content", w / "content", "--styles", w / "style.png", "--method", "identity", "--size", "32"]
    export = ["export", w / "model.safetensors", "--out", o / "onnx"]
    if cls == "permission":
        table = {
            "run": (run + ["--source", w / "locked.mp4"], {}, "locked.mp4"),
            "stylize": (["stylize", w / "locked.png", o / "o.png", "--method", "identity"], {}, "locked.png"),
            "styles": (["styles"], {"ARTEM_VR_DATA": str(w / "locked_data")}, "locked_data"),
            "doctor": (["doctor"], {"ARTEM_VR_DATA": str(w / "locked_data")}, "locked_data"),
            "bench": (bench + ["--json", w / "locked_dir" / "b.json"], {}, "b.json"),
            "eval": (ev[:2] + [w / "locked.png"] + ev[3:], {}, "locked.png"),
            "export": (["export", w / "locked.safetensors", "--out", o / "onnx"], {}, "locked.safetensors"),
            "train generator": (_train("generator", w, "perm_g", style=w / "locked.png"), {}, "locked.png"),
            "train adain": (_train("adain", w, "perm_a", styles=w / "locked_styles"), {}, "locked_styles"),
            "train xnor": (_train("xnor", w, "perm_x", content=w / "locked_content"), {}, "locked_content"),
        }
    elif cls == "notdir":
        f = w / "afile"
        table = {
            "run": (run + ["--record", f / "r.mp4"], {}, "afile"),
            "stylize": (stylize[:2] + [f / "o.png"] + stylize[3:], {}, "afile"),
            "styles": (["styles"], {"ARTEM_VR_DATA": str(f / "data")}, "afile"),
            "doctor": (["doctor"], {"ARTEM_VR_DATA": str(f / "data")}, "afile"),
            "bench": (bench + ["--json", f / "b.json"], {}, "afile"),
            "eval": (ev + ["--json", f / "e.json"], {}, "afile"),
            "export": (["export", w / "model.safetensors", "--out", f / "onnx"], {}, "afile"),
            **{f"train {k}": (_train(k, w, f"nd_{k}", out_dir=f / "models"), {}, "afile") for k in ("generator", "adain", "xnor")},
        }
    elif cls == "toolong":
        table = {
            "run": (run + ["--record", o / f"{LONG}.mp4"], {}, "too long"),
            "stylize": (stylize[:2] + [o / f"{LONG}.png"] + stylize[3:], {}, "too long"),
            "styles": (["styles"], {"ARTEM_VR_DATA": str(w / LONG)}, "too long"),
            "doctor": (["doctor"], {"ARTEM_VR_DATA": str(w / LONG)}, "too long"),
            "bench": (bench + ["--json", o / f"{LONG}.json"], {}, "too long"),
            "eval": (ev + ["--json", o / f"{LONG}.json"], {}, "too long"),
            "export": (["export", w / "model.safetensors", "--out", o / LONG], {}, "too long"),
            **{f"train {k}": (_train(k, w, LONG[:250]), {}, "too long") for k in ("generator", "adain", "xnor")},
        }
    elif cls == "number":
        table = {
            "run": (run + ["--strength", "nan"], {}, "--strength nan"),
            "stylize": (stylize + ["--strength", "inf"], {}, "--strength inf"),
            "bench": (bench[:-2] + ["--warmup", "nan"], {}, "--warmup nan"),
            "eval": (ev[:-1] + ["nan"], {}, "--size"),
            "export": (export + ["--tolerance", "nan"], {}, "--tolerance nan"),
            **{f"train {k}": (_train(k, w, f"n_{k}", extra=["--lr", "nan"]), {}, "--lr nan") for k in ("generator", "adain", "xnor")},
        }
    elif cls == "device":
        table = {c: (a + ["--device", "tpu"], {}, "--device tpu") for c, a in
                 {"run": run, "stylize": stylize, "bench": bench, "eval": ev,
                  **{f"train {k}": _train(k, w, f"d_{k}") for k in ("generator", "adain", "xnor")}}.items()}
    else:
        raise KeyError(cls)
    argv, env, needle = table[command]
    return [str(a) for a in argv], env, needle


FAST_CLASSES = ("permission", "notdir", "toolong", "number", "device")


@pytest.fixture(scope="module")
def driven(world):
    """Each fast class's command lines, run in one child per class: {(class, command): (code, stdout, stderr)}."""
    results = {}
    for cls in FAST_CLASSES:
        prefix = []
        if cls == "permission" and os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                continue  # the tests of this class skip, saying why
            prefix = [shutil.which("setpriv"), "--bounding-set=" + ",".join(f"-{c}" for c in DAC_CAPS)]
        cases = [(c, *case(cls, c, world)) for c in COMMANDS if (cls, c) not in NOT_APPLICABLE]
        folder = Path(tempfile.mkdtemp(prefix=f"{cls}-", dir=world))
        os.chmod(folder, 0o777)
        plan = {"result": str(folder / "result.json"),
                "cases": [{"argv": argv, "env": env, "stdout": str(folder / f"{i}.out"), "stderr": str(folder / f"{i}.err")}
                          for i, (_c, argv, env, _n) in enumerate(cases)]}
        (folder / "plan.json").write_text(json.dumps(plan))
        env = child_env()
        env.update(HOME=str(world / "home"), XDG_CACHE_HOME=str(world / "home" / ".cache"), ARTEM_VR_DATA=str(world / "data"))
        r = subprocess.run([*prefix, sys.executable, str(Path(__file__).with_name("cli_driver.py")), str(folder / "plan.json")],
                           cwd=world / "out", env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        codes = json.loads((folder / "result.json").read_text())
        for i, ((c, _argv, _env, needle), code) in enumerate(zip(cases, codes)):
            results[cls, c] = (code, (folder / f"{i}.out").read_text(), (folder / f"{i}.err").read_text(), needle)
    return results


#: the capabilities that let root past file permissions (dropped for the permission class)
DAC_CAPS = ("dac_override", "dac_read_search")


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("cls", FAST_CLASSES)
def test_every_command_fails_in_one_line(driven, cls, command):
    if (cls, command) in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[cls, command])
    if (cls, command) not in driven:
        pytest.skip("running as root without setpriv (util-linux) to drop the file-permission override: "
                    "root bypasses file permissions")
    code, out, err, needle = driven[cls, command]
    assert "Traceback" not in out + err, err
    if command == "doctor" or (command == "styles" and cls == "notdir"):
        # reports, not errors: they say what is wrong with the data folder and carry on
        assert code == 0, err
        assert needle in out and ("is a file, not a folder" in out or "permission denied" in out or "too long" in out), out
        return
    assert code == 2, (out, err)
    if cls == "number" and command == "eval":  # eval's numbers are integers: argparse refuses "nan" itself
        assert "invalid int value: 'nan'" in err
        return
    line = one_error_line(err)
    assert line.startswith(f"artem-vr {command}: error: "), line  # a train kind names itself, as argparse does
    assert needle in line, line
    if cls == "notdir":  # said as such, never "cannot use …/afile: File exists" (bench --json, eval --json made the folder)
        assert "is a file, not a folder" in line, line
    assert ".partial" not in line and ".tmp" not in line, line


def working(command: str, w: Path, out: Path) -> list[str]:
    """A command line that works and writes its files under ``out`` (for the full disk and the closed pipe)."""
    out.mkdir(parents=True, exist_ok=True)
    argv = {
        "run": ["run", "--output", "headless", "--source", w / "clip.mp4", "--frames", "20", "--method", "identity",
                "--eye-size", "64x48", "--out", out, "--record", out / "r.mp4"],
        "stylize": ["stylize", w / "in.png", out / "o.png", "--method", "identity"],
        "styles": ["styles", "--paths"],
        "doctor": ["doctor"],
        "bench": ["bench", "--method", "identity", "--eye-size", "64x48", "--seconds", "0.2", "--warmup", "0",
                  "--json", out / "b.json"],
        "eval": ["eval", "--content", w / "content", "--styles", w / "style.png", "--method", "identity", "--size", "32",
                 "--json", out / "e.json"],
        "export": ["export", w / "model.safetensors", "--out", out / "onnx"],
        **{f"train {k}": _train(k, w, f"ok_{k}", out_dir=out / "models") for k in ("generator", "adain", "xnor")},
    }[command]
    return [str(a) for a in argv]


#: commands that train, score or export before they write: seconds of real work each
HEAVY = ("eval", "export", "train generator", "train adain", "train xnor")


def _marks(command):
    return pytest.param(command, marks=pytest.mark.slow) if command in HEAVY else command


def _env(w: Path) -> dict:
    env = child_env()
    env.update(HOME=str(w / "home"), XDG_CACHE_HOME=str(w / "home" / ".cache"), ARTEM_VR_DATA=str(w / "data"))
    return env


@pytest.mark.parametrize("command", [_marks(c) for c in COMMANDS])
def test_full_disk_is_one_line_for_every_command(world, command):
    """Every write past 100 bytes fails (EFBIG, as on a full disk): exit 2 and one "no space" line
    naming the user's file; commands that write nothing work as usual."""
    out = Path(tempfile.mkdtemp(prefix="full-", dir=world / "out"))
    r = subprocess.run([*ARTEM, *working(command, world, out)], cwd=out, capture_output=True, text=True, timeout=600,
                       env=_env(world), preexec_fn=_limit_file_size(100))
    assert "Traceback" not in r.stderr, r.stderr
    if command in WRITES_NOTHING:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_error_line(r.stderr)
    assert "no space" in line or "disk" in line, line
    assert ".partial" not in line and ".tmp" not in line, line
    assert partials(out) == []


@pytest.mark.parametrize("command", [_marks(c) for c in COMMANDS])
def test_stdout_closed_early_drops_the_rest_quietly(world, command):
    """``artem-vr … | head -1``: the command finishes (a run keeps its whole recording), the rest
    of its output is dropped, no error, no traceback, exit 0."""
    out = Path(tempfile.mkdtemp(prefix="pipe-", dir=world / "out"))
    p = subprocess.Popen([*ARTEM, *working(command, world, out)], cwd=out, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_env(world))
    first = p.stdout.readline()
    p.stdout.close()  # as head -1 does
    err = p.stderr.read().decode()
    code = p.wait(timeout=600)
    assert first, err
    assert "Traceback" not in err and "error" not in err.lower(), err
    assert code == 0, err
    if command == "run":
        # the atomic writer renames a recording into place only once every frame decodes: it is there,
        # whole (its length follows the display times, about one frame per presented frame)
        assert count_frames(out / "r.mp4") >= 15 and (out / "last.png").is_file()
    if command == "stylize":
        assert (out / "o.png").is_file()
