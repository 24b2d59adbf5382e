"""`--help` that teaches: every option of each command with a default says it (`train KIND`:
tests/style/test_train_generator.py), an option whose choices hide behind a metavar lists them in
its help, and every command's help shows examples of it."""

from __future__ import annotations

import argparse
import importlib
import re

import pytest

from artem_vr.cli import COMMANDS, build_parser


def command_parser(command: str) -> argparse.ArgumentParser:
    """The command's parser with its module's options added (as `artem-vr COMMAND --help` shows it)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    sp = sub.choices[command]
    module = importlib.import_module(COMMANDS[command][0])
    if hasattr(module, "add_arguments"):  # doctor has no options of its own
        module.add_arguments(sp)
    return sp


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
