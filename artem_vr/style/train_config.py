"""What the `artem-vr train ...` configurations share: each is a frozen dataclass of the command
line's values, built once from the parsed arguments and checked when it is made."""

from __future__ import annotations

from dataclasses import fields

from artem_vr.limits import check_max_megapixels


class TrainCommandConfig:
    """Base of a train command's frozen dataclass (a field for each command-line value it takes,
    named as argparse names them); each subclass checks its own ranges in ``__post_init__``."""

    @classmethod
    def from_args(cls, args):
        """The command line's values (lists as tuples); the Namespace goes no further than this."""
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        if "max_megapixels" in values:  # first: a bad limit is refused before anything else (None: the default)
            values["max_megapixels"] = check_max_megapixels(values["max_megapixels"])
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
