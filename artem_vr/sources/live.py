"""Live sources (webcams, IP cameras): connect with a deadline, reconnect with backoff.

A :class:`LiveSource` must connect at :meth:`start` (else :class:`SourceError` within
``timeout`` seconds). Once running, when the stream drops (read error, stall longer than
``timeout``, end of stream) it prints one line —
``source: http://… dropped (reason), reconnecting in 0.5 s`` — waits, and tries again with
exponential backoff (0.5, 1, 2 s, capped at :attr:`backoff_max` = 2 s), each wait shortened by
up to 20 % at random (jitter: cameras that come back are not hit in lock step). Meanwhile the
last frame stays available through :meth:`read_latest`, and :meth:`state` says
``("reconnecting", age of that frame)`` for a HUD. :meth:`stop` interrupts the wait.

Credentials never reach a printed line: labels and messages go through :func:`redact_url`.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import threading
from abc import abstractmethod
from typing import Callable, TypeVar
from urllib.parse import unquote_plus, urlsplit

import numpy as np

from artem_vr.errors import SourceError
from artem_vr.exit_guard import note_stuck
from artem_vr.sources.base import FrameSource
from artem_vr.text import printable

T = TypeVar("T")
log = logging.getLogger(__name__)


def _stderr_line(msg: str) -> None:
    print(printable(msg), file=sys.stderr, flush=True)  # reasons quote what the stream sent


#: query parameters whose values are secrets (case-insensitive substrings of the name)
_SECRET_PARAMS = ("pass", "pwd", "token", "key", "secret", "auth", "sig", "session")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """``url`` without its secrets, for printing: the password of ``user:pass@`` and the values of
    query parameters such as ``token=`` or ``key=`` become ``***``; the rest is kept as typed (its
    case, brackets and %-escapes). Anything that is not a URL is returned unchanged."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a parsable URL (a bad port, a stray bracket): hide what may be a netloc
        return re.sub(r"//[^/@]*@", "//***@", url)
    if password is not None:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hostport}")
    if parts.query:
        pieces = parts.query.split("&")
        for i, piece in enumerate(pieces):
            key, eq, _value = piece.partition("=")
            if eq and any(w in unquote_plus(key).lower() for w in _SECRET_PARAMS):
                pieces[i] = f"{key}=***"
        parts = parts._replace(query="&".join(pieces))
    return parts.geturl()


#: the name used before there was a query-aware one
redact = redact_url


def redact_text(text: str) -> str:
    """Every URL inside ``text`` passed through :func:`redact_url`."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def http_refusal(url: str, status: int, reason: str) -> SourceError:
    """The one line for an HTTP answer that is not a stream: a login refused (saying whether the
    URL carried a user and password), or another status."""
    shown = f"{redact_url(url)}: HTTP {status} {reason}".rstrip()
    if status in (401, 403):
        try:
            had_credentials = urlsplit(url).username is not None
        except ValueError:
            had_credentials = False
        if had_credentials:
            return SourceError(f"{shown}: the camera refused the user and password in the URL",
                               "check them (case matters); %-encode special characters in the password (@ is %40)")
        return SourceError(f"{shown}: the camera asks for a user and password",
                           "put them in the URL: http://user:pass@host:port/path")
    return SourceError(shown, "check the path of the video stream in the camera's manual")


def web_page_error(url: str, content_type: str) -> SourceError | None:
    """The one line for a URL that answers with a web page instead of a video stream (else None)."""
    if content_type not in ("text/html", "application/xhtml+xml"):
        return None
    return SourceError(f"{redact_url(url)} is a web page ({content_type}), not a video stream",
                       "open it in a browser and use the address of the video itself (often …/video, …/mjpg or …/stream)")


def call_with_deadline(fn: Callable[[], T], timeout: float, what: str, fix: str) -> T:
    """Run ``fn()`` on a helper thread; raise SourceError if it takes longer than ``timeout``.

    For library calls that may block without honouring their own timeouts (OpenCV's FFmpeg
    backend on a server that accepts and never answers). The stuck thread is left behind as
    a daemon (it holds no lock of ours) and noted (:func:`note_stuck`), so the process ends
    without waiting for it and without the C++ abort of :func:`end_process`.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e
        finally:
            done.set()

    t = threading.Thread(target=target, name=f"deadline:{what[:30]}", daemon=True)
    t.start()
    try:
        done.wait(timeout)
    finally:  # also when a signal (Ctrl-C) ends the wait
        if not done.is_set():
            note_stuck(t, done)
    if not done.is_set():
        raise SourceError(f"{what}: no answer within {timeout:g} s", fix)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _reason(e: BaseException) -> str:
    if isinstance(e, SourceError):
        return e.what.replace(" — ", ": ")
    return f"{type(e).__name__}: {e}"


class LiveSource(FrameSource):
    """Base for sources that can drop and come back. Subclasses implement
    :meth:`_connect` (raise SourceError on failure, within ``timeout``), :meth:`_read`
    (one RGB frame; raise SourceError/OSError when the stream drops) and :meth:`_disconnect`.
    """

    backoff_initial = 0.5
    backoff_max = 2.0
    #: each wait is the backoff times a random factor in [1 - jitter, 1]
    jitter = 0.2
    #: a connected stream with no new frame for this long is "stalled" in :meth:`state`
    stall_after = 1.0

    def __init__(self, label: str, stereo: str | None = None, timeout: float = 5.0,
                 notify: Callable[[str], None] | None = None):
        super().__init__(stereo=stereo)
        if not timeout > 0:
            raise SourceError(f"source timeout must be > 0 s, got {timeout}", "pass a positive timeout")
        self.label = redact_url(label)
        self.timeout = float(timeout)
        notify = notify or _stderr_line
        self.notify = lambda line: notify(redact_text(line))
        self.reconnects = 0
        self.connected = False
        #: why the stream is down while :meth:`state` says "reconnecting" (redacted), else None
        self.problem: str | None = None

    @abstractmethod
    def _connect(self) -> None: ...

    @abstractmethod
    def _read(self) -> np.ndarray: ...

    def _disconnect(self) -> None:
        pass

    def _open(self) -> None:
        self._connect()
        self.connected = True

    def _close(self) -> None:
        self.connected = False
        self._disconnect()

    def _wait(self, delay: float) -> float:
        """The next wait: ``delay`` shortened by up to :attr:`jitter`."""
        return delay * (1.0 - self.jitter * random.random())

    def _grab(self) -> np.ndarray | None:
        delay = self.backoff_initial
        reason = ""
        while not self._stop.is_set():
            wait = self._wait(delay)
            if self.connected:
                try:
                    return self._read()
                except (SourceError, OSError, ValueError, RuntimeError) as e:  # the stream dropped: reconnect
                    if self._stop.is_set():
                        return None
                    self.connected = False
                    self._safe_disconnect()
                    reason = _reason(e).removeprefix(f"{self.label}: ")
                    self.problem = redact_text(reason)
                    self.notify(f"source: {self.label} dropped ({reason}), reconnecting in {wait:.1f} s")
            else:
                self.notify(f"source: {self.label} still unreachable ({reason}), reconnecting in {wait:.1f} s")
            if self._stop.wait(wait):
                return None
            delay = min(delay * 2, self.backoff_max)
            try:
                self._connect()
            except (SourceError, OSError, ValueError, RuntimeError) as e:  # still down: shown in the next line
                reason = _reason(e).removeprefix(f"{self.label}: ")
                self.problem = redact_text(reason)
                self._safe_disconnect()
                continue
            self.connected = True
            self.problem = None
            self.reconnects += 1
            self.notify(f"source: {self.label} reconnected")
            delay = self.backoff_initial
        return None

    def state(self) -> tuple[str, float | None]:
        """(``"live"`` | ``"stalled"`` | ``"reconnecting"`` | ``"ended"``, seconds since the newest
        frame or None before the first). ``stalled``: connected, but no frame for :attr:`stall_after`."""
        name, age = super().state()
        if name == "ended":
            return name, age
        if not self.connected and self._thread is not None:
            return "reconnecting", age
        if age is not None and age >= self.stall_after:
            return "stalled", age
        return name, age

    def _interrupt(self) -> None:
        """Unblock a read in progress on the capture thread (called by :meth:`stop`)."""

    #: how long :meth:`stop` waits for the capture thread (a read it cannot interrupt is left behind)
    stop_wait = 1.0

    def stop(self) -> None:
        """Stop within :attr:`stop_wait` seconds whatever the stream is doing (Ctrl-C must end a
        run at once): a capture thread still inside an OpenCV read is left to finish it, and its
        capture is not released under it (that would crash); the process ends without waiting
        for it (:func:`end_process`)."""
        self._stop.set()
        self._interrupt()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            try:
                self._done.wait(self.stop_wait)
            finally:  # a second Ctrl-C during the wait as well
                if not self._done.is_set():
                    note_stuck(t, self._done)
            if not self._done.is_set():
                self._slot.close()
                return
        super().stop()

    def _safe_disconnect(self) -> None:
        try:
            self._disconnect()
        except (SourceError, OSError, RuntimeError) as e:  # closing a dead stream: said in debug logging
            log.debug("source %s: closing the dropped stream failed: %s", self.label, redact_text(str(e)))
