"""Typed errors.

Library code raises these; only the CLI turns them into one line and exit code 2.
Each message says what was wrong *and* what to do about it.
"""


class ArtemError(Exception):
    """Base class for every error a user can cause or fix."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what} — {fix}")


class UsageError(ArtemError):
    """A command-line value is malformed or unknown."""


class SourceError(ArtemError):
    """A frame source cannot be opened or read."""


class ImageError(ArtemError):
    """An image or video file is missing, unreadable or of an unsupported kind."""


class WeightsError(ArtemError):
    """A weights file is missing, truncated, pickled or for another architecture."""


class RuntimeUnavailable(ArtemError):
    """An OpenXR runtime, GL context, display or CUDA driver is not there."""


class CudaUnavailable(RuntimeUnavailable):
    """No CUDA driver/device: take the CPU path."""


class ConventionError(ArtemError, ValueError):
    """A tensor or array crossing a boundary does not follow the stated convention."""


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) asked the program to end.

    Raised in the main thread by the handlers :func:`artem_vr.cli.main` installs, so ``finally``
    blocks finish what they own (a recording is closed and kept, a partial output discarded);
    the CLI then exits with ``128 + signum``. A :class:`KeyboardInterrupt`, so code that already
    handles Ctrl-C treats every such signal alike, and ``except Exception`` never swallows it.
    """

    def __init__(self, signum: int):
        import signal

        self.signum = int(signum)
        try:
            self.name = signal.Signals(self.signum).name
        except ValueError:
            self.name = f"signal {self.signum}"
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
