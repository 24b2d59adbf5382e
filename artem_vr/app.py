"""`artem-vr run`: the composition root. The command line becomes one frozen
:class:`~artem_vr.config.RunConfig` (:func:`config_from_args`), which builds the pipeline
(:func:`build_pipeline`: source → controller → worker) and an Output (:func:`choose_output`
once, then :func:`make_output`); :func:`~artem_vr.pipeline.present` runs them. The frame's
path lives in :mod:`artem_vr.pipeline`, the contracts between its parts in
:mod:`artem_vr.contracts`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path


from artem_vr.atomic import InputsRead
from artem_vr.config import RunConfig, parse_size
from artem_vr.contracts import OUTPUTS, Output
from artem_vr.control import ControlState, Controller
from artem_vr.cuda.device import resolve_device
from artem_vr.errors import ImageError, UsageError, shown
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.pipeline import Pipeline, as_artem_error, present, worker_error
from artem_vr.pose import PoseHistory
from artem_vr.render.geometry import load_calibration
from artem_vr.recording import OpenRecordings, Recorder
from artem_vr.render.context import display_available
from artem_vr.render.headless import HeadlessOutput
from artem_vr.render.mirror import MirrorOutput
from artem_vr.sources import open_source
from artem_vr.sources.live import redact_url
from artem_vr.status import StatusPrinter
from artem_vr.style.catalog import adain_decoder, is_model_file, style_file_method, style_files
from artem_vr.style.engine import auto_engine
from artem_vr.style.methods import METHODS, make_stylizer, offered_styles, stylizer_class
from artem_vr.style.fused import conv_ways_setting
from artem_vr.style.presets import IMAGE_SUFFIXES, parse_style_spec
from artem_vr.temporal import wrap_for_run
from artem_vr.temporal.foveate import FoveaRegion, FoveatedStylizer
from artem_vr.temporal.graphed import frame_graph_line
from artem_vr.text import did_you_mean, printable, say
from artem_vr.worker import StylizerWorker
from artem_vr.xr.presenter import XrOptions, XrOutput
from artem_vr.xr import probe as xr_probe
from artem_vr.xr.runtime import require_runtime

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- outputs
def choose_output(requested: str, printer=print) -> str:
    """xr when an OpenXR runtime answers, else mirror when a display works, else headless."""
    if requested not in OUTPUTS:
        raise UsageError(f"unknown output {requested!r}", f"choose one of: {', '.join(OUTPUTS)}")
    if requested != "auto":
        return requested
    ok, why = xr_probe.xr_available()
    if ok:
        printer("output: xr (an OpenXR runtime answered)")
        return "xr"
    if display_works():
        printer(f"output: mirror (no OpenXR runtime: {why})")
        return "mirror"
    printer(f"output: headless (no OpenXR runtime: {why}; no display)")
    return "headless"


def display_works() -> bool:
    """A desktop to open the mirror window on (Linux: $DISPLAY / $WAYLAND_DISPLAY and an answer)."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    return bool(display_available())


def make_output(kind: str, config: RunConfig, recordings: OpenRecordings | None = None) -> Output:
    """The Output for ``kind`` (xr | mirror | headless) with the run's options. ``recordings``: the
    run's open recordings, which the headset's watchdog finishes if the runtime hangs."""
    if kind == "xr":
        return XrOutput(XrOptions(graphics=config.xr_graphics, scale=config.xr_scale, view=config.view(),
                                  mirror=config.xr_mirror, validation=config.xr_validation,
                                  max_frames=config.frames, space=config.xr_space, hud=True,
                                  hang_timeout=config.xr_hang_timeout, pose_source=config.pose_source),
                        recordings=recordings)
    if kind == "mirror":
        return MirrorOutput(config.eye_size, config.view(), max_fps=30.0 if config.record is not None else 60.0,
                            hud=True)
    if kind == "headless":
        return HeadlessOutput(config.eye_size, config.view(), hud=True)
    raise UsageError(f"unknown output {kind!r}", "choose xr, mirror or headless")


# ---------------------------------------------------------------------------- choices
def available_methods() -> dict[str, list[str]]:
    """method → preset styles it has models for (methods without any are left out)."""
    out = {}
    for m in METHODS:
        if m == "identity":
            continue
        stylizer_class(m)  # a broken method is an error here, never "not offered"
        styles = offered_styles(m)
        if styles:
            out[m] = list(styles)
    return out


# ---------------------------------------------------------------------------- command
# (its options: artem_vr.options.add_run_options)
def stylizer_options(args) -> dict:
    """The per-method stylizer options of the command line (run and stylize share them)."""
    weights = None
    if args.adain_model:
        weights = adain_decoder(args.adain_model)  # unknown name → UsageError now
    return {"preserve_color": args.preserve_color, "adain_variant": args.adain_variant, "arch": args.arch,
            "adain_weights": weights, "engine": args.engine}


def stylizer_factory(options: dict, internal_scale: float = 1.0, printer=print, fovea=None, region=None,
                     max_megapixels: float = DEFAULT_MAX_MEGAPIXELS, live: bool = True):
    """make_stylizer with the user's options applied (per method where they apply); checks them now.
    ``fovea``: a FoveaSpec → each stylizer is foveated (window centre from ``region``).
    ``max_megapixels``: the decode limit of the style images a stylizer reads (AdaIN's paintings).
    ``live``: frames keep coming at one size (run, bench), so engine ``auto`` may pick one that
    compiles on the first frame (:func:`~artem_vr.style.engine.auto_engine`); False for stylize."""
    if not 0.0 < internal_scale <= 1.0:
        raise UsageError(f"--internal-scale {shown(internal_scale)} is out of range", "use a value in (0, 1], e.g. 0.5")

    def factory(method, style=None, device="cpu"):
        kw = {}
        engine = options.get("engine")
        if engine == "auto" and method in ("adain", "generator", "xnor"):
            engine = auto_engine(device, method, live=live)
        if method == "adain":
            kw = {"preserve_color": options["preserve_color"], "variant": options["adain_variant"],
                  "weights": options.get("adain_weights"), "max_megapixels": max_megapixels}
            if engine is not None:  # fused, or AdaIN's eager path for every other kind
                kw["engine"] = engine
        elif method in ("generator", "xnor"):
            kw = {"arch": options.get("arch")}
            if engine is not None:
                kw["engine"] = engine
        s = make_stylizer(method, style, device=device, internal_scale=internal_scale, **kw)
        if "engine" in kw:
            printer(f"{method} engine: {s.engine.kind} ({s.engine.describe()})")
        if fovea is not None and method != "identity":  # nothing to save on a pass-through
            s = FoveatedStylizer(s, region, fovea)
        return s

    return factory


def _is_image_name(name: str) -> bool:
    """A style part that names an image file (a path, or an image's suffix), not a style name."""
    return os.sep in name or Path(name).suffix.lower() in IMAGE_SUFFIXES


def plan_style(method: str | None, style: str | None, printer=print) -> tuple[str, list[str], list[str], str | None]:
    """Decide (method, methods offered, styles of that method, initial style or file).

    ``style``: a preset or user style name (`artem-vr styles`), an image file (adain) or a
    generator/xnor ``.safetensors`` file (its own method)."""
    avail = available_methods()
    if style is not None and is_model_file(style):
        file_method = style_file_method(style)  # missing, unreadable or a decoder → an error here
        if method not in (None, file_method):
            raise UsageError(f"--style {style} is a {file_method} model", f"drop --method, or use --method {file_method}")
        return file_method, list(dict.fromkeys([file_method, *avail])), avail.get(file_method, []), style
    # an image, or a blend ("painting.jpg:0.7+starry_night:0.3", "starry_night+great_wave"): AdaIN's
    parts = parse_style_spec(style) if style is not None else []
    is_file = len(parts) > 1 or any(_is_image_name(name) for name, _weight in parts)
    if method is not None:
        stylizer_class(method)  # unknown method → UsageError
    if is_file:
        if method not in (None, "adain"):
            raise UsageError(f"--style {style}: a style image or a blend needs --method adain",
                             "drop --method, or use a preset name (artem-vr styles)")
        if "adain" not in avail:
            raise UsageError("--style with an image or a blend needs the AdaIN decoder, which is not installed",
                             "train one with `artem-vr train adain` or use a preset name")
        for name, _weight in parts:  # a painting that is not there, a name without one: said before the decoder loads
            if _is_image_name(name) and not os.path.isfile(name):
                raise ImageError(f"style image {name!r} not found",
                                 "give an existing image file or a preset name (artem-vr styles)")
            if not _is_image_name(name) and not os.path.isfile(name) and name not in avail["adain"]:
                raise UsageError(f"unknown style {name!r} in --style {style}{did_you_mean(name, avail['adain'])}",
                                 f"blend image files or these styles: {', '.join(avail['adain'])}")
        return "adain", list(avail), avail["adain"], style
    if method is None:
        method = next((m for m in ("generator", "adain", "xnor") if m in avail), "identity")
        if style is not None and method in avail and style not in avail[method]:
            method = next((m for m in avail if style in avail[m]), method)
        if method == "identity":
            printer("note: no trained style models found (shipped or yours) — frames pass through unstylized")
    if method == "identity":
        return "identity", ["identity"], ["identity"], None
    if method not in avail:
        raise UsageError(f"method {method!r} has no trained models here",
                         f"available: {', '.join(avail) or 'none'} (see `artem-vr styles`)")
    styles = avail[method]
    if style is not None and style not in styles:
        if others := [m for m, names in avail.items() if style in names]:  # a style, but not this method's
            raise UsageError(f"style {style!r} has no {method} model here",
                             f"use --method {' or '.join(others)}, or one of the {method} styles: {', '.join(styles)}")
        known = list(dict.fromkeys(n for names in avail.values() for n in names))
        raise UsageError(f"unknown style {style!r}{did_you_mean(style, known)}",
                         f"choose one of: {', '.join(styles)} (see `artem-vr styles`), or give an image file with --method adain")
    return method, list(avail), styles, None


def config_from_args(args) -> RunConfig:
    """The command line → one frozen, validated RunConfig (the only place argparse is read)."""
    max_megapixels = check_max_megapixels(args.max_megapixels)  # first: a bad limit is refused before anything runs
    output = choose_output(args.output, show)
    device = resolve_device(args.device)
    internal_scale = args.internal_scale
    if internal_scale is None:  # live: the CPU needs fewer pixels to keep up
        internal_scale = 1.0 if device.startswith("cuda") else 0.5
    frames = args.frames if args.frames is not None else (90 if output == "headless" else None)
    out_dir = Path(args.out)
    record = Path(args.record) if args.record else (out_dir / "run.mp4" if output == "headless" else None)
    return RunConfig(
        source=args.source, stereo=args.stereo, loop=not args.no_loop, style=args.style, method=args.method,
        strength=args.strength, output=output, eye_size=parse_size(args.eye_size) if args.eye_size else (640, 360),
        view_mode=args.view, ipd_mm=args.ipd, frames=frames, record=record, out_dir=out_dir,
        temporal=args.temporal == "on", stereo_consistency=args.stereo_consistency == "on", device=device,
        internal_scale=internal_scale, stylizer_options=tuple(sorted(stylizer_options(args).items())),
        xr_graphics=args.xr_graphics, xr_mirror=args.mirror, xr_scale=args.xr_scale, xr_space=args.xr_space,
        xr_validation=args.xr_validation, xr_hang_timeout=args.xr_hang_timeout,
        camera_fov=args.camera_fov, camera=load_calibration(args.camera_calibration) if args.camera_calibration else None,
        reproject=args.reproject == "on", pose_source=args.pose_source, capture_delay_ms=args.capture_delay, sim_pan=args.sim_pan,
        stylize_delay_ms=args.stylize_delay, foveate=args.foveate, fovea_size=args.fovea_size,
        max_megapixels=max_megapixels)


def build_pipeline(config: RunConfig, printer=print, source=None) -> Pipeline:
    """RunConfig → source, controller, worker (with the comfort wrappers), Pipeline. ``source``:
    an already made FrameSource (the bench's unpaced one), else the config's is opened — and its
    file checked (:meth:`~artem_vr.sources.base.FrameSource.check`) before the stylizer's model loads."""
    poses = PoseHistory()  # the XR output fills it; the simulated camera and the passthrough view read it
    if source is None:
        source = open_source(config.source, stereo=config.stereo, loop=config.loop, poses=poses,
                             sim=config.sim_camera(), max_megapixels=config.max_megapixels)
        source.check()
    method, methods, styles, style_file = plan_style(config.method, config.style, printer)
    index = styles.index(config.style) if config.style in styles else 0
    state = ControlState(method=method, methods=methods, styles=list(styles), index=index, strength=config.strength,
                         temporal=config.temporal, stereo_consistency=config.stereo_consistency)
    controller = Controller(state, printer)
    fovea = region = None
    if config.foveated:
        fovea, region = config.fovea(), FoveaRegion()
        printer(f"foveation: on (window {fovea.size:.0%} of each side at full resolution, the rest at {fovea.periphery:g} scale; "
                "--foveate off for the whole eye)")
    graph_line = frame_graph_line(config.device)
    if graph_line:
        printer(graph_line)
    conv_ways_setting()  # a bad ARTEM_VR_CONV_WAYS is said here, not by the worker's first fused frame
    factory = stylizer_factory(config.options(), config.internal_scale, printer, fovea, region, config.max_megapixels)
    worker = StylizerWorker(source, controller, device=config.device, factory=factory, wrap=wrap_for_run,
                            initial_style=style_file)
    worker.delay_s = config.stylize_delay_ms / 1000.0
    worker.fovea_region = region
    pipeline = Pipeline(source, worker, controller, max_frames=config.frames)
    pipeline.poses = poses
    return pipeline


def device_note(device: str, method: str) -> str:
    """The device, and what to expect of it (the CPU stylizes a few frames a second)."""
    if device.startswith("cuda") or method == "identity":
        return device
    return f"{device} — expect a few stylized FPS (the display keeps its own rate; a CUDA GPU is far faster)"


def show(line: str) -> None:
    """A line of `run`'s output: escaped (names and labels come from files and streams) and
    dropped quietly once the reader of stdout has gone (the run carries on)."""
    say(printable(line))


def summary(pipeline: Pipeline, elapsed: float) -> list[str]:
    """The run's closing lines, one fact each. The counts differ by design: the display presents
    the newest stylized frame each time (skipping or repeating some), and the recording is a
    fixed-rate timeline of what was presented (:func:`~artem_vr.recording.retime`). None when the
    run ended before any frame was stylized or shown (a source that did not open, an early
    Ctrl-C): its error or interrupt line says what happened, and counts of nothing would not."""
    if pipeline.frames_presented == 0 and pipeline.worker.frames_done == 0:
        return []
    lines = [f"presented {pipeline.frames_presented} frames in {elapsed:.1f} s",
             f"stylized {pipeline.worker.frames_done} frames (the display shows the newest each time: some are "
             "skipped, some shown more than once)"]
    rec = pipeline.recorder
    if rec is not None and rec.frames:
        lines.append(f"recorded {rec.frames} frames to {rec.path} ({rec.frames / rec.fps:.1f} s at {rec.fps:g} fps: "
                     "each presented frame held for as long as it was on screen)")
        if rec.png is not None:
            lines.append(f"last frame: {rec.png}")
    return lines


def run(args) -> int:
    config = config_from_args(args)
    if config.output == "xr":
        require_runtime()  # no runtime → a clear error before anything starts
    recordings = OpenRecordings()  # the run's open recordings: an emergency exit finishes them
    recorder = None
    if config.record is not None:  # before the stylizer is built: a recording it may not write is said at once
        png = config.out_dir / "last.png" if config.output == "headless" else config.record.with_suffix(".png")
        # never over what the run reads: its source, and its style's files (a painting, a model)
        recorder = Recorder(config.record, fps=30.0, png=png, inputs=InputsRead([config.source, *style_files(config.style)]),
                            recordings=recordings)
    pipeline = build_pipeline(config, printer=show)
    pipeline.recorder = recorder
    pipeline.snapshot_dir = config.out_dir
    st = pipeline.controller.state
    show(f"source: {redact_url(config.source)}{' (sbs stereo)' if config.stereo else ''}  method: {st.method}  "
          f"device: {device_note(str(pipeline.worker.device), st.method)}")
    show(pipeline.controller.style_line())
    output = make_output(config.output, config, recordings)
    try:
        with pipeline.source, (nullcontext() if args.quiet else StatusPrinter(pipeline, printer=show)):
            present(pipeline, output, printer=show)
    finally:  # also on a signal (errors.Interrupted): the recording is kept and the summary printed
        pipeline.worker.stop()
        pipeline.close_recording()
        for line in summary(pipeline, time.monotonic() - pipeline.started):
            show(line)
    err = worker_error(pipeline)
    if err is not None:
        raise as_artem_error(err)
    return 0
