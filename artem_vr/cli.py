"""Command line: `artem-vr run|stylize|styles|doctor|bench|train|eval|export`.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command is chosen (``--help``
of the top level stays fast). User errors (:class:`~artem_vr.errors.ArtemError`) print one
line and exit with code 2; ``--debug`` shows the traceback.

SIGINT, SIGTERM and SIGHUP raise :class:`~artem_vr.errors.Interrupted` in the main thread, so
every ``finally`` runs (a recording is closed and kept, a partial output is discarded) and the
exit code is 128 + the signal's number. A second signal while that clean-up runs is noted and
ignored; a third abandons the clean-up.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
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
    "styles": ("artem_vr.style.catalog", "list the preset and user styles", "List the preset (shipped) and user (trained) styles, the methods that can show them, and the AdaIN decoders."),
    "doctor": (
        "artem_vr.doctor",
        "report what this machine has (CUDA, NVRTC, GL, OpenXR, cameras, display)",
        "Report torch and CUDA, NVRTC, OpenGL, the OpenXR runtime, cameras and display, each with what to do when it is missing.",
    ),
    "bench": ("artem_vr.bench", "per-stage milliseconds and stereo FPS", "Measure each stage of the pipeline (median and p99) and the stereo FPS per method and eye size."),
    "train": ("artem_vr.style.train_cli", "train a style model (generator, adain, xnor)", "Train the networks shipped in assets/models with the project's own data."),
    "export": (
        "artem_vr.export",
        "export models to ONNX, checked against torch",
        "Export shipped models (or .safetensors files) to ONNX with dynamic batch/height/width, run each with\n"
        "ONNX Runtime on random and real frames, compare with torch, and write it with its model card.\n\n"
        "examples:\n"
        "  artem-vr export                                 # every model in assets/models to out/onnx\n"
        "  artem-vr export starry_night_full adain_fast --out exported",
    ),
    "eval": ("artem_vr.evaluate", "measure stylization quality, flicker and stereo consistency", "Content/style losses per content×style pair; temporal flicker on videos; stereo error on rectified pairs."),
}


#: commands that decode user images or videos: they take --max-megapixels
IMAGE_COMMANDS = ("run", "stylize")

#: the signals that end the program cleanly
END_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def install_signal_handlers() -> dict:
    """Make SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` in the main thread; returns the old handlers.

    The first signal raises; a second one, while ``finally`` blocks finish the recording, only
    prints that it is finishing; a third raises again (abandons the clean-up).
    """
    from artem_vr.errors import Interrupted

    seen: list[int] = []

    def handler(signum, _frame):
        seen.append(signum)
        if len(seen) == 2:
            print(f"artem-vr: finishing up after {Interrupted(seen[0]).name} (send it again to abandon)",
                  file=sys.stderr, flush=True)
            return
        raise Interrupted(signum)

    return {s: signal.signal(s, handler) for s in END_SIGNALS}


def restore_signal_handlers(old: dict) -> None:
    for s, h in old.items():
        signal.signal(s, h if h is not None else signal.SIG_DFL)


class _RedactingStream:
    """A text stream that passes every write through :func:`~artem_vr.sources.live.redact_text`
    and hides ``secrets`` (installed over stdout/stderr only when the command line holds a URL
    with credentials, so a password never reaches the terminal or a log, whoever prints)."""

    def __init__(self, stream, secrets: list[str]):
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        from artem_vr.sources.live import redact_text

        text = redact_text(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _url_secrets(argv: list[str]) -> list[str]:
    """Passwords and secret query values of the URLs in ``argv`` (as typed and decoded, 4+ chars)."""
    from urllib.parse import unquote, urlsplit

    from artem_vr.sources.live import redact_url

    found = set()
    for a in argv:
        if "://" not in a or redact_url(a) == a:
            continue
        try:
            pw = urlsplit(a).password
        except ValueError:
            pw = None
        if pw:
            found |= {pw, unquote(pw)}
        red = redact_url(a)
        for typed, shown in zip(a.split("&"), red.split("&")):
            if shown.endswith("=***") and "=" in typed:
                v = typed.split("=", 1)[1]
                found |= {v, unquote(v)}
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


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
        if name in IMAGE_COMMANDS:
            sp.add_argument("--max-megapixels", type=float, default=None, metavar="MP",
                            help="refuse images and video frames larger than this, before decoding them "
                                 "(default 50)")
        sp.set_defaults(_module=_mod)
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own command line: it ends even with a stream read stuck in OpenCV
        from artem_vr.exit_guard import end_process

        return end_process(main(sys.argv[1:]))
    argv = list(argv)
    parser = build_parser()
    # The command is the first word that is not an option; its module adds its own arguments
    # before parsing, so `artem-vr run --help` shows them.
    command = next((a for a in argv if not a.startswith("-")), None)
    debug = "--debug" in argv
    from artem_vr.errors import ArtemError, Interrupted

    # OpenCV/FFmpeg warnings (a failed frame write, a missing moov atom) repeat once per frame;
    # what they mean reaches the user as one line from our own checks. --debug keeps them.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "DEBUG" if debug else "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "32" if debug else "-8")  # AV_LOG_INFO / AV_LOG_QUIET
    old_handlers = install_signal_handlers() if _main_thread() else {}
    streams = sys.stdout, sys.stderr
    limit = None
    secrets = _url_secrets(argv)
    if secrets or any("://" in a and "@" in a for a in argv):
        sys.stdout, sys.stderr = _RedactingStream(sys.stdout, secrets), _RedactingStream(sys.stderr, secrets)
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
        if getattr(args, "max_megapixels", None) is not None:
            from artem_vr.sources import imageio

            limit = imageio.max_megapixels()
            imageio.set_max_megapixels(args.max_megapixels)
        return int(mod.run(args) or 0)
    except ArtemError as e:
        if debug:
            raise
        message = " ".join(str(e).split())  # one line, whatever the message's source put in it
        print(f"artem-vr {command}: error: {message}", file=sys.stderr)
        return e.exit_code
    except Interrupted as e:
        print(f"artem-vr {command}: interrupted by {e.name}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        restore_signal_handlers(old_handlers)
        if limit is not None:  # this command's limit ends with it (the CLI can run in-process)
            imageio.set_max_megapixels(limit)
        if isinstance(sys.stdout, _RedactingStream):
            sys.stdout, sys.stderr = streams


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
