"""Fixtures for the source tests: real files, a real MJPEG HTTP server, a real Xvfb."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from local_http import LocalHttpServer, QuietHandler

# -- videos ------------------------------------------------------------------------------

#: grey level of frame i in the test videos: far apart so compression cannot confuse them
def level(i: int) -> int:
    assert 0 <= i < 26, "test videos have at most 26 distinct grey levels"
    return 16 + 9 * i


def decode_level(rgb: np.ndarray) -> int:
    """Frame number from a test video frame (inverse of :func:`level`)."""
    return int(round((float(rgb.mean()) - 16) / 9))


def write_test_video(path: Path, n: int = 20, fps: float = 100.0, size=(64, 48), fourcc="mp4v") -> Path:
    """A video whose frame i is uniformly grey at :func:`level` (i); written with cv2.VideoWriter."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert w.isOpened(), f"cv2.VideoWriter cannot write {path} with {fourcc}"
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), level(i), np.uint8))
    w.release()
    return path


@pytest.fixture
def test_video(tmp_path):
    return write_test_video(tmp_path / "grey_ramp.mp4")


# -- an MJPEG server ---------------------------------------------------------------------


def jpeg_of(colour, size=(64, 48)) -> bytes:
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = colour[::-1]  # RGB → BGR for OpenCV
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


class MjpegServer(LocalHttpServer):
    """A threaded HTTP server on 127.0.0.1 serving frames of one solid colour (``colour``, RGB).

    Paths: ``/video`` multipart MJPEG with Content-Length, ``/nolen`` without it,
    ``/dashes`` with the boundary's dashes repeated in the header,
    ``/snap`` one JPEG, ``/auth`` MJPEG behind basic auth (user:secret), ``/file`` the
    bytes of :attr:`file` (content type :attr:`file_type`), ``/404``.
    :meth:`stop` drops every connection; :meth:`start` serves again on the same port.
    """

    def __init__(self):
        super().__init__()
        self.colour = (255, 0, 0)
        self.frames_sent = 0
        self.file: bytes = b""
        self.file_type = "video/x-msvideo"

    def handler(self):
        server = self

        class Handler(QuietHandler):
            def _multipart(self, with_length: bool, header_boundary: str = "frame"):
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={header_boundary}")
                self.end_headers()
                try:
                    while server.running:
                        data = jpeg_of(server.colour)
                        head = b"--frame\r\nContent-Type: image/jpeg\r\n"
                        if with_length:
                            head += b"Content-Length: %d\r\n" % len(data)
                        self.wfile.write(head + b"\r\n" + data + b"\r\n")
                        self.wfile.flush()
                        server.frames_sent += 1
                        time.sleep(server.interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                if self.path == "/video":
                    return self._multipart(True)
                if self.path == "/nolen":
                    return self._multipart(False)
                if self.path == "/dashes":  # like some cameras: dashes repeated in the header
                    return self._multipart(True, header_boundary='"--frame"')
                if self.path == "/auth":
                    if self.authorized(b"user:secret", realm="cam"):
                        self._multipart(True)
                    return
                if self.path == "/snap":
                    data = jpeg_of(server.colour)
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    server.frames_sent += 1
                    return
                if self.path == "/file":
                    self.send_response(200)
                    self.send_header("Content-Type", server.file_type)
                    self.send_header("Content-Length", str(len(server.file)))
                    self.end_headers()
                    self.wfile.write(server.file)
                    return
                self.send_response(404)
                self.end_headers()

        return Handler


@pytest.fixture
def mjpeg_server():
    s = MjpegServer().start()
    yield s
    s.stop()


@pytest.fixture
def closed_port():
    """A TCP port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hanging_port():
    """A port that accepts TCP connections and never sends a byte."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def accept_forever():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                conns.append(c)  # held open, never answered
            except OSError:
                continue

    t = threading.Thread(target=accept_forever, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(1)
    for c in conns:
        c.close()
    srv.close()


# -- Xvfb --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def xvfb():
    """A private Xvfb (320x240, 24-bit) on a free display number; yields ':N'.

    ``-noreset``: the server must not wipe the root window when the painting client leaves.
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install -y xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(w), "-screen", "0", "320x240x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(w)
    num = b""
    deadline = time.monotonic() + 10
    while not num.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([r], [], [], 0.2)
        if ready:
            chunk = os.read(r, 16)
            if not chunk:
                break
            num += chunk
    os.close(r)
    if not num.strip():
        proc.kill()
        pytest.fail("Xvfb did not report a display number within 10 s")
    yield f":{int(num)}"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


def fill_rects(display: str, rects: list[tuple[int, int, int, int, tuple[int, int, int]]]) -> None:
    """Paint filled rectangles (x, y, w, h, (r, g, b)) on the root window of ``display`` with Xlib."""
    lib = ctypes.util.find_library("X11")
    if lib is None:
        pytest.skip("libX11 not found (apt-get install -y libx11-6)")
    x = ctypes.CDLL(lib)
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x.XRootWindow.restype = ctypes.c_ulong
    x.XRootWindow.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XCreateGC.restype = ctypes.c_void_p
    x.XCreateGC.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    x.XSetForeground.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong]
    x.XFillRectangle.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p] + [ctypes.c_int] * 2 + [ctypes.c_uint] * 2
    x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XFreeGC.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    try:
        root = x.XRootWindow(dpy, x.XDefaultScreen(dpy))
        gc = x.XCreateGC(dpy, root, 0, None)
        for rx, ry, rw, rh, (cr, cg, cb) in rects:
            x.XSetForeground(dpy, gc, (cr << 16) | (cg << 8) | cb)  # 24-bit TrueColor pixel
            x.XFillRectangle(dpy, root, gc, rx, ry, rw, rh)
        x.XSync(dpy, 0)
        x.XFreeGC(dpy, gc)
    finally:
        x.XCloseDisplay(dpy)


# -- helpers handed to tests as fixtures (test modules do not import conftest) -------------


class _Videos:
    level = staticmethod(level)
    decode_level = staticmethod(decode_level)
    write = staticmethod(write_test_video)


@pytest.fixture
def videos():
    """``videos.write(path, n, fps, size)``, ``videos.level(i)``, ``videos.decode_level(rgb)``."""
    return _Videos


@pytest.fixture
def paint():
    """``paint(display, [(x, y, w, h, (r, g, b)), ...])`` fills rectangles on the X root window."""
    return fill_rects


@pytest.fixture
def jpeg():
    """``jpeg(colour_rgb, size=(w, h)) -> bytes``."""
    return jpeg_of
