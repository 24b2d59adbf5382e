"""Command line: `artem-vr run|stylize|styles|doctor|bench|train|eval`.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command is chosen (``--help``
of the top level stays fast). User errors (:class:`~artem_vr.errors.ArtemError`) print one
line and exit with code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from artem_vr import __version__

#: command -> (module, one-line help, longer description)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "artem_vr.app",
        "show a live source stylized, in a headset, a mirror window or headless",
        "Capture a source, stylize it off the render loop and show the newest stylized frame to each eye.\n"
        "With no options: the bundled sample, the first preset style, the best output available\n"
        "(an OpenXR runtime, else a window, else headless to ./out).\n\n"
        "examples:\n"
        "  artem-vr run                                   # embedded default\n"
        "  artem-vr run --source 0 --style great_wave     # webcam 0\n"
        "  artem-vr run --source clip.mp4 --output mirror --method adain --style painting.jpg\n"
        "  artem-vr run --source http://192.168.1.5:8080/video   # phone 'IP Webcam' MJPEG\n"
        "  artem-vr run --source screen:0,0,1280,720 --output headless --frames 60 --record out/run.mp4\n"
        "  artem-vr run --source index_passthrough.mp4 --stereo sbs --output xr --view world\n\n"
        "The keys are listed at the end.",
    ),
    "stylize": (
        "artem_vr.app_stylize",
        "stylize an image or a video file",
        "Stylize one image (png/jpg/...) or one video (mp4/avi/...) to OUT.\n\n"
        "examples:\n"
        "  artem-vr stylize photo.jpg out.jpg --style great_wave\n"
        "  artem-vr stylize photo.jpg out.png --method adain --style any_painting.jpg --strength 0.8\n"
        "  artem-vr stylize clip.mp4 out.mp4 --style starry_night",
    ),
    "styles": ("artem_vr.style.presets", "list the preset styles", "List the preset styles and the methods that can show them."),
    "doctor": (
        "artem_vr.doctor",
        "report what this machine has (CUDA, NVRTC, GL, OpenXR, cameras, display)",
        "Report torch and CUDA, NVRTC, OpenGL, the OpenXR runtime, cameras and display, each with what to do when it is missing.",
    ),
    "bench": ("artem_vr.bench", "per-stage milliseconds and stereo FPS", "Measure each stage of the pipeline (median and p99) and the stereo FPS per method and eye size."),
    "train": ("artem_vr.style.train_cli", "train a style model (generator, adain, xnor)", "Train the networks shipped in assets/models with the project's own data."),
    "eval": ("artem_vr.evaluate", "measure stylization quality, flicker and stereo consistency", "Content/style losses per content×style pair; temporal flicker on videos; stereo error on rectified pairs."),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="artem-vr",
        description="Art'Em VR — real-time artistic style transfer in a VR headset.\n"
        "Start with `artem-vr run` (embedded sample, default style, best output available)\n"
        "and `artem-vr doctor` (what this machine can do).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"artem-vr {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_mod, short, desc) in COMMANDS.items():
        sp = sub.add_parser(name, help=short, description=desc, formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        sp.set_defaults(_module=_mod)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    # The command is the first word that is not an option; its module adds its own arguments
    # before parsing, so `artem-vr run --help` shows them.
    command = next((a for a in argv if not a.startswith("-")), None)
    debug = "--debug" in argv
    from artem_vr.errors import ArtemError

    try:
        if command in COMMANDS:
            mod = importlib.import_module(COMMANDS[command][0])
            sp = parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001
            if hasattr(mod, "add_arguments"):
                mod.add_arguments(sp)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.debug = debug
        if debug:
            import logging

            logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        return int(mod.run(args) or 0)
    except ArtemError as e:
        if debug:
            raise
        print(f"artem-vr {command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
