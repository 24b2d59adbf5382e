"""Live sources (webcams, IP cameras): connect with a deadline, reconnect with backoff.

A :class:`LiveSource` must connect at :meth:`start` (else :class:`SourceError` within
``timeout`` seconds). Once running, when the stream drops (read error, stall longer than
``timeout``, end of stream) it prints one line —
``source: http://… dropped (reason), reconnecting in 0.5 s`` — waits, and tries again with
exponential backoff (0.5, 1, 2, 4, 8 s …, capped at :attr:`backoff_max`). Meanwhile the last
frame stays available through :meth:`read_latest`. :meth:`stop` interrupts the wait.
"""

from __future__ import annotations

import sys
import threading
from abc import abstractmethod
from typing import Callable, TypeVar
from urllib.parse import urlsplit

import numpy as np

from artem_vr.errors import SourceError
from artem_vr.sources.base import FrameSource

T = TypeVar("T")


def _stderr_line(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def call_with_deadline(fn: Callable[[], T], timeout: float, what: str, fix: str) -> T:
    """Run ``fn()`` on a helper thread; raise SourceError if it takes longer than ``timeout``.

    For library calls that may block without honouring their own timeouts (OpenCV's FFmpeg
    backend on a server that accepts and never answers). The stuck thread is left behind as
    a daemon; it holds no lock of ours.
    """
    box: dict[str, object] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=target, name=f"deadline:{what[:30]}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
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
    backoff_max = 8.0

    def __init__(self, label: str, stereo: str | None = None, timeout: float = 5.0,
                 notify: Callable[[str], None] | None = None):
        super().__init__(stereo=stereo)
        if not timeout > 0:
            raise SourceError(f"source timeout must be > 0 s, got {timeout}", "pass a positive timeout")
        self.label = label
        self.timeout = float(timeout)
        self.notify = notify or _stderr_line
        self.reconnects = 0
        self.connected = False

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

    def _grab(self) -> np.ndarray | None:
        delay = self.backoff_initial
        reason = ""
        while not self._stop.is_set():
            if self.connected:
                try:
                    return self._read()
                except Exception as e:  # any failure of a live stream: drop and reconnect
                    if self._stop.is_set():
                        return None
                    self.connected = False
                    self._safe_disconnect()
                    reason = _reason(e).removeprefix(f"{self.label}: ")
                    self.notify(f"source: {self.label} dropped ({reason}), reconnecting in {delay:g} s")
            else:
                self.notify(f"source: {self.label} still unreachable ({reason}), reconnecting in {delay:g} s")
            if self._stop.wait(delay):
                return None
            delay = min(delay * 2, self.backoff_max)
            try:
                self._connect()
            except Exception as e:
                reason = _reason(e).removeprefix(f"{self.label}: ")
                self._safe_disconnect()
                continue
            self.connected = True
            self.reconnects += 1
            self.notify(f"source: {self.label} reconnected")
            delay = self.backoff_initial
        return None

    def _interrupt(self) -> None:
        """Unblock a read in progress on the capture thread (called by :meth:`stop`)."""

    def stop(self) -> None:
        self._stop.set()
        self._interrupt()
        super().stop()

    def _safe_disconnect(self) -> None:
        try:
            self._disconnect()
        except Exception:
            pass
