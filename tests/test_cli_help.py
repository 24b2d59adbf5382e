"""`--help` that teaches: every option of each command with a default says it (`train KIND`:
tests/style/test_train_generator.py), an option whose choices hide behind a metavar lists them in
its help, and every command's help shows examples of it."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys

import pytest

from artem_vr import cli
from artem_vr.cli import COMMANDS, build_parser


def command_parser(command: str) -> argparse.ArgumentParser:
    """The command's parser with its own options added (as `artem-vr COMMAND --help` shows it)."""
    return cli.command_parser(build_parser(), command)


def _shown(value) -> list[set[str]]:
    """How each part of a default may be written in help text (1.0 as "1.0" or "1")."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    return [{str(v), f"{v:g}"} if isinstance(v, float) else {str(v)} for v in parts]


@pytest.mark.parametrize("command", ["run", "bench", "stylize", "eval", "export", "styles", "doctor"])
def test_every_option_states_its_default_and_choices(command):
    sp = command_parser(command)
    missing = []
    for action in sp._actions:  # noqa: SLF001
        if not action.option_strings or action.help in (None, argparse.SUPPRESS) or action.nargs == 0:
            continue  # positionals, hidden options, flags (off unless given)
        name = max(action.option_strings, key=len)
        text = action.help % dict(vars(action), prog=sp.prog)  # as argparse expands %(default)s
        stated = re.search(r"\bdefault\b", text, re.I) and all(any(f in text for f in forms)
                                                               for forms in _shown(action.default))
        if action.default is not None and not stated:
            missing.append(f"{name}: default {action.default!r} not stated in {text!r}")
        if action.choices is not None and action.metavar is not None:  # the usage line does not list them
            missing += [f"{name}: choice {c!r} not listed" for c in action.choices if str(c) not in text]
    assert not missing, "\n".join(missing)


def test_run_help_shows_the_defaults_a_new_user_asks_about(capsys):
    with pytest.raises(SystemExit):
        command_parser("run").parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("auto (default: CUDA when there is one) | cpu | cuda", "auto (default: xr, else mirror window",
                   "(headless: to OUT/last.png; headless default: OUT/run.mp4)", "(default local)"):
        assert needle in text


@pytest.mark.parametrize("command", [*COMMANDS, "train generator", "train adain", "train xnor"])
def test_every_command_help_teaches_with_examples(capsys, command):
    """`artem-vr COMMAND --help` ends its description with examples of that very command."""
    from artem_vr.cli import main

    with pytest.raises(SystemExit) as e:
        main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "examples:" in out, out
    shown = [ln.split("#")[0].split() for ln in out.split("examples:", 1)[1].splitlines() if ln.strip().startswith("artem-vr ")]
    assert any(words[1:1 + len(command.split())] == command.split() for words in shown), out


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "train"])  # train KIND: its trainer's own module
def test_a_command_s_help_and_usage_errors_load_no_model_library(command):
    """`python -m artem_vr COMMAND --help` (a real child process) imports no torch, numpy or OpenCV:
    the options are argparse alone, the command's module is imported only to run it. So is a
    command line argparse refuses. ``-X importtime`` lists every module the process imported."""
    for argv, code in (([command, "--help"], 0), ([command, "--no-such-option"], 2)):
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "artem_vr", *argv], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == code, r.stderr[-2000:]
        imported = {ln.rsplit("|", 1)[1].strip().split(".")[0] for ln in r.stderr.splitlines() if ln.startswith("import time:")}
        assert "artem_vr" in imported, r.stderr[-2000:]  # the listing is there
        assert not imported & {"torch", "numpy", "cv2"}, (argv, sorted(imported & {"torch", "numpy", "cv2"}))


def _documented_command_lines():
    """(file, line, argv) for every `artem-vr COMMAND …` written in the README, docs/ and the
    assets' cards (continuation backslashes joined; prose after `#`, `|`, `;`, `&` or a backquote cut)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md")), *sorted((root / "assets").rglob("*.md"))]
    for f in files:
        for line in re.sub(r"\\\n\s*", " ", f.read_text()).splitlines():
            for m in re.finditer(r"artem-vr ([a-z]+)((?:\s[^`#|;&]*)?)", line):
                if m.group(1) in COMMANDS:
                    try:
                        words = shlex.split(m.group(2))
                    except ValueError:  # an unclosed quote in prose
                        continue
                    yield f.relative_to(root), line.strip(), [m.group(1), *words]


def test_every_documented_command_line_names_options_the_command_has(capsys):
    """What the docs tell a user to type uses only options and words the command knows — options
    are never abbreviated, so a renamed or shortened option in the docs would fail for the user.
    A prose fragment (`artem-vr train adain ... --resume`) may leave out required arguments."""
    seen, wrong = 0, []
    for path, line, argv in _documented_command_lines():
        seen += 1
        try:
            _args, extras = cli.command_parser(build_parser(), argv[0]).parse_known_args(argv[1:])
        except SystemExit:
            said = capsys.readouterr().err.strip().splitlines()[-1]
            if not re.search(r"required|expected one argument", said):
                wrong.append(f"{path}: {line} → {said}")
            continue
        extras = [x for x in extras if x not in ("…", "...")]
        if extras:
            wrong.append(f"{path}: {line} → not understood: {extras}")
    assert seen > 50, seen  # the docs' commands were found
    assert not wrong, "\n".join(wrong)
