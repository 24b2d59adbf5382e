"""No failure is hidden as "not available": a missing dependency is named on one line, a bug in our
own code surfaces as an internal error (exit 3) instead of being turned into a quiet absence."""

from __future__ import annotations

import subprocess
import textwrap

from faults_helpers import ARTEM, child_env, one_error_line

#: `artem-vr ARGV` with one more trainer registered (module name, from PYTHONPATH) — the real CLI
_WITH_TRAINER = textwrap.dedent("""
    import sys
    from artem_vr.style import train_cli
    train_cli.TRAINERS[sys.argv[1]] = (sys.argv[2], "a trainer under test")
    from artem_vr.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def _cli_with_trainer(tmp_path, kind: str, source: str, *argv) -> subprocess.CompletedProcess:
    (tmp_path / f"trainer_{kind}.py").write_text(textwrap.dedent(source))
    env = child_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(tmp_path)
    return subprocess.run([ARTEM[0], "-c", _WITH_TRAINER, kind, f"trainer_{kind}", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def test_a_trainer_missing_a_dependency_says_which_and_the_others_still_work(tmp_path):
    source = """
        import artem_vr_absent_dependency  # not installed

        def add_arguments(p):
            pass
    """
    r = _cli_with_trainer(tmp_path, "absent", source, "train", "absent")
    assert r.returncode == 2, r.stderr
    assert one_error_line(r.stderr) == (
        "artem-vr train absent: error: `artem-vr train absent` failed to load: ModuleNotFoundError: No module named "
        "'artem_vr_absent_dependency' — install the missing package (artem_vr_absent_dependency), or reinstall artem-vr")
    r = _cli_with_trainer(tmp_path, "absent", source, "train", "generator", "--help")
    assert r.returncode == 0 and "--checkpoint-every" in r.stdout, r.stderr


def test_a_bug_in_a_trainer_is_an_internal_error_not_a_missing_trainer(tmp_path):
    """A TypeError in a trainer's set-up is ours to fix: exit 3 with its text, whichever trainer was asked for."""
    source = """
        def add_arguments(p):
            p.add_argument("--size", type=int, default="a typo", nargs=None, bogus=1)
    """
    for argv in (["train", "buggy", "--help"], ["train", "generator", "--help"]):
        r = _cli_with_trainer(tmp_path, "buggy", source, *argv)
        assert r.returncode == 3, r.stderr
        line = one_error_line(r.stderr)
        assert line.startswith("artem-vr train: error: internal error: TypeError: ") and "bogus" in line, line
        assert "failed to load" not in line


def test_a_missing_module_of_our_own_is_a_bug_not_a_missing_dependency(tmp_path):
    source = """
        from artem_vr.errors import NoSuchErrorClass

        def add_arguments(p):
            pass
    """
    r = _cli_with_trainer(tmp_path, "own", source, "train", "own")
    assert r.returncode == 3, r.stderr
    line = one_error_line(r.stderr)
    assert line.startswith("artem-vr train: error: internal error: ImportError: ") and "NoSuchErrorClass" in line, line
