"""The decode limit of the commands that read user images and videos (``--max-megapixels``):
its default, its range check and its one argument definition. A leaf without numpy, so the
command line builds its parsers without loading it."""

from __future__ import annotations

from artem_vr.errors import UsageError, shown

#: the decode limit of the readers (:mod:`artem_vr.sources.imageio`) unless a command sets its own
#: (``--max-megapixels``): an 8K frame is 33 MP, a 50 MP photo decodes to 150 MB
DEFAULT_MAX_MEGAPIXELS = 50.0


def check_max_megapixels(mp: float | None) -> float:
    """A decode limit in megapixels, checked: 0.01–10000 (else UsageError); None → the default."""
    if mp is None:
        return DEFAULT_MAX_MEGAPIXELS
    if not 0.01 <= float(mp) <= 10000:
        raise UsageError(f"--max-megapixels {shown(mp)} is out of range", "use 0.01–10000, e.g. --max-megapixels 120")
    return float(mp)


def add_max_megapixels_argument(parser) -> None:
    """``--max-megapixels MP`` on ``parser`` (an argparse parser): the one definition that every
    command decoding user images or videos takes (run, stylize, eval, each `train` kind). Its
    value (None when not given) goes through :func:`check_max_megapixels` into the command's config."""
    parser.add_argument("--max-megapixels", type=float, default=None, metavar="MP",
                        help="refuse images and video frames larger than this, before decoding them "
                             f"(default {DEFAULT_MAX_MEGAPIXELS:g})")
