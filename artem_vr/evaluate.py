"""`artem-vr eval`: how well do the stylizers stylize (and, with the temporal module, how
steady are they)?

Style part (``--content``): for every content × style pair, the VGG19 content loss
(relu4_1, MSE against the photo) and style loss (Σ over relu1_1…relu4_1 of MSE of channel
means + MSE of channel stds against the painting) of

* each method's output (``--method generator adain …``; a method without a model for that
  style is reported as "n/a"),
* the unstylized photo (the reference: style-loss *reduction* = 1 − loss(output)/loss(photo)),
* optionally a Gatys-style optimization from the photo (``--gatys N`` steps of Adam on pixels),

then per method the mean reduction, a table on stdout, ``--json`` and a contact sheet
(``--sheet``: rows content | style | outputs). Everything is deterministic for a fixed
``--seed`` (the seed picks the ``--limit`` subset; nothing else is random).

This module is the command (:class:`EvalConfig` parsed once, :func:`run`; its options:
:func:`artem_vr.options.add_eval_options`);
the measurement is :mod:`artem_vr.eval_style`, the contact sheet :mod:`artem_vr.eval_sheet`.

Temporal part: :mod:`artem_vr.temporal.metrics`, when its options (``--videos``, ``--stereo``)
are given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from artem_vr.atomic import InputsRead, check_can_create, refuse_inputs, write_image_atomic, write_text_atomic
from artem_vr.cuda.device import resolve_device
from artem_vr.errors import UsageError, check_at_least
from artem_vr.eval_sheet import contact_sheet
from artem_vr.eval_style import evaluate, format_table
from artem_vr.latency_eval import LatencyConfig, run_latency
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.style.catalog import style_files
from artem_vr.temporal.metrics import run_eval
from artem_vr.text import say


@dataclass(frozen=True)
class EvalConfig:
    """`artem-vr eval`, parsed once and checked. The style-quality half uses ``content`` …
    ``style_holdout``; the temporal half (:func:`artem_vr.temporal.metrics.run_eval`) reads
    ``videos`` … ``comfort_images`` (and ``method``, ``device``) from this same value."""

    content: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    method: tuple[str, ...] = ("generator", "adain")
    gatys: int = 0
    json: str | None = None
    sheet: str | None = None
    sheet_rows: int = 12
    tile: int = 128
    size: int = 256
    limit: int | None = None
    holdout: int = 0
    style_holdout: int = 0
    seed: int = 0
    device: str = "cpu"  # resolved (cuda/device.resolve_device)
    videos: str | None = None
    stereo: str | None = None
    style: str | None = None
    video_frames: int = 24
    video_width: int = 480
    stereo_width: int = 640
    comfort_backend: str = "auto"
    comfort_json: str | None = None
    comfort_images: str | None = None
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS  # the decode limit of every photo, painting, frame and view read

    def __post_init__(self):
        check_max_megapixels(self.max_megapixels)  # first, as run does
        if not self.content and not self.temporal:
            raise UsageError("nothing to evaluate", "give --content DIR --styles DIR|PRESET (and/or --videos/--stereo)")
        if self.content and not self.styles:
            raise UsageError("--content needs --styles", "e.g. --styles starry_night great_wave or a directory of paintings")
        check_at_least(("--size", self.size, 32, 256), ("--tile", self.tile, 16, 128), ("--sheet-rows", self.sheet_rows, 1, 12),
                       ("--gatys", self.gatys, 0, 50), ("--limit", self.limit, 1, 20), ("--holdout", self.holdout, 0, 10),
                       ("--style-holdout", self.style_holdout, 0, 5))
        if self.video_frames < 2:
            raise UsageError(f"--video-frames {self.video_frames}: flicker needs at least 2 frames", "e.g. --video-frames 24")
        for option, width in (("--video-width", self.video_width), ("--stereo-width", self.stereo_width)):
            if width < 16:
                raise UsageError(f"{option} {width} is too narrow", f"give at least 16 pixels, e.g. {option} 480")
        if self.comfort_backend not in ("auto", "torch", "opencv"):
            raise UsageError(f"--comfort-backend {self.comfort_backend!r} is not auto, torch or opencv",
                             "choose auto, torch or opencv")
        check_can_create(self.json, self.sheet, self.comfort_json)  # said now, not after the evaluation
        check_can_create(self.comfort_images, folder=True)

    @property
    def temporal(self) -> bool:
        return bool(self.videos or self.stereo)

    @classmethod
    def from_args(cls, args) -> "EvalConfig":
        """The command line's values; the Namespace goes no further than this."""
        names = [f.name for f in fields(cls)]
        values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
        for n in ("content", "styles", "method"):
            if n in values:
                values[n] = tuple(values[n])
        values.pop("device", None)
        checked = cls(**values)  # what to evaluate is checked before the device is asked for
        return replace(checked, device=resolve_device(getattr(args, "device", "auto")))


def run(args) -> int:
    if getattr(args, "latency", False):
        return run_latency(LatencyConfig.from_args(args))
    return run_config(EvalConfig.from_args(args))


def eval_inputs(config: EvalConfig) -> InputsRead:
    """The files ``config`` names for eval to read — photos, paintings (a style's own files too),
    videos, stereo views; a folder's files — which none of its outputs may replace."""
    files: list = []
    for item in (*config.content, *config.styles, config.videos, config.stereo, config.style):
        if item and Path(item).is_dir():
            files += [f for f in Path(item).iterdir() if f.is_file()]
        elif item:
            files += style_files(item)
    return InputsRead(files)


def run_config(config: EvalConfig) -> int:
    """Both halves of `artem-vr eval` as ``config`` asks; prints the tables, writes the files. An
    output that is one of the inputs is refused before any work."""
    inputs = eval_inputs(config)
    for option, out in (("--json", config.json), ("--sheet", config.sheet), ("--comfort-json", config.comfort_json)):
        if out:
            refuse_inputs(out, inputs, option)
    result: dict = {}
    if config.content:
        report, sheet = evaluate(
            list(config.content), list(config.styles), list(config.method), size=config.size, limit=config.limit,
            seed=config.seed, gatys_steps=config.gatys, holdout=config.holdout, style_holdout=config.style_holdout,
            device=config.device, progress=True, max_megapixels=config.max_megapixels,
        )
        say(format_table(report))
        result["style"] = report
        if config.sheet:
            img = contact_sheet(report, sheet, tile=config.tile, max_rows=config.sheet_rows)
            Path(config.sheet).parent.mkdir(parents=True, exist_ok=True)
            write_image_atomic(config.sheet, img, inputs, what="eval sheet")
            say(f"wrote {config.sheet} ({img.shape[1]}x{img.shape[0]})")
    if config.temporal:
        result["temporal"] = run_eval(config, inputs)
    if config.json:
        Path(config.json).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(config.json, json.dumps(result, indent=1, sort_keys=True, allow_nan=True) + "\n", inputs, what="eval JSON")
        say(f"wrote {config.json}")
    return 0
