"""The options of `artem-vr run`, `stylize`, `bench`, `eval` and `export`: each command's
``add_*_options(parser)``, named by :data:`artem_vr.cli.COMMANDS`.

Only argparse and plain data (the key list, the choices the commands check): parsing the command
line, and ``--help``, load no torch, numpy or OpenCV. Each command's own module (its ``run``) reads
what was parsed, and imports from here the constants it checks against (one definition).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from artem_vr.render.keys import KEYS_HELP

#: the inference engines `--engine` names (run, stylize, bench)
ENGINES = ("auto", "eager", "fast", "fused", "ort")
#: `bench --precision`, `--layout`: what each may say
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
LAYOUTS = ("auto", "nchw", "cl")
#: largest |onnx − torch| accepted by `artem-vr export` (float32 outputs in 0–1; measured ~2e-6)
DEFAULT_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------- run, stylize
def add_run_options(p: argparse.ArgumentParser) -> None:
    """`artem-vr run` (:mod:`artem_vr.app`)."""
    p.add_argument("--source", default="sample",
                   help="sample (default, built in), a webcam index (0, cam:1), a video or image file, "
                        "screen or screen:x,y,w,h, an http(s) MJPEG or rtsp URL, or sim-camera[:PANORAMA] "
                        "(a simulated head-mounted camera looking at a 360° panorama; with --view passthrough)")
    p.add_argument("--stereo", choices=["sbs"], default=None, help="the source is side-by-side stereo (left|right)")
    p.add_argument("--no-loop", action="store_true", help="stop at the end of a video instead of looping")
    p.add_argument("--style", default=None, help="a preset or your own style by name (see `artem-vr styles`), a generator/xnor "
                        ".safetensors model file, any image file (uses adain), or a blend of images and styles, e.g. "
                        "painting.jpg:0.7+starry_night:0.3 (adain); default: the method's first style")
    p.add_argument("--method", default=None, help="generator | adain | xnor | identity (default: the best with models here)")
    p.add_argument("--strength", type=float, default=1.0, help="0 (input) … 1 (full style); default 1")
    p.add_argument("--output", default="auto", help="auto (default: xr, else mirror window, else headless) | xr | mirror | headless")
    p.add_argument("--eye-size", default=None, help="per-eye size WxH for mirror/headless (default 640x360; xr uses the runtime's)")
    p.add_argument("--view", choices=["screen", "world", "full", "passthrough"], default="screen",
                   help="screen: a virtual screen locked to the head (default); world: the screen stays in the "
                        "room, placed in front of you at start and by recenter (r, a controller button; headset "
                        "only); full: the picture fills each eye; passthrough: a head-mounted camera's picture "
                        "fills the camera's field of view, placed where the head looked when it was captured, so "
                        "the world stays put however late the stylized frame is (docs/passthrough.md)")
    p.add_argument("--camera-fov", type=float, default=90.0, metavar="DEG",
                   help="passthrough: the camera's horizontal field of view in degrees (default %(default)s)")
    p.add_argument("--camera-calibration", default=None, metavar="FILE",
                   help="passthrough: the camera's intrinsics, JSON {width, height, fx, fy, cx, cy} in pixels "
                        "(OpenCV's convention); replaces --camera-fov")
    p.add_argument("--reproject", choices=["on", "off"], default="on",
                   help="passthrough: place each frame at the head orientation of its capture time (on, default) "
                        "or head-locked (off: the world swims by the stylizer's delay)")
    p.add_argument("--pose-source", choices=["history", "runtime"], default="history",
                   help="passthrough in a headset: the head pose at capture time from the app's own pose history "
                        "(default, any runtime) or the runtime's xrLocateSpace at that past time (only for "
                        "runtimes that keep a pose history; Monado's remote driver does not)")
    p.add_argument("--capture-delay", type=float, default=30.0, metavar="MS",
                   help="--source sim-camera: exposure → delivery delay of the simulated camera (default %(default)s)")
    p.add_argument("--sim-pan", type=float, default=0.0, metavar="DEG_PER_S",
                   help="--source sim-camera with no headset: turn the simulated head this fast (default 0)")
    p.add_argument("--stylize-delay", type=float, default=0.0, metavar="MS",
                   help="add a delay stage of MS after the stylizer (latency experiments; default 0)")
    p.add_argument("--ipd", type=float, default=63.0, metavar="MM",
                   help="eye separation of the mirror/headless eyes in mm (default %(default)s; 0: both from the "
                        "head's centre). In a headset the runtime's eye poses are used")
    p.add_argument("--frames", type=int, default=None, help="stop after N presented frames (headless default: 90)")
    p.add_argument("--record", default=None,
                   help="also write what the eyes see to this video file, and its last frame to the same name "
                        ".png (headless: to OUT/last.png; headless default: OUT/run.mp4)")
    p.add_argument("--out", default="out", help="folder for headless output (default ./out)")
    p.add_argument("--temporal", choices=["on", "off"], default="on", help="temporal stabilization (default on)")
    p.add_argument("--stereo-consistency", choices=["on", "off"], default="on", help="stereo-consistent stylization (default on)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when there is one) | cpu | cuda | cuda:N")
    p.add_argument("--foveate", choices=["auto", "on", "off"], default="auto",
                   help="foveated stylization: full resolution only in a window around the view centre (the gaze "
                        "where the headset tracks it), the rest at 0.55 scale — about 39%% of the network's pixels. "
                        "auto (default): on with --output xr, off on the mirror/headless outputs (f shows the window)")
    p.add_argument("--fovea-size", type=float, default=0.27, metavar="F",
                   help="the foveal window's side as a fraction of the eye's (0.1-0.9, default %(default)s)")
    add_stylizer_options(p, live=True)
    p.add_argument("--xr-graphics", default="auto", help="auto (default) | glx | egl | wgl (XR only)")
    p.add_argument("--mirror", action="store_true", help="with --output xr: also show a desktop mirror window")
    p.add_argument("--xr-scale", type=float, default=1.0, help="swapchain size × the runtime's recommended size (XR only; default 1)")
    p.add_argument("--xr-space", choices=["local", "stage"], default="local", help="reference space of the projection layer (default local)")
    p.add_argument("--xr-validation", action="store_true", help="enable the OpenXR core validation layer")
    p.add_argument("--xr-hang-timeout", type=float, default=10.0, metavar="S",
                   help="a runtime that gives no frame for S seconds (its service stopped or hung) ends the run "
                        "with an error, recordings kept (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no status line on the terminal every 5 s")
    p.epilog = KEYS_HELP + "\n\nThe HUD (in every output) shows the style, method, strength, rates, frame age and source " \
                           "for 3 s after each change; h pins or hides it."


def add_stylizer_options(p: argparse.ArgumentParser, live: bool = False) -> None:
    """Options every stylizing command shares (run, stylize); ``live``: run's defaults."""
    p.add_argument("--internal-scale", type=float, default=None if live else 1.0, metavar="S",
                   help="run the network at S × the frame size (0 < S <= 1) and upscale with a guided filter "
                        + ("(default: 0.5 on the CPU, 1 on CUDA)" if live else "(default 1)"))
    p.add_argument("--preserve-color", choices=["none", "luminance", "match"], default="none",
                   help="adain: keep the frame's colours (luminance-only transfer, or match the style's colours to the frame; "
                        "default none)")
    p.add_argument("--arch", choices=["compact", "full"], default=None,
                   help="generator: the network (default: compact where trained, else full; full is slower and "
                        "trained for fewer presets — `artem-vr styles --paths` lists them)")
    p.add_argument("--adain-variant", choices=["auto", "fast", "full"], default="auto",
                   help="adain decoder: fast (relu3_1 encoder), full (relu4_1, the paper's) or auto "
                        "(default: fast when shipped, else full)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="inference engine: eager torch, fast (torch, tuned per device), fused "
                        "(generators and adain: fused stages via torch.compile, and on CUDA the comfort maths compiled with "
                        "them; compiles on the first frame), ort "
                        "(ONNX Runtime, CPU) or auto (default: ort on the CPU, eager for adain; on CUDA fused for run "
                        "(2x the others on an H200; needs Triton, else fast), fast for a one-off stylize; xnor eager; "
                        "printed at start)")
    p.add_argument("--adain-model", default=None, metavar="NAME|PATH",
                   help="adain: a decoder by name (yours from `artem-vr train adain`, or shipped: adain_fast, "
                        "adain_full; `artem-vr styles` lists them) or a decoder .safetensors file")


def add_stylize_options(p: argparse.ArgumentParser) -> None:
    """`artem-vr stylize IN OUT` (:mod:`artem_vr.app_stylize`)."""
    p.add_argument("input", metavar="IN", help="an image (png/jpg/bmp/webp/tiff) or a video (mp4/avi/mkv/mov/webm) file")
    p.add_argument("output", metavar="OUT", help="where to write the result: an image name for an image (e.g. .jpg, .png), "
                   "a video name for a video (e.g. .mp4, .avi); its folder must exist")
    p.add_argument("--style", default=None, help="a preset or user style name (artem-vr styles), any image file (adain), "
                   "a blend of images and styles such as painting.jpg:0.7+starry_night:0.3 (adain), "
                   "or a model file path/to/NAME.safetensors from `artem-vr train` (default: the first preset)")
    p.add_argument("--method", default=None, help="generator | adain | xnor | identity (default: the first of generator, "
                   "adain, xnor with a model for --style)")
    p.add_argument("--strength", type=float, default=1.0, help="0 (input) … 1 (full style); default 1")
    p.add_argument("--max-side", type=int, default=1024, help="downscale larger inputs to this side first "
                   "(default 1024; 0: never)")
    p.add_argument("--temporal", choices=["on", "off"], default="on", help="temporal stabilization for videos (default on)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when there is one) | cpu | cuda | cuda:N")
    add_stylizer_options(p)


# ----------------------------------------------------------------------------- bench
def add_bench_options(p: argparse.ArgumentParser) -> None:
    """`artem-vr bench` (:mod:`artem_vr.bench`)."""
    p.add_argument("--method", nargs="+", default=None, metavar="M",
                   help="generator, xnor, adain, identity; optionally M:ARCH (generator:compact, adain:full). "
                   "Default: generator (compact and full) on the CPU; generator, adain, xnor on CUDA")
    p.add_argument("--eye-size", nargs="+", default=None, metavar="WxH",
                   help="per-eye sizes (default on CUDA: 960x1080 1440x1600 2016x2240; on the CPU: 256x256)")
    p.add_argument("--eyes", type=int, choices=(1, 2), default=None, help="1 (mono) or 2 (stereo SBS, both eyes in one batch); default: 2 on CUDA, 1 on the CPU")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration (default 3; at most 3600)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the timed window (model load, autotuning; default 3 on CUDA, 1 on the CPU)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA when there is one), cpu, cuda, cuda:N")
    p.add_argument("--engine", nargs="+", choices=ENGINES, default=None,
                   help="generator/xnor inference engine: auto (what `artem-vr run` picks for the device and "
                   "method), eager (fp32, NCHW), fast (artem_vr.style.engine: precision, layout), fused "
                   "(generators: the fast engine's network as fused stages through torch.compile; adain: its "
                   "encoder and decoder so, beside its eager row; the compile falls in the warm-up) or ort (ONNX "
                   "Runtime, CPU); default on the CPU: ort, fast and eager, so "
                   "their ratios are measured in one run; on CUDA: auto")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["auto"],
                   help="fast engine precision(s) (default auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)")
    p.add_argument("--layout", nargs="+", choices=LAYOUTS, default=["auto"],
                   help="fast engine memory format(s): NCHW or channels_last (default auto: the engine's own)")
    p.add_argument("--graph", nargs="+", choices=("off", "on"), default=["on"],
                   help="CUDA: each frame below the temporal stabilizer (stereo, foveation, network) replayed "
                        "as one CUDA graph, as `artem-vr run` does (on, the default), or every kernel launched "
                        "from Python (off); `--graph on off` measures both in one run")
    p.add_argument("--compile", choices=("on", "off"), default="on",
                   help="fused engine: its stages through torch.compile (on) or the same stages eagerly (off: "
                   "the maths without the compiler, e.g. the CPU dry run of tools/gpu_check.sh; default on)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--internal-scale", type=float, default=1.0, metavar="S",
                   help="run the network at S x the eye size (0 < S <= 1) and guided-upscale (default 1)")
    p.add_argument("--comfort", choices=["on", "off"], default="off",
                   help="run the pipeline with the comfort wrappers (temporal stabilization, stereo consistency) "
                        "on, as `artem-vr run` does by default (default off: the network path alone)")
    p.add_argument("--foveate", choices=["on", "off"], default="off",
                   help="foveated stylization (the headset default of `artem-vr run`): full resolution in a "
                        "window, 0.55 scale elsewhere; the records' network_pixels say what the network ran (default off)")
    p.add_argument("--upload", choices=("auto", "host"), default="auto",
                   help="auto (default): CUDA-GL interop where the GL context allows, else host; host: force the host path")
    p.add_argument("--layers", action="store_true", help="CUDA only: per-layer XNOR vs cuDNN (run first)")
    p.add_argument("--layers-only", action="store_true", help="CUDA only: the per-layer XNOR records alone")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="instead of the pipeline: the per-layer profile (artem_vr.layer_profile) of each --method "
                   "(default generator:full adain:fast) with each --engine (generators; default fast, plus fused on "
                   "CUDA) at the first --eye-size (default 1440x1600 on CUDA, 64x48 on the CPU) x --eyes; writes "
                   "DIR/profile_layers.md and the records to --json (default DIR/profile_layers.json); with "
                   "--comfort on, each network's comfort steps too (stereo and temporal wrappers, step by step)")
    p.add_argument("--reps", type=int, default=5, help="--profile: timed forwards per network (median; default 5)")
    p.add_argument("--trace", action="store_true",
                   help="after each row's timed loop, torch.profiler over a few frames of the same stylizer (comfort "
                   "wrappers and foveation included): the record's trace has the top ops by device time (CUDA; host "
                   "time on the CPU), the GPU busy time, host time and launches per frame (artem_vr.bench_trace)")
    p.add_argument("--json", type=Path, default=None, help="write the records (a JSON list) to this file")
    p.add_argument("--commit", default=None,
                   help="the commit to write in the records (default: $ARTEM_COMMIT, else git, else unknown)")
    p.add_argument("--output", choices=("none", "xr"), default="none", help="none (default): the pipeline bench; xr: the live XR loop bench (artem_vr.bench_xr)")


# ----------------------------------------------------------------------------- eval
def add_eval_options(p: argparse.ArgumentParser) -> None:
    """`artem-vr eval` (:mod:`artem_vr.evaluate`): the style-quality half, the comfort half
    (:mod:`artem_vr.temporal.metrics`) and ``--latency`` (:mod:`artem_vr.latency_eval`)."""
    g = p.add_argument_group("style quality")
    g.add_argument("--content", nargs="+", metavar="DIR|IMG", help="photos (files or directories)")
    g.add_argument("--styles", nargs="+", metavar="DIR|IMG|NAME", help="paintings, directories, preset or user style names, or model .safetensors files")
    g.add_argument("--method", nargs="+", default=["generator", "adain"],
                   help="methods to score (default: generator adain); adain:fast / adain:full pick that decoder "
                        "(plain adain: the fast one when shipped), generator:compact / generator:full that network")
    g.add_argument("--gatys", type=int, default=0, metavar="N", help="also run an N-step Gatys optimization baseline (default 0: none)")
    g.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    g.add_argument("--sheet", metavar="PNG", help="write a contact sheet (content | style | outputs)")
    g.add_argument("--sheet-rows", type=int, default=12, help="pairs shown on the sheet (default %(default)s)")
    g.add_argument("--tile", type=int, default=128, help="sheet tile size in px (default %(default)s)")
    g.add_argument("--size", type=int, default=256, help="evaluation size: photos centre-cropped to size² (default %(default)s)")
    g.add_argument("--limit", type=int, default=None, metavar="N", help="score at most N photos (picked with --seed; default: all)")
    g.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="only the files the trainers hold out with --holdout N (every N-th of each sorted directory; "
                        "default 0: every file)")
    g.add_argument("--style-holdout", type=int, default=0, metavar="N",
                   help="only the paintings `train adain --holdout N` held out (every N-th of each sorted directory; "
                        "default 0: every painting)")
    g.add_argument("--seed", type=int, default=0, help="picks the --limit subset; nothing else is random (default %(default)s)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda (default %(default)s: CUDA when there is one); "
                   "both halves of eval use it")
    _add_comfort_options(p)
    _add_latency_options(p.add_argument_group("passthrough latency (headless Monado)"))


def _add_comfort_options(parser: argparse.ArgumentParser) -> None:
    """The options of the comfort half of `artem-vr eval` only; ``--method`` and ``--device`` are
    defined once, by :func:`add_eval_options`, and shared by both halves."""
    g = parser.add_argument_group("flicker and stereo consistency")
    g.add_argument("--videos", default=None, help="folder of real videos for the temporal flicker metric")
    g.add_argument("--stereo", default=None, help="folder of rectified pairs NAME_left/right.* + NAME_disparity* (GT)")
    g.add_argument("--style", default=None, help="preset style for the comfort metrics (default: the method's first)")
    g.add_argument("--video-frames", type=int, default=24, help="frames per video for the flicker metric (default 24)")
    g.add_argument("--video-width", type=int, default=480, help="width the videos are stylized at (default 480)")
    g.add_argument("--stereo-width", type=int, default=640, help="width the stereo pairs are stylized at (default 640)")
    g.add_argument("--comfort-backend", choices=["auto", "torch", "opencv"], default="auto",
                   help="flow and disparity of the comfort wrappers: auto = torch on a GPU (on the frames' "
                        "own device), OpenCV on the CPU; torch / opencv = that one anywhere (default auto)")
    g.add_argument("--comfort-json", default=None, help="also write the flicker/stereo results to this JSON file")
    g.add_argument("--comfort-images", default=None, help="write side-by-side PNGs (raw | per-frame | stabilized) to this folder")


def _add_latency_options(g) -> None:
    """`artem-vr eval --latency` (:mod:`artem_vr.latency_eval`)."""
    g.add_argument("--latency", action="store_true",
                   help="measure the passthrough view on a private headless Monado: head turned at --rate, "
                        "stylizer slowed by --stylize-delay, landmark error with reprojection on and off")
    g.add_argument("--rate", type=float, default=90.0, metavar="DEG_PER_S", help="--latency: head yaw rate (default 90)")
    g.add_argument("--stylize-delay", type=float, default=100.0, metavar="MS",
                   help="--latency: the delay stage after the stylizer (default 100)")
    g.add_argument("--capture-delay", type=float, default=30.0, metavar="MS",
                   help="--latency: the simulated camera's exposure → delivery delay (default 30)")
    g.add_argument("--latency-method", default="identity", metavar="METHOD",
                   help="--latency: the stylizer (default identity: the landmark keeps its colour; the delay "
                        "stage makes it slow)")
    g.add_argument("--latency-runtime-poses", action="store_true",
                   help="--latency: a third run, reprojection on with the runtime's xrLocateSpace at the capture "
                        "time instead of the app's pose history (--pose-source runtime)")
    g.add_argument("--latency-frames", type=int, default=80, metavar="N", help="--latency: frames per run (default 80)")
    g.add_argument("--latency-png", default=None, metavar="PNG",
                   help="--latency: write a picture of one eye with reprojection on (left) and off (right), "
                        "the landmark's true place marked green")


# ----------------------------------------------------------------------------- export
def add_export_options(p: argparse.ArgumentParser) -> None:
    """`artem-vr export` (:mod:`artem_vr.export`)."""
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="shipped model names (e.g. starry_night_full, adain_fast) or .safetensors files; "
                        "default: every model in assets/models")
    p.add_argument("--out", default="out/onnx", help="folder for the .onnx files and their cards (default out/onnx)")
    p.add_argument("--force", action="store_true", help="replace .onnx files and cards already in --out")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest accepted |onnx - torch| relative to the output scale (default {DEFAULT_TOLERANCE:g})")
