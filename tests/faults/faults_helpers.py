"""Shared pieces of the fault suite: real child processes of the CLI (with an optional file-size
limit standing in for a full disk), test media, and a hostile MJPEG server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from local_http import LocalHttpServer, QuietHandler

ARTEM = [sys.executable, "-m", "artem_vr"]


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_video(path: Path, n: int = 30, size=(64, 48), fps: float = 30.0, seed: int = 0) -> Path:
    """A real mp4v video of ``n`` random frames (random: every frame differs, compression cannot hide a loss)."""
    rng = np.random.default_rng(seed)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert w.isOpened()
    for _ in range(n):
        w.write((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8))
    w.release()
    return path


def write_png(path: Path, size=(56, 40), seed: int = 1) -> Path:
    img = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def count_frames(path: Path) -> int:
    """Frames that decode, reading the whole file (0 when it does not open)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.isOpened():
            ok, f = cap.read()
            if not ok or f is None:
                break
            n += 1
    finally:
        cap.release()
    return n


def partials(folder: Path) -> list[Path]:
    """Temporary files an atomic write left behind (there must be none)."""
    return sorted(p for p in Path(folder).iterdir() if ".partial-" in p.name)


def _limit_file_size(limit: int):
    def pre():
        # A file-size limit makes every write past it fail with EFBIG, like a full disk
        # (SIGXFSZ ignored so the write fails instead of killing the process).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("ARTEM_VR_TESTING", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*argv, cwd: Path, max_file_bytes: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``artem-vr ARGV`` as a real child process; ``max_file_bytes`` makes writes past that size fail."""
    return subprocess.run([*ARTEM, *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=child_env(), preexec_fn=_limit_file_size(max_file_bytes) if max_file_bytes else None)


def start_cli(*argv, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*ARTEM, *map(str, argv)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env())


#: a tqdm progress bar's line ("12%|██  | 3/25 [00:01<…, 2.1it/s]", "?frame/s"), or the plain line that
#: stands for it off a terminal (artem_vr.status.Progress: "[progress] … 3/25 frames (12 %), …")
_PROGRESS = re.compile(r"frame/s|\?frame|\d+%\||it/s\]|s/it\]|^\[progress\] ")


def one_error_line(err: str) -> str:
    """The stderr of a failed command: exactly one non-empty line (progress bars aside), no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not _PROGRESS.search(ln)]
    assert len(lines) == 1, err
    return lines[0]


def jpeg_bytes(colour=(200, 40, 40), size=(64, 48)) -> bytes:
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = colour[::-1]
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def jpeg_claiming(size=(20000, 20000)) -> bytes:
    """A small JPEG whose frame header (SOF0) claims ``size``: a decompression bomb's header."""
    data = bytearray(jpeg_bytes())
    i = data.find(b"\xff\xc0")
    assert i > 0
    data[i + 5 : i + 7] = size[1].to_bytes(2, "big")
    data[i + 7 : i + 9] = size[0].to_bytes(2, "big")
    return bytes(data)


class HostileMjpegServer(LocalHttpServer):
    """MJPEG over HTTP on 127.0.0.1 whose parts come from :attr:`part` (``index -> bytes``; default a
    good JPEG), with a settable :attr:`interval`; :meth:`stop` / :meth:`start` restart it on the same
    port. ``/auth`` needs basic auth user:hunter22."""

    def __init__(self):
        super().__init__()
        self.part = lambda i: jpeg_bytes()
        self.sent = 0

    def handler(self):
        server = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path == "/auth" and not self.authorized(b"user:hunter22"):
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while server.running:
                        data = server.part(server.sent)
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                                         + data + b"\r\n")
                        self.wfile.flush()
                        server.sent += 1
                        time.sleep(server.interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
