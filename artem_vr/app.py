"""`artem-vr run`: source → stylizer (own thread) → newest stylized frame → an output.

The pieces:

* :class:`Controller` — every user command (keys, controller buttons) by meaning. Commands
  are queued and applied by the stylizer thread between frames, so nothing races a running
  network; each change prints one line (``style: starry_night (2/7)``).
* :class:`StylizerWorker` — takes the newest source frame, stylizes both eyes in one batch,
  publishes the result into a :class:`~artem_vr.frames.LatestSlot`. It never queues.
* :class:`Pipeline` — what an output (mirror, headless, XR) drives: ``latest()``,
  ``frame_presented()``, ``stop_requested``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artem_vr.errors import ArtemError, SourceError, UsageError
from artem_vr.frames import LatestSlot, to_rgb8_batch, to_tensor

log = logging.getLogger(__name__)

OUTPUTS = ("auto", "xr", "mirror", "headless")


@dataclass
class StylizedFrame:
    """A finished frame: 1 (mono) or 2 (left, right) RGB uint8 eye images."""

    eyes: list[np.ndarray]
    seq: int
    source_index: int
    source_t: float
    done_t: float
    style: str | None
    method: str
    stylize_ms: float = 0.0


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (w, h), each 16–8192; anything else is a UsageError."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"eye size {text!r} is not WxH", "write it like 1440x1600") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UsageError(f"eye size {text!r} is out of range", "each side must be 16–8192 pixels")
    return w, h


# ---------------------------------------------------------------------------- control
@dataclass
class ControlState:
    method: str
    methods: list[str]
    styles: list[str]
    index: int = 0
    strength: float = 1.0
    stylize: bool = True
    temporal: bool = True
    stereo_consistency: bool = True


class Controller:
    """User commands by meaning. Thread-safe: commands are queued for the stylizer thread."""

    def __init__(self, state: ControlState, printer=print):
        self.state = state
        self._q: "queue.SimpleQueue[tuple[str, object]]" = queue.SimpleQueue()
        self._print = printer
        self.quit_requested = threading.Event()
        self.recenter_count = 0

    # commands ------------------------------------------------------------------
    def next_style(self):
        self._q.put(("step", +1))

    def prev_style(self):
        self._q.put(("step", -1))

    def pick(self, i: int):
        self._q.put(("pick", int(i)))

    def set_strength(self, v: float):
        self._q.put(("strength", float(v)))

    def change_strength(self, d: float):
        self._q.put(("strength_delta", float(d)))

    def toggle_stylize(self):
        self._q.put(("toggle", "stylize"))

    def toggle_temporal(self):
        self._q.put(("toggle", "temporal"))

    def toggle_stereo_consistency(self):
        self._q.put(("toggle", "stereo_consistency"))

    def cycle_method(self):
        self._q.put(("method", +1))

    def recenter(self):
        self.recenter_count += 1
        self._print("recenter")

    def quit(self):
        self.quit_requested.set()

    # applied by the worker -------------------------------------------------------
    def pending(self) -> list[tuple[str, object]]:
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def say(self, line: str):
        self._print(line)

    def style_line(self) -> str:
        s = self.state
        name = s.styles[s.index] if s.styles else "none"
        return f"style: {name} ({s.index + 1}/{max(1, len(s.styles))})"


# ---------------------------------------------------------------------------- stylizing
class StylizerWorker:
    """Stylizes the newest source frame on its own thread; publishes the newest result."""

    def __init__(self, source, controller: Controller, device: str = "cpu", factory=None,
                 wrap=None, initial_style: str | None = None):
        from artem_vr.style.base import make_stylizer

        self.source = source
        self.controller = controller
        self.device = device
        self._factory = factory or make_stylizer
        self._wrap = wrap  # callable(stylizer, state) -> stylizer (temporal / stereo wrappers)
        self._stylizers: dict[str, object] = {}
        self.out: LatestSlot[StylizedFrame] = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.frames_done = 0
        st = controller.state
        self._active = self._stylizer(st.method)
        if initial_style is not None and initial_style not in st.styles:
            self._active.set_style(initial_style)  # a file path: validated here, in the caller's thread
            st.styles = [initial_style] + st.styles
            st.index = 0
        elif st.styles:
            self._active.set_style(st.styles[st.index])
        self._active.strength = st.strength

    def _stylizer(self, method: str):
        if method not in self._stylizers:
            base = self._factory(method, None, device=self.device)
            self._stylizers[method] = self._wrap(base, self.controller.state) if self._wrap else base
        return self._stylizers[method]

    @property
    def stylizer(self):
        return self._active

    def start(self):
        self._thread = threading.Thread(target=self._run, name="stylizer", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.out.close()

    def _apply(self, cmds):
        st, c = self.controller.state, self.controller
        for kind, arg in cmds:
            if kind in ("step", "pick"):
                if not st.styles:
                    continue
                i = (st.index + arg) % len(st.styles) if kind == "step" else arg
                if not 0 <= i < len(st.styles):
                    continue
                st.index = i
                self._active.set_style(st.styles[i])
                self._active.reset_temporal()
                c.say(c.style_line())
            elif kind in ("strength", "strength_delta"):
                v = arg if kind == "strength" else st.strength + arg
                st.strength = float(min(1.0, max(0.0, v)))
                self._active.strength = st.strength
                c.say(f"strength: {st.strength:.2f}")
            elif kind == "toggle":
                setattr(st, arg, not getattr(st, arg))
                if arg == "temporal":
                    self._active.reset_temporal()
                c.say(f"{arg.replace('_', ' ')}: {'on' if getattr(st, arg) else 'off'}")
            elif kind == "method":
                if len(st.methods) < 2:
                    c.say(f"method: {st.method} (the only one with models here)")
                    continue
                st.method = st.methods[(st.methods.index(st.method) + arg) % len(st.methods)]
                self._active = self._stylizer(st.method)
                current = st.styles[st.index] if st.styles else None
                st.styles = self._active.styles() or st.styles
                st.index = st.styles.index(current) if current in st.styles else 0
                if st.styles:
                    self._active.set_style(st.styles[st.index])
                self._active.strength = st.strength
                self._active.reset_temporal()
                c.say(f"method: {st.method}")
                c.say(c.style_line())

    def stylize_frame(self, frame):
        """Stylize one source Frame (both eyes in one batch) → list of RGB uint8 eye images."""
        st = self.controller.state
        left, right = frame.eyes()
        eyes = [left] if frame.stereo is None else [left, right]
        if not st.stylize:
            return eyes
        x = to_tensor(eyes, device=self._active.device)
        return to_rgb8_batch(self._active.stylize(x))

    def _run(self):
        last = -1
        try:
            while not self._stop.is_set():
                self._apply(self.controller.pending())
                frame = self.source.wait_frame(last, timeout=0.1)
                if frame is None:
                    if self.source.ended:
                        if self.source.error is not None:
                            raise self.source.error
                        break
                    continue
                last = frame.index
                t0 = time.perf_counter()
                eyes = self.stylize_frame(frame)
                dt = (time.perf_counter() - t0) * 1000
                self.frames_done += 1
                st = self.controller.state
                self.out.put(StylizedFrame(eyes, self.frames_done, frame.index, frame.t, time.monotonic(),
                                           st.styles[st.index] if st.styles else None, st.method, dt))
        except BaseException as e:  # handed to the pipeline, re-raised in the main thread
            self.error = e
        finally:
            self.finished.set()


# ---------------------------------------------------------------------------- recording
class Recorder:
    """Writes presented frames (eyes side by side) to a video, and the last one to a PNG.

    The file is finalized on close, including when the run stops on an error, so what was
    recorded is kept.
    """

    def __init__(self, path: Path, fps: float = 30.0, png: Path | None = None):
        self.path = Path(path)
        self.png = png
        self.fps = fps
        self._writer = None
        self._last: np.ndarray | None = None
        self.frames = 0

    def add(self, eye_images: list[np.ndarray]):
        img = eye_images[0] if len(eye_images) == 1 else np.concatenate(eye_images, axis=1)
        if self._writer is None:
            from artem_vr.sources.imageio import VideoWriterRGB

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = VideoWriterRGB(self.path, self.fps, (img.shape[1], img.shape[0])).__enter__()
            self.path = Path(getattr(self._writer, "path", self.path))
        self._writer.write(img)
        self._last = img
        self.frames += 1

    def close(self):
        if self._writer is not None:
            self._writer.__exit__(None, None, None)
            self._writer = None
        if self.png is not None and self._last is not None:
            from artem_vr.sources.imageio import write_image

            self.png.parent.mkdir(parents=True, exist_ok=True)
            write_image(self.png, self._last)


# ---------------------------------------------------------------------------- pipeline
class Pipeline:
    """What outputs drive. See the module docstring."""

    def __init__(self, source, worker: StylizerWorker, controller: Controller,
                 max_frames: int | None = None, recorder: Recorder | None = None):
        self.source = source
        self.worker = worker
        self.controller = controller
        self.max_frames = max_frames
        self.recorder = recorder
        self.frames_presented = 0
        self.started = time.monotonic()

    @property
    def wants_images(self) -> bool:
        return self.recorder is not None

    @property
    def stop_requested(self) -> bool:
        if self.controller.quit_requested.is_set():
            return True
        if self.max_frames is not None and self.frames_presented >= self.max_frames:
            return True
        # A finished (ended or failed) stylizer thread with nothing newer to show ends the run.
        return self.worker.finished.is_set()

    def latest(self) -> StylizedFrame | None:
        return self.worker.out.get()[1]

    def wait_first(self, timeout: float = 30.0) -> StylizedFrame | None:
        """Block until the first stylized frame exists (start-up only, never in the frame loop)."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end and not self.worker.finished.is_set():
            seq, f = self.worker.out.wait_newer(0, timeout=0.2)
            if f is not None:
                return f
        return self.latest()

    def frame_presented(self, eye_images: list[np.ndarray] | None = None) -> None:
        self.frames_presented += 1
        if self.recorder is not None and eye_images:
            self.recorder.add(eye_images)


# ---------------------------------------------------------------------------- choices
def available_methods() -> dict[str, list[str]]:
    """method → preset styles it has models for (methods without any are left out)."""
    from artem_vr.style.base import METHODS, stylizer_class

    out = {}
    for m in METHODS:
        if m == "identity":
            continue
        try:
            cls = stylizer_class(m)
            lister = getattr(cls, "available_styles", None)
            styles = lister() if lister is not None else cls(device="cpu").styles()
        except Exception as e:  # a method whose module or models are missing is just not offered
            log.debug("method %s unavailable: %s", m, e)
            continue
        if styles:
            out[m] = list(styles)
    return out


def choose_output(requested: str, printer=print) -> str:
    if requested not in OUTPUTS:
        raise UsageError(f"unknown output {requested!r}", f"choose one of: {', '.join(OUTPUTS)}")
    if requested != "auto":
        return requested
    try:
        from artem_vr.xr.probe import xr_available

        ok, why = xr_available()
    except ImportError as e:
        ok, why = False, f"XR support not installed ({e})"
    if ok:
        printer("output: xr (an OpenXR runtime answered)")
        return "xr"
    if _display_works():
        printer(f"output: mirror (no OpenXR runtime: {why})")
        return "mirror"
    printer(f"output: headless (no OpenXR runtime: {why}; no display)")
    return "headless"


def _display_works() -> bool:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return False
    try:
        from artem_vr.render.context import display_available

        return bool(display_available())
    except Exception:
        return False


# ---------------------------------------------------------------------------- command
def add_arguments(p):
    p.add_argument("--source", default="sample",
                   help="sample (default, built in), a webcam index (0, cam:1), a video or image file, "
                        "screen or screen:x,y,w,h, an http(s) MJPEG or rtsp URL")
    p.add_argument("--stereo", choices=["sbs"], default=None, help="the source is side-by-side stereo (left|right)")
    p.add_argument("--no-loop", action="store_true", help="stop at the end of a video instead of looping")
    p.add_argument("--style", default=None, help="a preset name (see `artem-vr styles`) or any image file (uses adain)")
    p.add_argument("--method", default=None, help="generator | adain | xnor | identity (default: the best with models here)")
    p.add_argument("--strength", type=float, default=1.0, help="0 (input) … 1 (full style); default 1")
    p.add_argument("--output", default="auto", help="auto (xr, else mirror window, else headless) | xr | mirror | headless")
    p.add_argument("--eye-size", default=None, help="per-eye size WxH for mirror/headless (default 640x360; xr uses the runtime's)")
    p.add_argument("--view", choices=["screen", "full"], default="screen", help="head-locked virtual screen (default) or full view")
    p.add_argument("--ipd", type=float, default=63.0, metavar="MM",
                   help="eye separation of the mirror/headless eyes in mm (default %(default)s; 0: both from the "
                        "head's centre). In a headset the runtime's eye poses are used")
    p.add_argument("--frames", type=int, default=None, help="stop after N presented frames (headless default: 90)")
    p.add_argument("--record", default=None, help="also write what the eyes see to this video file")
    p.add_argument("--out", default="out", help="folder for headless output (default ./out)")
    p.add_argument("--temporal", choices=["on", "off"], default="on", help="temporal stabilization (default on)")
    p.add_argument("--stereo-consistency", choices=["on", "off"], default="on", help="stereo-consistent stylization (default on)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    add_stylizer_options(p, live=True)
    p.add_argument("--xr-graphics", default="auto", help="auto | glx | egl | wgl (XR only)")
    p.add_argument("--mirror", action="store_true", help="with --output xr: also show a desktop mirror window")
    p.add_argument("--xr-scale", type=float, default=1.0, help="swapchain size × the runtime's recommended size (XR only)")
    p.add_argument("--xr-space", choices=["local", "stage"], default="local", help="reference space of the projection layer")
    p.add_argument("--xr-validation", action="store_true", help="enable the OpenXR core validation layer")


def add_stylizer_options(p, live: bool = False) -> None:
    """Options every stylizing command shares (run, stylize)."""
    p.add_argument("--internal-scale", type=float, default=None if live else 1.0, metavar="S",
                   help="run the network at S × the frame size (0 < S <= 1) and upscale with a guided filter "
                        + ("(default: 0.5 on the CPU, 1 on CUDA)" if live else "(default 1)"))
    p.add_argument("--preserve-color", choices=["none", "luminance", "match"], default="none",
                   help="adain: keep the frame's colours (luminance-only transfer, or match the style's colours to the frame)")
    p.add_argument("--arch", choices=["compact", "full"], default=None,
                   help="generator: the network (default: compact where trained, else full; full is slower and "
                        "trained for fewer presets — `artem-vr styles --paths` lists them)")
    p.add_argument("--adain-variant", choices=["auto", "fast", "full"], default="auto",
                   help="adain decoder: fast (relu3_1 encoder), full (relu4_1, the paper's) or auto "
                        "(default: fast when shipped, else full)")
    p.add_argument("--engine", choices=["auto", "eager", "fast", "ort"], default="auto",
                   help="generator/xnor inference engine: eager torch, fast (torch, tuned per device), ort "
                        "(ONNX Runtime, CPU) or auto (default: ort on the CPU, fast on CUDA; printed at start)")


def stylizer_factory(args):
    """make_stylizer with the user's options applied (per method where they apply); checks them now."""
    from artem_vr.style.base import make_stylizer

    if not 0.0 < args.internal_scale <= 1.0:
        raise UsageError(f"--internal-scale {args.internal_scale} is out of range", "use a value in (0, 1], e.g. 0.5")

    def factory(method, style=None, device="cpu"):
        kw = {}
        if method == "adain":
            kw = {"preserve_color": args.preserve_color, "variant": args.adain_variant}
        elif method in ("generator", "xnor"):
            kw = {"engine": args.engine, **({"arch": args.arch} if method == "generator" and args.arch else {})}
        s = make_stylizer(method, style, device=device, internal_scale=args.internal_scale, **kw)
        if "engine" in kw:
            print(f"{method} engine: {s.engine.kind} ({s.engine.describe()})", flush=True)
        return s

    return factory


def resolve_device(text: str) -> str:
    if text != "auto":
        if text.startswith("cuda"):
            from artem_vr.cuda.device import cuda_available

            ok, why = cuda_available()
            if not ok:
                raise UsageError(f"--device {text}: {why}", "use --device cpu (or auto) on this machine")
        return text
    try:
        from artem_vr.cuda.device import cuda_available

        ok, _ = cuda_available()
    except ImportError:
        ok = False
    return "cuda" if ok else "cpu"


def plan_style(method: str | None, style: str | None, printer=print) -> tuple[str, list[str], list[str], str | None]:
    """Decide (method, methods offered, styles of that method, initial style or file)."""
    avail = available_methods()
    is_file = style is not None and (os.sep in style or Path(style).suffix.lower() in
                                     (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"))
    if method is not None:
        from artem_vr.style.base import stylizer_class

        stylizer_class(method)  # unknown method → UsageError
    if is_file:
        if method not in (None, "adain"):
            raise UsageError(f"--style {style}: a style image needs --method adain",
                             "drop --method, or use a preset name (artem-vr styles)")
        if "adain" not in avail:
            raise UsageError("--style with an image needs the AdaIN decoder, which is not installed",
                             "train one with `artem-vr train adain` or use a preset name")
        return "adain", list(avail), avail["adain"], style
    if method is None:
        method = next((m for m in ("generator", "adain", "xnor") if m in avail), "identity")
        if style is not None and method in avail and style not in avail[method]:
            method = next((m for m in avail if style in avail[m]), method)
        if method == "identity":
            printer("note: no trained style models found in assets/models — frames pass through unstylized")
    if method == "identity":
        return "identity", ["identity"], ["identity"], None
    if method not in avail:
        raise UsageError(f"method {method!r} has no trained models here",
                         f"available: {', '.join(avail) or 'none'} (see `artem-vr styles`)")
    styles = avail[method]
    if style is not None and style not in styles:
        raise UsageError(f"unknown style {style!r} for {method}",
                         f"choose one of: {', '.join(styles)}, or give an image file with --method adain")
    return method, list(avail), styles, None


def build_pipeline(args, printer=print) -> Pipeline:
    from artem_vr.sources import open_source

    method, methods, styles, style_file = plan_style(args.method, args.style, printer)
    index = styles.index(args.style) if args.style in styles else 0
    if not 0.0 <= args.strength <= 1.0:
        raise UsageError(f"--strength {args.strength} is outside 0–1", "use e.g. --strength 0.7")
    state = ControlState(method=method, methods=methods, styles=list(styles), index=index, strength=args.strength,
                         temporal=args.temporal == "on", stereo_consistency=args.stereo_consistency == "on")
    controller = Controller(state, printer)
    device = resolve_device(args.device)
    wrap = _comfort_wrapper()
    if args.internal_scale is None:  # live: the CPU needs fewer pixels to keep up
        args.internal_scale = 1.0 if str(device).startswith("cuda") else 0.5
    worker = StylizerWorker(None, controller, device=device, factory=stylizer_factory(args), wrap=wrap,
                            initial_style=style_file)
    source = open_source(args.source, stereo=args.stereo, loop=not args.no_loop)
    worker.source = source
    return Pipeline(source, worker, controller, max_frames=args.frames)


def _comfort_wrapper():
    """Temporal + stereo wrappers from artem_vr.temporal, if that module is installed."""
    try:
        from artem_vr.temporal import wrap_for_run
    except ImportError:
        return None
    return wrap_for_run


def run(args) -> int:
    eye_size = parse_size(args.eye_size) if args.eye_size else (640, 360)
    output = choose_output(args.output)
    if output == "headless" and args.frames is None:
        args.frames = 90
    if args.frames is not None and args.frames < 1:
        raise UsageError(f"--frames {args.frames} must be at least 1", "e.g. --frames 30")
    from artem_vr.render.renderer import ViewConfig

    view = ViewConfig(mode=args.view, desk_ipd=args.ipd / 1000.0)
    if output == "xr":
        from artem_vr.xr.runtime import require_runtime

        require_runtime()  # no runtime → a clear error before anything starts
        if not 0.1 <= args.xr_scale <= 4.0:
            raise UsageError(f"--xr-scale {args.xr_scale} is out of range", "use 0.1–4.0, e.g. 0.8")
    pipeline = build_pipeline(args)
    out_dir = Path(args.out)
    record = Path(args.record) if args.record else (out_dir / "run.mp4" if output == "headless" else None)
    if record is not None:
        png = out_dir / "last.png" if output == "headless" else record.with_suffix(".png")
        pipeline.recorder = Recorder(record, fps=30.0, png=png)
    st = pipeline.controller.state
    print(f"source: {args.source}{' (sbs stereo)' if args.stereo else ''}  method: {st.method}  "
          f"device: {pipeline.worker.device}")
    print(pipeline.controller.style_line())
    try:
        with pipeline.source:
            pipeline.worker.start()
            pipeline.wait_first()
            if output == "xr":
                from artem_vr.xr.presenter import XrOptions, run_xr

                run_xr(pipeline, XrOptions(graphics=args.xr_graphics, scale=args.xr_scale, view=view,
                                           mirror=args.mirror, validation=args.xr_validation,
                                           max_frames=args.frames, space=args.xr_space))
            elif output == "mirror":
                from artem_vr.render.mirror import run_mirror

                # recording plays back at 30 fps: present at most that often then
                run_mirror(pipeline, eye_size=eye_size, view=view,
                           max_fps=30.0 if pipeline.recorder is not None else 60.0)
            else:
                from artem_vr.render.headless import run_headless

                run_headless(pipeline, eye_size=eye_size, view=view)
    finally:
        pipeline.worker.stop()
        if pipeline.recorder is not None:
            pipeline.recorder.close()
    err = pipeline.worker.error or pipeline.source.error
    elapsed = time.monotonic() - pipeline.started
    if pipeline.recorder is not None and pipeline.recorder.frames:
        print(f"recorded {pipeline.recorder.frames} frames to {pipeline.recorder.path}"
              + (f" and {pipeline.recorder.png}" if pipeline.recorder.png else ""))
    print(f"presented {pipeline.frames_presented} frames in {elapsed:.1f} s, "
          f"stylized {pipeline.worker.frames_done}")
    if err is not None:
        if isinstance(err, ArtemError):
            raise err
        raise SourceError(f"the run stopped: {type(err).__name__}: {err}",
                          "what was recorded so far is kept; run with --debug for details") from err
    return 0
