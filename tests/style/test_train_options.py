"""`artem-vr train` parses its command lines without the model libraries: each kind's options and
config are torch-free (``train_*_cli``), its trainer is imported only to train."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
from pathlib import Path

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


# ------------------------------------------------------------------ the same concept, the same option

KINDS = ("generator", "adain", "xnor")

#: the required options of each kind (values that parse; nothing is read)
_REQUIRED = {"generator": ["--content", "photos", "--style", "starry_night", "--out", "x"],
             "adain": ["--content", "photos", "--styles", "paintings"],
             "xnor": ["--from", "starry_night", "--content", "photos", "--out", "x"]}

#: option -> the kinds that take it: one concept, one spelling, one meaning, one help text
SHARED = {
    "--content": KINDS, "--out": KINDS, "--size": KINDS, "--batch": KINDS, "--iters": KINDS, "--lr": KINDS,
    "--out-dir": KINDS, "--force": KINDS, "--holdout": KINDS, "--device": KINDS, "--threads": KINDS, "--seed": KINDS,
    "--log-every": KINDS, "--no-progress": KINDS, "--time-limit": KINDS,
    "--run-dir": KINDS, "--resume": KINDS, "--checkpoint-every": KINDS,
    # not adain: its photos and paintings are preloaded tensors, a crop is a slice drawn in the training
    # process with the run's torch.Generator (see train_adain_cli.add_arguments): nothing for workers to do
    "--workers": ("generator", "xnor"),
    "--sample-every": ("generator", "adain"), "--amp": ("generator", "adain"),
}

#: options whose value and help are the kind's own (one folder or several, photos per step or pairs, ...):
#: the same name and metavar only
KIND_WORDED = {"--content", "--out", "--batch", "--lr"}

#: earlier spellings: still taken, to the same value, not shown
RENAMED = {"--ckpt-every": "--checkpoint-every", "--holdout-every": "--holdout"}


def _kind_parser(kind: str) -> argparse.ArgumentParser:
    from artem_vr.cli import build_parser
    from artem_vr.style import train_cli

    sp = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    train_cli.add_arguments(sp)
    return next(a for a in sp._actions if isinstance(a, argparse._SubParsersAction)).choices[kind]  # noqa: SLF001


def _shown(kind: str) -> dict[str, argparse.Action]:
    """option string -> action, for the options `train KIND --help` shows."""
    return {o: a for a in _kind_parser(kind)._actions if a.help != argparse.SUPPRESS for o in a.option_strings}  # noqa: SLF001


def _wording(action: argparse.Action) -> str:
    """The help text without its default (each kind states its own)."""
    return re.sub(r"default[^;)]*", "default …", action.help)


@pytest.mark.parametrize("option", sorted(SHARED))
def test_a_shared_concept_is_the_same_option_in_every_kind(option):
    shown = {kind: _shown(kind) for kind in KINDS}
    assert sorted(k for k in KINDS if option in shown[k]) == sorted(SHARED[option]), f"{option}: which kinds take it"
    actions = [shown[k][option] for k in SHARED[option]]
    assert len({tuple(a.option_strings) for a in actions}) == 1, [a.option_strings for a in actions]
    assert len({a.dest for a in actions}) == 1 and len({a.metavar for a in actions}) == 1
    if option not in KIND_WORDED:  # also the same kind of value, and the same help
        assert len({(a.type, a.nargs, type(a)) for a in actions}) == 1, actions
        assert len({_wording(a) for a in actions}) == 1, {k: a.help for k, a in zip(SHARED[option], actions)}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_takes_the_canonical_names(kind):
    names = {"--holdout": "4", "--log-every": "7", "--seed": "3", "--threads": "2", "--device": "cpu", "--out-dir": "models",
             "--checkpoint-every": "11", "--sample-every": "0", "--run-dir": "run", "--time-limit": "2.5", "--workers": "3"}
    given = [x for o, v in names.items() if o in SHARED and kind in SHARED[o] for x in (o, v)]
    flags = [o for o in ("--force", "--no-progress", "--resume", "--amp") if kind in SHARED[o]]
    args = _kind_parser(kind).parse_args([*_REQUIRED[kind], *given, *flags])
    assert args.holdout == 4 and args.log_every == 7 and args.seed == 3 and args.threads == 2 and args.device == "cpu"
    assert args.out_dir == Path("models") and args.force and args.no_progress and args.time_limit == 2.5
    assert _kind_parser(kind).parse_args(_REQUIRED[kind]).time_limit is None  # no limit unless given
    if kind != "adain":
        assert args.workers == 3 and _kind_parser(kind).parse_args(_REQUIRED[kind]).workers == 0
    assert (args.checkpoint_every, args.run_dir, args.resume) == (11, Path("run"), True)
    if kind != "xnor":
        assert (args.sample_every, args.amp) == (0, True)
        assert _kind_parser(kind).parse_args([*_REQUIRED[kind], "--no-amp"]).amp is False


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("old, new", sorted(RENAMED.items()))
def test_an_earlier_spelling_parses_to_the_same_value_and_is_not_shown(kind, old, new, capsys):
    if kind not in SHARED[new]:
        return  # a kind without the concept takes neither spelling
    parser = _kind_parser(kind)
    dest = parser.parse_args([*_REQUIRED[kind], new, "6"])
    assert vars(parser.parse_args([*_REQUIRED[kind], old, "6"])) == vars(dest)
    assert vars(parser.parse_args([*_REQUIRED[kind]]))[new[2:].replace("-", "_")] != 6  # the default is the shown option's
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert old not in capsys.readouterr().out


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_model_cards_commands_parse(kind):
    """Each command line the shipped model cards and the docs record still parses (canonical or earlier spelling)."""
    import shlex

    from artem_vr.paths import MODELS_DIR

    root = Path(__file__).resolve().parents[2]
    texts = [p.read_text() for p in [*sorted(MODELS_DIR.glob("*.md")), *sorted((root / "docs").glob("*.md")), root / "README.md"]]
    commands = [c for t in texts for c in re.findall(rf"artem-vr train {kind} [^`\n]*", t)]
    assert commands or kind == "xnor" and not any("train xnor" in t for t in texts), f"no `train {kind}` command found"
    parser = _kind_parser(kind)
    for command in commands:
        words = [w for w in shlex.split(command.split(" #")[0].replace("\\", ""))[3:] if w != "..."]
        if "--content" in words:  # a full command line (not an excerpt like `train adain ... --resume`)
            parser.parse_args(words)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value, said", [
    ("0", "--time-limit 0 must be above 0 — give minutes, e.g. --time-limit 30, or leave it out for no limit"),
    ("-1", "--time-limit -1 must be above 0"),
    ("nan", "--time-limit nan is not a finite number"),
])
def test_a_time_limit_of_no_minutes_is_refused_in_every_kind(cli, tmp_path, kind, value, said):
    """Checked with the config, before any data is read (the folders here do not exist); 0 was "no limit" in adain."""
    missing = str(tmp_path / "none")
    args = [missing if a in ("photos", "paintings") else a for a in _REQUIRED[kind]]
    code, _, err = cli("train", kind, *args, "--time-limit", value)
    assert code == 2 and err.strip().startswith(f"artem-vr train {kind}: error: {said}"), err


def test_the_holdout_is_every_nth_file_of_each_folder_as_eval_picks_it(tmp_path):
    """`train KIND --holdout N` holds out, and `eval --holdout N` scores, the same files: every N-th of each folder."""
    from artem_vr.eval_style import held_out
    from artem_vr.style.data import gather, split_holdout

    files = sorted(tmp_path / d / f"{i}.jpg" for d in ("a", "b") for i in range(5))
    for f in files:
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"")
    train, held = split_holdout(files, 2)
    assert held == [tmp_path / "a/1.jpg", tmp_path / "a/3.jpg", tmp_path / "b/1.jpg", tmp_path / "b/3.jpg"]
    assert train == [f for f in files if f not in held]
    assert held_out(files, 2) == held  # eval --holdout 2
    assert gather([tmp_path / "a", tmp_path / "b"], 2) == (train, held)  # train adain's folders
    assert split_holdout(files, 0) == (files, [])


@pytest.mark.parametrize("every, kept, said", [
    (200, False, "nothing was saved yet (the first checkpoint comes at step 200)"),
    (0, False, "nothing was saved yet (--checkpoint-every 0: the checkpoint comes at the end)"),
    (0, True, "the last checkpoint is kept in {run}: the same command with --resume continues from it"),
])
def test_an_interrupted_run_says_what_was_kept(tmp_path, every, kept, said):
    """One wording for every kind (was 'the first checkpoint comes at step 0' with --checkpoint-every 0)."""
    import signal

    from artem_vr.errors import Interrupted
    from artem_vr.style.train_config import say_resumable

    ckpt = tmp_path / "checkpoint.safetensors"
    if kept:
        ckpt.write_bytes(b"")
    e = Interrupted(signal.SIGINT)
    say_resumable(e, ckpt, every)
    assert e.outcome == said.format(run=tmp_path)
