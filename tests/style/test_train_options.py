"""`artem-vr train` parses its command lines without the model libraries: each kind's options and
config are torch-free (``train_*_cli``), its trainer is imported only to train."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: runs artem_vr.cli.main(ARGV) in a fresh interpreter; prints the exit code and which heavy libraries it loaded
_PROBE = textwrap.dedent("""
    import sys
    from artem_vr.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
    print("EXIT", code, "LOADED", *sorted(m for m in ("torch", "numpy", "cv2") if m in sys.modules))
""")


def _probe(*argv: str) -> tuple[int, list[str], str]:
    r = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    last = r.stdout.strip().splitlines()[-1].split()
    assert last[0] == "EXIT" and last[2] == "LOADED", r.stdout + r.stderr
    return int(last[1]), last[3:], r.stdout + r.stderr


@pytest.mark.parametrize("argv", [["train", "--help"], ["train", "generator", "--help"], ["train", "adain", "--help"],
                                  ["train", "xnor", "--help"]])
def test_train_help_loads_no_model_library(argv):
    code, loaded, out = _probe(*argv)
    assert code == 0 and "usage: artem-vr train" in out, out
    assert loaded == [], f"`artem-vr {' '.join(argv)}` imported {loaded}"


@pytest.mark.parametrize("kind, argv", [
    ("generator", ["--content", "photos", "--style", "starry_night", "--out", "x", "--iters", "0"]),
    ("adain", ["--content", "photos", "--styles", "paintings", "--size", "30"]),
    ("xnor", ["--from", "starry_night", "--content", "photos", "--out", "x", "--batch", "0"]),
])
def test_a_wrong_number_is_said_before_torch_loads(tmp_path, kind, argv):
    """The whole command line parses and its config is checked before the trainer (torch) is imported."""
    code, loaded, out = _probe("train", kind, *argv)
    assert code == 2 and f"artem-vr train {kind}: error: " in out, out
    assert "torch" not in loaded, out
