"""Command line: `artem-vr run|stylize|styles|doctor|bench|train|eval|export`.

Each subcommand has its options (a function that adds them to its parser: argparse only, no
torch, numpy or OpenCV — most in :mod:`artem_vr.options`) and its module with ``run(args) -> int``,
imported only once the command line has parsed (:data:`COMMANDS`): ``--help`` of the top level
and of every command stays fast, and a usage error costs no model library.

One error path for every command: a user error (:class:`~artem_vr.errors.ArtemError`), an
:class:`OSError` (turned into its typed class by errno: permission, no space, not a folder, name too
long — :func:`~artem_vr.errors.path_error`), a NaN/inf number or an unknown ``--device`` (checked here
once for every command) and running out of memory all print ONE line naming the user's path and
what to do, and exit with code 2; anything else is a bug: one line and exit code 3. ``--debug``
prints the traceback first. Every line (and traceback) has the user's names for temporary files,
URL credentials replaced by ``***`` and control characters escaped. When the reader of stdout goes
away (``… | head -1``) the rest of the output is dropped quietly (:func:`artem_vr.text.say`);
stdout is never replaced. Dependency telemetry (ONNX Runtime's) is switched off. When stderr is a
terminal, one line says that PyTorch is loading as its import starts (not with ``--quiet``).

SIGINT, SIGTERM and SIGHUP raise :class:`~artem_vr.errors.Interrupted` in the main thread, so
every ``finally`` runs (a recording is closed and kept, a partial output is discarded) and the
exit code is 128 + the signal's number. A second signal while that clean-up runs is noted and
ignored; a third abandons the clean-up.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import signal
import sys
from typing import NamedTuple

from artem_vr import __version__
from artem_vr.exit_guard import end_process
from artem_vr.limits import add_max_megapixels_argument
from artem_vr.errors import (ArtemError, Interrupted, InvalidNumber, UnsupportedDevice, os_error_in, path_error,
                             user_facing)
from artem_vr.text import did_you_mean, drop_stdout, is_terminal, printable, stdout_gone


class Command(NamedTuple):
    """Where a command's parts live, and what its help says."""

    options: str | None  # "module:function" that adds its options to its parser (light: argparse only); None: none
    runner: str  # the module whose run(args) runs it (imported after parsing)
    short: str  # one line, in the top level's list of commands
    description: str  # its own --help's description, ending with examples


#: command -> its Command
COMMANDS: dict[str, Command] = {
    "run": Command(
        "artem_vr.options:add_run_options",
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
        "  artem-vr run --source index_passthrough.mp4 --stereo sbs --output xr --view world\n"
        "  artem-vr run --source 0 --view passthrough --output xr --camera-fov 90   # a camera on the headset\n\n"
        "The keys are listed at the end.",
    ),
    "stylize": Command(
        "artem_vr.options:add_stylize_options",
        "artem_vr.app_stylize",
        "stylize an image or a video file",
        "Stylize one image (png/jpg/...) or one video (mp4/avi/...) to OUT.\n\n"
        "examples:\n"
        "  artem-vr stylize photo.jpg out.jpg --style great_wave\n"
        "  artem-vr stylize photo.jpg out.png --method adain --style any_painting.jpg --strength 0.8\n"
        "  artem-vr stylize clip.mp4 out.mp4 --style starry_night",
    ),
    "styles": Command(
        "artem_vr.style.styles_cli:add_arguments",
        "artem_vr.style.styles_cli",
        "list the preset and user styles",
        "List the preset (shipped) and user (trained) styles, the methods that can show them, and the AdaIN decoders.\n\n"
        "examples:\n"
        "  artem-vr styles                                 # the names --style takes, and each one's methods\n"
        "  artem-vr styles --paths                         # also each style's thumbnail and model files",
    ),
    "doctor": Command(
        None,
        "artem_vr.doctor",
        "report what this machine has (CUDA, NVRTC, GL, OpenXR, cameras, display)",
        "Report torch and CUDA, NVRTC, OpenGL, the OpenXR runtime, cameras and display, each with what to do when it is missing.\n\n"
        "examples:\n"
        "  artem-vr doctor                                 # each [MISS] line is followed by what to do (→)",
    ),
    "bench": Command(
        "artem_vr.options:add_bench_options",
        "artem_vr.bench",
        "per-stage milliseconds and stereo FPS",
        "Measure each stage of the pipeline (median and p99) and the stereo FPS per method and eye size.\n\n"
        "examples:\n"
        "  artem-vr bench                                  # this machine's defaults (see --method, --eye-size)\n"
        "  artem-vr bench --eye-size 64x64 --seconds 1     # a quick look\n"
        "  artem-vr bench --method adain --eye-size 256x256 --json bench.json   # the records to a file",
    ),
    "train": Command(
        "artem_vr.style.train_cli:add_arguments",
        "artem_vr.style.train_cli",
        "train a style model (generator, adain, xnor)",
        "Train a style model: a generator for one painting (it becomes a style by its --out name), an AdaIN\n"
        "decoder for any painting, or a binarized (XNOR) copy of a generator. The shipped models were\n"
        "trained with these commands (each model card in assets/models says how). `train KIND --help` says more.\n\n"
        "examples:\n"
        "  artem-vr train generator --content PHOTOS --style the_kiss.jpg --out klimt   # then: artem-vr run --style klimt\n"
        "  artem-vr train adain --content PHOTOS --styles PAINTINGS --out my_decoder\n"
        "  artem-vr train xnor --from klimt --content PHOTOS --out klimt_xnor",
    ),
    "export": Command(
        "artem_vr.options:add_export_options",
        "artem_vr.export",
        "export models to ONNX, checked against torch",
        "Export shipped models (or .safetensors files) to ONNX with dynamic batch/height/width, run each with\n"
        "ONNX Runtime on random and real frames, compare with torch, and write it with its model card.\n\n"
        "examples:\n"
        "  artem-vr export                                 # every model in assets/models to out/onnx\n"
        "  artem-vr export starry_night_full adain_fast --out exported",
    ),
    "eval": Command(
        "artem_vr.options:add_eval_options",
        "artem_vr.evaluate",
        "measure stylization quality, flicker and stereo consistency",
        "Content/style losses per content×style pair; temporal flicker on videos; stereo error on rectified pairs.\n\n"
        "examples:\n"
        "  artem-vr eval --content PHOTOS --styles starry_night great_wave --sheet sheet.png\n"
        "  artem-vr eval --content PHOTOS --styles PAINTINGS --method adain:fast adain:full --json report.json\n"
        "  artem-vr eval --videos CLIPS --method generator --style the_scream    # flicker, per frame vs stabilized\n"
        "  artem-vr eval --latency --latency-png latency.png                     # passthrough latency (headless Monado)",
    ),
}


#: commands that decode user images or videos: they take --max-megapixels (`train` on each kind:
#: artem_vr.style.train_cli)
IMAGE_COMMANDS = ("run", "stylize", "eval")

#: the signals that end the program cleanly
END_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def install_signal_handlers() -> dict:
    """Make SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` in the main thread; returns the old handlers.

    The first signal raises; a second one, while ``finally`` blocks finish the recording, only
    prints that it is finishing; a third raises again (abandons the clean-up).
    """
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


def _url_secrets(argv: list[str]) -> list[str]:
    """Passwords and secret query values of the URLs in ``argv`` (as typed and decoded, 4+ chars)."""
    if not any("://" in a for a in argv):  # no URL: nothing to find (and no numpy loaded for it)
        return []
    from urllib.parse import unquote, urlsplit

    from artem_vr.sources.live import redact_url  # reason: numpy off the start-up path (--help stays fast)

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
        allow_abbrev=False,  # `--str` is not `--strength`: a later option must not change what a typed one means
        description="Art'Em VR — real-time artistic style transfer in a VR headset.\n"
        "Start with `artem-vr run` (embedded sample, default style, best output available)\n"
        "and `artem-vr doctor` (what this machine can do).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"artem-vr {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sp = sub.add_parser(name, help=command.short, description=command.description, allow_abbrev=False,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        if name in IMAGE_COMMANDS:
            add_max_megapixels_argument(sp)
    return p


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-parser of ``command`` in ``parser`` (:func:`build_parser`'s) with the command's own
    options added, as `artem-vr COMMAND --help` shows them. Imports only the options' module."""
    sp = parser._subparsers._group_actions[0].choices[command]  # noqa: SLF001
    if COMMANDS[command].options is not None:
        module, _, function = COMMANDS[command].options.partition(":")
        getattr(importlib.import_module(module), function)(sp)
    return sp


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own command line: it ends even with a stream read stuck in OpenCV
        return end_process(main(sys.argv[1:]))
    argv = list(argv)
    parser = build_parser()
    # The command is the first word that is not an option; its own options are added before
    # parsing, so `artem-vr run --help` shows them.
    command = next((a for a in argv if not a.startswith("-")), None)
    debug = "--debug" in argv
    # OpenCV/FFmpeg warnings (a failed frame write, a missing moov atom) repeat once per frame;
    # what they mean reaches the user as one line from our own checks. --debug keeps them.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "DEBUG" if debug else "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "32" if debug else "-8")  # AV_LOG_INFO / AV_LOG_QUIET
    # Dependency telemetry off: ONNX Runtime (the CPU engine) otherwise keeps an event database
    # in ~/.cache/Microsoft/DeveloperTools; read once, when onnxruntime is first imported.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    old_handlers = install_signal_handlers() if _main_thread() else {}
    secrets = _url_secrets(argv)
    announce = _TorchAnnouncer.install("--quiet" in argv)
    try:
        if command in COMMANDS:
            command_parser(parser, command)
        args, extras = parser.parse_known_args(argv)
        if getattr(args, "trainer", None):  # its errors named as argparse names its usage errors: `artem-vr train adain`
            command = f"{command} {args.trainer}"
        if extras:  # said by the command's own parser: its usage, its name, and the option meant
            _unrecognized(parser, args, extras)
        if args.command is None:
            parser.print_help()
            return 0
        args.debug = debug
        if debug:
            handler = logging.StreamHandler()
            handler.setFormatter(_SafeFormatter(secrets, "%(name)s: %(message)s"))
            logging.basicConfig(level=logging.DEBUG, handlers=[handler])
        check_numbers(args, parser)
        check_device(args)
        return int(importlib.import_module(COMMANDS[args.command].runner).run(args) or 0)
    except Interrupted as e:
        print(safe_text(f"artem-vr {command}: interrupted by {e.name}" + (f": {e.outcome}" if e.outcome else ""), secrets),
              file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as e:
        if stdout_gone() or _stdout_closed():  # the reader left (`… | head -1`): the rest of the output is dropped quietly
            drop_stdout()
            return 128 + getattr(signal, "SIGPIPE", 13)
        return _report(command, _as_artem_error(e), e, debug, secrets)
    except (ArtemError, OSError, MemoryError) as e:
        return _report(command, _as_artem_error(e), e, debug, secrets)
    except Exception as e:  # a bug: still one line (the traceback with --debug), never a bare exit 1
        if (os_error := os_error_in(e)) is not None:  # a library's own error around a failed write
            return _report(command, path_error(os_error), e, debug, secrets)
        return _report(command, ArtemError(f"internal error: {type(e).__name__}: {e}",
                                           "rerun with --debug for the traceback, and report it"), e, debug, secrets,
                       exit_code=3)
    finally:
        restore_signal_handlers(old_handlers)
        if announce is not None:
            sys.meta_path.remove(announce)


class _TorchAnnouncer:
    """An import hook that says, once, on a terminal, that PyTorch is loading as its import begins
    (seconds of silence otherwise); it finds nothing itself. Installed only when stderr is a
    terminal, torch is not loaded yet and ``--quiet`` is not given: tests and pipes stay clean."""

    LINE = "artem-vr: loading PyTorch..."

    def __init__(self):
        self.said = False

    @classmethod
    def install(cls, quiet: bool) -> "_TorchAnnouncer | None":
        if quiet or "torch" in sys.modules or not is_terminal(sys.stderr):
            return None
        hook = cls()
        sys.meta_path.insert(0, hook)
        return hook

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not self.said:  # the import system iterates sys.meta_path: stay in it
            self.said = True
            print(self.LINE, file=sys.stderr, flush=True)
        return None


def _as_artem_error(e: BaseException):
    """The typed error for ``e``: itself, the class of an OSError (errno), or out of memory."""
    if isinstance(e, ArtemError):
        return e
    if isinstance(e, BrokenPipeError):
        return ArtemError(f"the other end closed the connection ({e.strerror or e})", "check the stream or device, then retry")
    if isinstance(e, OSError):
        return path_error(e)
    return ArtemError("out of memory", "use a smaller input (--max-megapixels, --eye-size) or close other programs")


def safe_text(text: str, secrets: list[str] = (), keep_newlines: bool = False) -> str:
    """``text`` as the terminal may show it: the user's names for temporary files, URL
    credentials and ``secrets`` replaced by ``***``, control characters escaped."""
    from artem_vr.sources.live import redact_text  # reason: numpy off the start-up path (--help stays fast)

    text = redact_text(user_facing(text))
    for secret in secrets:
        text = text.replace(secret, "***")
    return printable(text, keep_newlines=keep_newlines)


def _report(command, err, original: BaseException, debug: bool, secrets: list[str], exit_code: int | None = None) -> int:
    """One line on stderr for ``err`` (with ``--debug``: the traceback of ``original`` first,
    redacted and escaped like the line); returns the exit code."""
    if debug:
        import traceback

        tb = "".join(traceback.format_exception(type(original), original, original.__traceback__))
        print(safe_text(tb, secrets, keep_newlines=True), file=sys.stderr, end="")
    message = " ".join(safe_text(str(err), secrets).split())  # one line, whatever the message's source put in it
    print(f"artem-vr {command}: error: {message}", file=sys.stderr)
    return err.exit_code if exit_code is None else exit_code


class _SafeFormatter(logging.Formatter):
    """--debug log lines, redacted and escaped like every other line."""

    def __init__(self, secrets: list[str], fmt: str):
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record) -> str:
        return safe_text(super().format(record), self._secrets, keep_newlines=True)


def _stdout_closed() -> bool:
    """True if stdout is a pipe or socket whose reader has gone away."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _fd, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _unrecognized(parser: argparse.ArgumentParser, args, extras: list[str]) -> None:
    """argparse's error for ``extras`` from the innermost command parser (``artem-vr train generator``,
    not ``artem-vr``), with the closest option where one is near (``--strenght``: ``--strength``)."""
    while True:  # down the chosen subcommands
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)  # noqa: SLF001
        chosen = getattr(args, sub.dest, None) if sub is not None else None
        if chosen not in (sub.choices if sub is not None else {}):
            break
        parser = sub.choices[chosen]
    options = [o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings]  # noqa: SLF001 (old spellings unshown)
    said = [x + did_you_mean(x.split("=")[0], options) if x.startswith("-") else x for x in extras]
    parser.error(f"unrecognized arguments: {' '.join(said)}")


#: what ``--device`` may say (checked once for every command that takes it)
_DEVICE_RE = re.compile(r"(auto|cpu|cuda(:\d+)?)", re.ASCII)  # ASCII: "cuda:٣" is no device torch knows


def check_device(args) -> None:
    """UnsupportedDevice unless ``--device`` (where the command has one) is auto, cpu, cuda or cuda:N."""
    dev = getattr(args, "device", None)
    if isinstance(dev, str) and not _DEVICE_RE.fullmatch(dev.strip()):
        raise UnsupportedDevice(f"--device {dev} is not a device artem-vr can use",
                                "use auto (the default), cpu, cuda or cuda:N (see `artem-vr doctor`)")


def _option_names(parser) -> dict[str, str]:
    """dest → the option's longest name, for ``parser`` and every sub-parser under it."""
    names: dict[str, str] = {}
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                for dest, name in _option_names(sub).items():
                    names.setdefault(dest, name)
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
        else:
            names.setdefault(action.dest, action.metavar or action.dest)
    return names


def check_numbers(args, parser) -> None:
    """InvalidNumber for any numeric option that is NaN or infinite (argparse's ``float`` takes
    "nan" and "inf"), so no command runs on one."""
    import math

    names = None
    for dest, value in vars(args).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                names = names or _option_names(parser)
                raise InvalidNumber(f"{names.get(dest, '--' + dest.replace('_', '-'))} {v} is not a finite number",
                                    "give an ordinary number, e.g. 0.5")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
