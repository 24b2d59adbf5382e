"""Text for the terminal: foreign text made harmless, and output that survives a closed pipe.

* :func:`printable` — text that came from outside the program (file names, model cards and
  safetensors metadata, style names, URLs, stream headers, exception messages quoting any of
  those) with every control character escaped (``\\x1b``, ``\\u202e``…), so no file can move
  the cursor, clear the screen, set the window title or reorder a line.
* :func:`say` — ``print`` for a command's output lines, made :func:`printable`. When the reader
  of stdout goes away (``artem-vr run … | head -1``) the rest of the output is dropped quietly and the command
  carries on (a recording is still finished and kept); stdout itself is never replaced.
* :func:`did_you_mean` — the known name closest to a mistyped one, for an error line.
* :func:`counted` and :func:`pixel_counts` — ``1 record`` / ``2 records``; ``3.50 Mpx`` / ``8.2 kpx``.
* :func:`is_terminal` — whether a stream is a terminal (a bar, a loading note) or not (a log, a pipe).

A leaf: imports nothing from the project.
"""

from __future__ import annotations

import os
import sys
import threading
import unicodedata

#: kept as they are by :func:`printable` (``keep_newlines``: also "\n")
_SAFE_WHITESPACE = {"\t": "    "}
_lock = threading.Lock()
_stdout_gone = False


def counted(n: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``0 records`` (``noun`` singular, plural with an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def pixel_counts(*counts: float) -> str:
    """Pixel counts in the unit that shows the largest of them: ``3.50/9.00 Mpx``, or ``4.1/8.2 kpx``
    below 0.1 Mpx (a 64x64 eye would read ``0.00 Mpx``)."""
    if max(counts, default=0) >= 1e5:
        return "/".join(f"{c / 1e6:.2f}" for c in counts) + " Mpx"
    return "/".join(f"{c / 1e3:.1f}" for c in counts) + " kpx"


def did_you_mean(word: str, choices) -> str:
    """``" (did you mean NAME?)"`` for the choice closest to ``word`` (a typo: ``starry_nite``), or
    for the one choice it begins (a shortening: ``--str`` for ``--strength``), or ``""``."""
    import difflib

    word, choices = str(word), [str(c) for c in choices]
    begun = [c for c in choices if c.startswith(word)] if len(word) >= 3 else []
    near = begun if len(begun) == 1 else difflib.get_close_matches(word, choices, 1, 0.75)
    return f" (did you mean {near[0]}?)" if near else ""


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def printable(value, keep_newlines: bool = False) -> str:
    """``str(value)`` with control characters escaped: C0 and C1 controls, DEL, and the Unicode
    format characters (bidirectional overrides, zero-width marks). A tab becomes spaces; a
    newline is escaped unless ``keep_newlines``."""
    text = str(value)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _SAFE_WHITESPACE:
            out.append(_SAFE_WHITESPACE[ch])
        elif ch.isprintable() or (ch == " "):
            out.append(ch)
        elif unicodedata.category(ch) in ("Zs",):  # other spaces: shown, harmless
            out.append(ch)
        else:
            out.append(_escape(ch))
    return "".join(out)


def is_terminal(stream) -> bool:
    """True when ``stream`` is a terminal; False for a file, a pipe, or a stream replaced or closed."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced (no isatty) or closed
        return False


def stdout_gone() -> bool:
    """True once a write to stdout found its reader gone (the rest is being dropped)."""
    return _stdout_gone


def drop_stdout() -> None:
    """The reader of stdout went away: point file descriptor 1 at the null device, so every later
    write (ours, a library's, the interpreter's final flush) succeeds and goes nowhere."""
    global _stdout_gone
    with _lock:
        if _stdout_gone:
            return
        _stdout_gone = True
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def say(*parts, sep: str = " ", end: str = "\n", flush: bool = True) -> None:
    """``print(*parts)`` to stdout, flushed, each part :func:`printable` (its newlines kept): a
    path or name the user gave (``wrote r\x1b[2J.json``) is shown, never obeyed. A closed pipe
    (the reader left early) drops this line and every later one quietly instead of ending the command."""
    if _stdout_gone:
        return
    try:
        print(*(printable(p, keep_newlines=True) for p in parts), sep=sep, end=end, flush=flush)
    except BrokenPipeError:
        drop_stdout()
