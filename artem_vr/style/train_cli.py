"""`artem-vr train {generator,adain,xnor}`: each kind's command line comes from its light module
(options and the checked config, no torch: `train KIND --help` stays fast); its trainer module
(torch) is imported only to train, once the config has been made and checked."""

from __future__ import annotations

import argparse
import importlib

from artem_vr.errors import UsageError
from artem_vr.limits import add_max_megapixels_argument

#: kind -> (its command-line module: ``add_arguments(parser)``, ``config_from_args(args)`` and
#: ``TRAINER``, the module whose ``train(config)`` runs it; help)
TRAINERS = {
    "generator": ("artem_vr.style.train_generator_cli", "a fast feed-forward network for one style (Johnson et al.)"),
    "adain": ("artem_vr.style.train_adain_cli", "an AdaIN decoder for arbitrary styles (Huang & Belongie)"),
    "xnor": ("artem_vr.style.train_xnor_cli", "a binarized (XNOR) generator"),
}


def _load(kind: str):
    """The command-line module of ``kind``."""
    return _import(kind, TRAINERS[kind][0])


def _import(kind: str, mod_name: str):
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name == mod_name:
            raise UsageError(f"`artem-vr train {kind}` is not available in this build ({mod_name} is missing)",
                             f"available: {', '.join(k for k in TRAINERS if _exists(k))}") from e
        raise


def _exists(kind: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(TRAINERS[kind][0]) is not None


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="trainer", metavar="KIND", required=True)
    for kind, (_mod, short) in TRAINERS.items():
        sp = sub.add_parser(kind, help=short, description=short, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(_trainer_error=None)
        # --debug after the kind too (`train generator … --debug`), as every command takes it
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        add_max_megapixels_argument(sp)  # each kind reads photos and paintings (`run`'s option, one definition)
        if not _exists(kind):
            continue  # run() explains what is missing
        try:
            _load(kind).add_arguments(sp)
        except ImportError as e:  # a dependency of this kind's command line is missing: the others still work
            if _ours(e.name):
                raise  # one of our own modules failed to import: a bug, not a missing dependency
            sp.set_defaults(_trainer_error=(f"{type(e).__name__}: {e}", e.name))


def _ours(module: str | None) -> bool:
    return (module or "").partition(".")[0] == "artem_vr"


def _failed_to_load(kind: str, text: str, missing: str | None) -> UsageError:
    fix = (f"install the missing package ({missing.partition('.')[0]}), or reinstall artem-vr" if missing
           else "reinstall artem-vr")
    return UsageError(f"`artem-vr train {kind}` failed to load: {text}", fix)


def run(args) -> int:
    kind = args.trainer
    if getattr(args, "_trainer_error", None):
        raise _failed_to_load(kind, *args._trainer_error)
    command_line = _load(kind)
    config = command_line.config_from_args(args)  # checked: a wrong number is said before torch loads
    try:
        trainer = _import(kind, command_line.TRAINER)
    except ImportError as e:  # torch (or another dependency of the trainer) is missing
        if _ours(e.name):
            raise
        raise _failed_to_load(kind, f"{type(e).__name__}: {e}", e.name) from e
    trainer.train(config)
    return 0
