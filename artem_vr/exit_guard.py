"""Threads left inside a native call that cannot be interrupted, and ending the process safely
while one is (a leaf: the CLI uses it before anything heavy is imported).

OpenCV/FFmpeg opening or reading a network stream can block past every timeout; the caller
gives up on it (:func:`artem_vr.sources.live.call_with_deadline`, a source's bounded stop) and
notes the thread here. Python finalizes the interpreter at exit; a daemon thread that comes
back from a C++ call then is stopped by force while C++ frames are on its stack, and the C++
runtime aborts with "terminate called without an active exception" (or the process segfaults).
"""

from __future__ import annotations

import os
import sys
import threading
import time

#: threads left inside a library call that cannot be interrupted (OpenCV/FFmpeg opening or
#: reading a stream), each with the event it sets once out: the process must not finalize while
#: one is still in there. (An event of our own, not ``Thread.is_alive``: on Python 3.11 a
#: ``join`` interrupted by Ctrl-C marks the thread it waited for as stopped while it still runs.)
_stuck: "dict[threading.Thread, threading.Event]" = {}
_stuck_lock = threading.Lock()
_at_exit_registered = False
#: the longest a process that ends normally (library use, the test runner) waits for stuck calls
AT_EXIT_WAIT = 15.0


def note_stuck(thread: threading.Thread, done: threading.Event | None = None) -> None:
    """Remember ``thread`` as left inside a native call until ``done`` is set (see
    :func:`end_process`). A process that ends without :func:`end_process` waits for such calls
    before Python finalizes (bounded by the timeouts OpenCV was given, at most
    :data:`AT_EXIT_WAIT` s), so it does not abort."""
    global _at_exit_registered
    if done is None:  # the caller has no event of its own: the thread's end is as good as we know
        done = threading.Event()
        threading.Thread(target=lambda: (thread.join(), done.set()), daemon=True).start()
    with _stuck_lock:
        _stuck[thread] = done
        if not _at_exit_registered:
            import atexit

            atexit.register(_wait_for_stuck)  # atexit runs before daemon threads are stopped by force
            _at_exit_registered = True


def stuck_threads() -> list[threading.Thread]:
    """Threads still inside a native call they were left in."""
    with _stuck_lock:
        return [t for t, done in _stuck.items() if not done.is_set()]


def _wait_for_stuck() -> None:
    deadline = time.monotonic() + AT_EXIT_WAIT
    with _stuck_lock:
        events = list(_stuck.values())
    for done in events:
        done.wait(max(0.0, deadline - time.monotonic()))
    time.sleep(0.2)  # a thread that has just returned still runs its C++ thread-exit code


def end_process(code: int, grace: float = 0.3) -> int:
    """Return ``code`` — or, when a thread was left inside an OpenCV/FFmpeg call during this
    run, flush the output and end the process at once with ``code``.

    Python finalizes the interpreter at exit; a daemon thread that comes back from a C++ call
    then (or is still tearing itself down) is stopped by force while C++ frames are on its
    stack, and the C++ runtime aborts with "terminate called without an active exception" (or
    the process segfaults). Such a call only ever reads from a network stream, and everything
    of ours (recordings, outputs) was finished by the ``finally`` blocks before this: nothing
    is lost by skipping finalization. Only for the process's own entry point (the CLI run as
    ``artem-vr``), never inside a library caller.
    """
    with _stuck_lock:
        events = list(_stuck.values())
    if not events:
        return code
    deadline = time.monotonic() + grace
    for done in events:
        done.wait(max(0.0, deadline - time.monotonic()))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
