"""`artem-vr train {generator,adain,xnor}`: dispatch to the training modules (imported lazily)."""

from __future__ import annotations

import argparse
import importlib

from artem_vr.errors import UsageError
from artem_vr.limits import add_max_megapixels_argument

#: kind -> (module, help)
TRAINERS = {
    "generator": ("artem_vr.style.train_generator_cli", "a fast feed-forward network for one style (Johnson et al.)"),
    "adain": ("artem_vr.style.train_adain_cli", "an AdaIN decoder for arbitrary styles (Huang & Belongie)"),
    "xnor": ("artem_vr.style.train_xnor", "a binarized (XNOR) generator"),
}


def _load(kind: str):
    mod_name = TRAINERS[kind][0]
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
        sp = sub.add_parser(kind, help=short, description=short, formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(_trainer_error=None)
        # --debug after the kind too (`train generator … --debug`), as every command takes it
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        add_max_megapixels_argument(sp)  # each kind reads photos and paintings (`run`'s option, one definition)
        if not _exists(kind):
            continue  # run() explains what is missing
        try:
            _load(kind).add_arguments(sp)
        except ImportError as e:  # a dependency of this trainer is missing: the others still work
            if _ours(e.name):
                raise  # one of our own modules failed to import: a bug, not a missing dependency
            sp.set_defaults(_trainer_error=(f"{type(e).__name__}: {e}", e.name))


def _ours(module: str | None) -> bool:
    return (module or "").partition(".")[0] == "artem_vr"


def run(args) -> int:
    if getattr(args, "_trainer_error", None):
        text, missing = args._trainer_error
        fix = (f"install the missing package ({missing.partition('.')[0]}), or reinstall artem-vr" if missing
               else "reinstall artem-vr")
        raise UsageError(f"`artem-vr train {args.trainer}` failed to load: {text}", fix)
    return int(_load(args.trainer).run(args) or 0)
