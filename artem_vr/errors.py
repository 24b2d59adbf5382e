"""Typed errors.

Library code raises these; only the CLI turns them into one line and exit code 2.
Each message says what was wrong *and* what to do about it. :func:`path_error` turns an
:class:`OSError` into the typed error of its class, naming the user's path.
"""

from __future__ import annotations

import errno
import math
import os
import re
from pathlib import Path


class ArtemError(Exception):
    """Base class for every error a user can cause or fix."""

    exit_code = 2

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what} — {fix}")


class UsageError(ArtemError):
    """A command-line value is malformed or unknown."""


def shown(value) -> str:
    """A number as the user would have typed it, for a message that echoes it back: ``2`` for
    ``--strength 2`` (argparse made it ``2.0``), ``-1`` for ``--lr -1``, ``0.0005`` as it is; any
    other value as ``str`` does."""
    if isinstance(value, float) and math.isfinite(value):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def check_at_least(*checks: tuple) -> None:
    """A UsageError for the first ``(option, value, least, example)`` whose value (``None``: not
    given, not checked) is below ``least``: ``--tile 0 must be at least 16 — e.g. --tile 128``."""
    for option, value, least, example in checks:
        if value is not None and value < least:
            raise UsageError(f"{option} {shown(value)} must be at least {shown(least)}", f"e.g. {option} {example}")


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

    #: what the interrupted command did about it ("the partial output was discarded, …"), shown on
    #: the CLI's one "interrupted by" line; set by the command that caught it on its way out
    outcome: str = ""

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


# ------------------------------------------------------------------ files, numbers, devices
class PathError(ArtemError):
    """A file or folder the user named cannot be read or written (see :func:`path_error`)."""

    def __init__(self, what: str, fix: str | None = None, path=None):
        self.path = path
        super().__init__(what, fix)


class PermissionDenied(PathError):
    """EACCES / EPERM / EROFS: the user may not read or write that path."""


class NoSpace(PathError):
    """ENOSPC / EFBIG / EDQUOT: the disk (or the quota, or the file-size limit) is full."""


class NotADirectory(PathError):
    """ENOTDIR: a part of the path that should be a folder is a file."""


class NameTooLong(PathError):
    """ENAMETOOLONG: a name is longer than the file system allows."""


class InvalidNumber(UsageError):
    """A numeric option is not a finite number (NaN, inf) or not a number at all."""


class UnsupportedDevice(UsageError):
    """``--device`` names something other than auto, cpu, cuda or cuda:N."""


#: hidden temporary names of the writers (``.NAME.partial-PID-TOKEN.EXT``, ``.NAME.EXT.tmp``,
#: ``NAME.EXT.tmpPID``) → the user's name, so no message names a file the user never asked for
_TEMP_NAMES = (
    (re.compile(r"\.([^/\\\s'\"]+?)\.partial-\d+-[0-9a-f]+((?:\.[A-Za-z0-9]+)?)"), r"\1\2"),
    (re.compile(r"(^|[/\\\s'\"(])\.?([^/\\\s'\"]+?\.[A-Za-z0-9]+)\.tmp\d*(?![A-Za-z0-9])"), r"\1\2"),
)


def user_facing(text: str) -> str:
    """``text`` with every writer's temporary file name replaced by the name the user gave."""
    for pattern, repl in _TEMP_NAMES:
        text = pattern.sub(repl, text)
    return text


def file_in_the_way(path) -> Path | None:
    """The first existing part of ``path`` (``path`` itself included) that is a file where a folder
    is needed, if any."""
    path = Path(path)
    for parent in [*reversed(path.parents), path]:
        try:
            if parent.exists() and not parent.is_dir():
                return parent
        except OSError:
            return None
    return None


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def os_error_in(e: BaseException) -> OSError | None:
    """The OSError inside ``e``: ``e`` itself, or the one a library written in Rust (safetensors,
    tokenizers) reports only in its message as "(os error 28)"."""
    if isinstance(e, OSError):
        return e
    m = _RUST_OS_ERROR.search(str(e))
    if m is None:
        return None
    code = int(m.group(1))
    return OSError(code, os.strerror(code))


def path_error(e: OSError, path=None, action: str = "use") -> ArtemError:
    """The typed, one-line error for ``e`` on ``path`` (default: the path in ``e``; a writer's
    hidden temporary name is shown as the user's). ``action``: "read", "write", "create"…"""
    shown = user_facing(str(path if path is not None else (e.filename if e.filename is not None else "a file")))
    p = Path(shown)
    code = e.errno
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"permission denied: cannot {action} {shown}",
                                "check its permissions and those of its folder (ls -l), or use a path you own", p)
    if code == errno.EROFS:
        return PermissionDenied(f"cannot {action} {shown}: the file system is read-only", "use a path on a writable disk", p)
    if code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return NoSpace(f"no space left to {action} {shown} (the disk, a quota or a file-size limit is full)",
                       "free some disk space, or write to another disk", p)
    if code == errno.ENOTDIR:
        blocker = file_in_the_way(p.parent)
        what = f"{blocker} is a file, not a folder" if blocker is not None else "a part of it is a file, not a folder"
        return NotADirectory(f"cannot {action} {shown}: {what}", "give a path whose folders are folders", p)
    if code == errno.ENAMETOOLONG:
        longest = max((len(part.encode()) for part in p.parts), default=0)
        return NameTooLong(f"cannot {action} {shown if len(shown) <= 80 else shown[:60] + '…'}: a name of {longest} bytes is too long for the file system",
                           "use a shorter name (most file systems allow 255 bytes)", p)
    if code == errno.EEXIST and (blocker := file_in_the_way(p)) is not None:  # a folder was to be made where a file is
        what = "it is a file, not a folder" if blocker == p else f"{blocker} is a file, not a folder"
        return NotADirectory(f"cannot {action} {shown}: {what}", "give a path whose folders are folders", p)
    if code == errno.EISDIR:
        return PathError(f"cannot {action} {shown}: it is a folder", "give a file name", p)
    if code == errno.ENOENT:
        return PathError(f"cannot {action} {shown}: it does not exist", "check the path", p)
    if code == errno.ENOMEM:
        return ArtemError(f"out of memory while trying to {action} {shown}", "use a smaller input or close other programs")
    return PathError(f"cannot {action} {shown}: {e.strerror or e}", "check the path, the disk and the permissions", p)
