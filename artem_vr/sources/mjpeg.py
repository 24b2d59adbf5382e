"""IP cameras over HTTP(S): an MJPEG ``multipart/x-mixed-replace`` reader of our own.

Phone apps ("IP Webcam", "DroidCam") and most network cameras serve MJPEG this way. We
read it with :mod:`http.client` and socket timeouts rather than OpenCV's FFmpeg backend,
which can block forever on a server that accepts and never answers. A URL that answers
with a single ``image/jpeg`` is polled as a snapshot camera. Any other content type (an
mp4/HLS stream) is handed to OpenCV's FFmpeg backend by :class:`HttpCameraSource`.

``http://user:pass@host/...`` sends HTTP basic authentication (the password is never printed).

A part that is not a complete image (a corrupt or truncated JPEG, or one over the megapixel
limit, checked from its header before decoding) is skipped, not a reason to drop the
connection; only a stream whose parts stay bad for ``timeout`` seconds is reconnected.
"""

from __future__ import annotations

import base64
import http.client
import io
import socket
import ssl
import time
import warnings
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from artem_vr.errors import ImageError, SourceError
from artem_vr.sources.camera import stream_capture
from artem_vr.sources.imageio import DEFAULT_MAX_MEGAPIXELS, check_pixels
from artem_vr.sources.live import LiveSource, http_refusal, redact, web_page_error

_FIX = "check the URL opens in a browser on this machine, the camera app is running, and the port is right"


class NotMjpeg(SourceError):
    """The URL answered, but with a content type this reader does not handle."""

    def __init__(self, url: str, content_type: str):
        self.content_type = content_type
        super().__init__(f"{url} serves {content_type or 'no content type'}, not MJPEG", "OpenCV will try it")


#: content types that may be video OpenCV/FFmpeg can play (anything else is refused at once)
_VIDEO_TYPES = ("video/", "application/octet-stream", "application/vnd.apple.mpegurl", "application/x-mpegurl",
                "audio/mpegurl", "application/dash+xml", "application/mp4", "binary/octet-stream")


def _maybe_video(content_type: str) -> bool:
    return not content_type or content_type.startswith(_VIDEO_TYPES)


class MjpegStream:
    """One HTTP connection to an MJPEG (or snapshot JPEG) URL; :meth:`next_jpeg` returns the
    bytes of the next JPEG. Every network wait is bounded by ``timeout`` seconds."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self.timeout = float(timeout)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"not an http(s) URL: {redact(url)}", "give a URL like http://192.168.1.5:8080/video")
        self._parts = parts
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._boundary: bytes | None = None
        self._buf = bytearray()
        self.snapshot = False
        self.content_type = ""

    # -- connection -----------------------------------------------------------------
    def connect(self) -> None:
        """Open the connection and read the response headers (SourceError on failure)."""
        p = self._parts
        deadline = time.monotonic() + self.timeout
        try:
            if p.scheme == "https":
                conn = http.client.HTTPSConnection(p.hostname, p.port or 443, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(p.hostname, p.port or 80, timeout=self.timeout)
            path = (p.path or "/") + (f"?{p.query}" if p.query else "")
            headers = {"User-Agent": "artem-vr", "Accept": "multipart/x-mixed-replace, image/jpeg, */*"}
            if p.username is not None:
                cred = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
            conn.connect()
            self._sock = conn.sock  # the response keeps reading it after an HTTP/1.0 answer detaches it from conn
            conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout)
        except ConnectionRefusedError:
            raise SourceError(f"{redact(self.url)}: connection refused", _FIX) from None
        except (socket.timeout, TimeoutError):
            raise SourceError(f"{redact(self.url)}: no answer within {self.timeout:g} s", _FIX) from None
        except ssl.SSLError as e:
            raise SourceError(f"{redact(self.url)}: TLS failed ({e.reason or e})", "check the certificate, or use http://") from None
        except (OSError, http.client.HTTPException) as e:
            raise SourceError(f"{redact(self.url)}: {type(e).__name__}: {e}", _FIX) from None
        self._conn, self._resp = conn, resp
        self._buf = bytearray()
        if resp.status != 200:
            self.close()
            raise http_refusal(self.url, resp.status, resp.reason)
        ctype = resp.getheader("Content-Type", "") or ""
        self.content_type = ctype.split(";")[0].strip().lower()
        if self.content_type.startswith("multipart/"):
            boundary = None
            for param in ctype.split(";")[1:]:
                k, _, v = param.strip().partition("=")
                if k.strip().lower() == "boundary":
                    boundary = v.strip().strip('"')
            if not boundary:
                self.close()
                raise SourceError(f"{redact(self.url)}: multipart stream without a boundary", "the camera's stream is malformed; try its other stream URL")
            # RFC 2046 puts "--" before the boundary; some cameras repeat the dashes in the
            # header, others omit them in the body: compare without leading dashes
            self._boundary = b"--" + boundary.encode("latin-1").lstrip(b"-")
            self.snapshot = False
        elif self.content_type in ("image/jpeg", "image/jpg", "image/png"):
            self.snapshot = True
        elif self.content_type in ("text/html", "application/xhtml+xml"):
            self.close()
            raise SourceError(f"{redact(self.url)} is a web page ({self.content_type}), not a video stream",
                              "give the address of the camera's video stream, not of its web page "
                              "(often …/video, …/mjpg or …/stream; see the camera's manual)")
        elif not _maybe_video(self.content_type):
            self.close()
            raise SourceError(f"{redact(self.url)} serves {self.content_type}, not a video stream",
                              "give the address of an MJPEG stream, a JPEG snapshot or a video")
        else:
            self.close()
            raise web_page_error(self.url, self.content_type) or NotMjpeg(redact(self.url), self.content_type)

    def close(self) -> None:
        self.interrupt()
        if self._resp is not None:
            self._resp.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._resp = self._sock = None

    def interrupt(self) -> None:
        """Unblock a read in progress on another thread (used by stop)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- reading --------------------------------------------------------------------
    def next_jpeg(self) -> bytes:
        """Bytes of the next image; SourceError/OSError when the stream drops or stalls."""
        if self._resp is None and not self.snapshot:
            raise SourceError(f"{redact(self.url)}: not connected", _FIX)
        try:
            if self.snapshot:
                if self._resp is None:
                    self.connect()  # each snapshot is one request
                data = self._resp.read()
                self.close()
                if not data:
                    raise SourceError(f"{redact(self.url)}: empty image", _FIX)
                return data
            return self._next_part()
        except (socket.timeout, TimeoutError):
            raise SourceError(f"no data for {self.timeout:g} s", _FIX) from None
        except http.client.HTTPException as e:
            raise SourceError(f"{type(e).__name__}: {e}", _FIX) from None

    # Our own buffer over the response: parts without Content-Length are found by scanning
    # for the next boundary, which means reading past the end of the current part.
    def _fill(self) -> None:
        resp = self._resp
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(4096)
        if not chunk:
            raise SourceError("stream closed by the server", _FIX)
        self._buf += chunk
        if len(self._buf) > 64 * 1024 * 1024:
            raise SourceError("malformed multipart stream (64 MiB without a boundary)", _FIX)

    def _readline(self) -> bytes:
        while (i := self._buf.find(b"\n")) < 0:
            if len(self._buf) > 65536:
                raise SourceError("malformed multipart stream (header line too long)", _FIX)
            self._fill()
        line = bytes(self._buf[: i + 1])
        del self._buf[: i + 1]
        return line

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _next_part(self) -> bytes:
        boundary = self._boundary
        # skip to the boundary line (there may be a preamble, or the CRLF ending the last part)
        for _ in range(1000):
            line = self._readline().strip()
            if line.startswith(b"--") and line.lstrip(b"-").startswith(boundary.lstrip(b"-")):
                if line.endswith(b"--") and line.rstrip(b"-") == boundary.rstrip(b"-"):
                    raise SourceError("stream ended (closing boundary)", _FIX)
                break
        else:
            raise SourceError("malformed multipart stream (no boundary)", _FIX)
        length = None
        for _ in range(100):
            line = self._readline().strip()
            if not line:
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                try:
                    length = int(v.strip())
                except ValueError:
                    raise SourceError(f"bad Content-Length {v.strip()[:20]!r}", _FIX) from None
        if length is not None:
            if not 0 < length < 64 * 1024 * 1024:
                raise SourceError(f"implausible part size {length}", _FIX)
            return self._read_exact(length)
        # no Content-Length: the part runs up to the CRLF before the next boundary
        marker = b"\r\n--" + boundary.lstrip(b"-")
        start = 0
        while (i := self._buf.find(marker, start)) < 0:
            start = max(0, len(self._buf) - len(marker))
            self._fill()
        data = bytes(self._buf[:i])
        del self._buf[: i + 2]
        return data


def decode_part(data: bytes, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> tuple[np.ndarray | None, str]:
    """One MJPEG part (or snapshot) → (RGB uint8, "") or (None, why it is not a usable frame).

    A JPEG must end with its end-of-image marker (OpenCV decodes a truncated one to a grey
    smear without complaint); the size is checked from the header before decoding (against
    ``max_megapixels``).
    """
    from PIL import Image, UnidentifiedImageError

    if data[:3] == b"\xff\xd8\xff" and not data.rstrip(b"\r\n\x00").endswith(b"\xff\xd9"):
        return None, f"truncated JPEG, {len(data)} bytes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                check_pixels(im.size[0], im.size[1], "frame", max_megapixels=max_megapixels)
    except ImageError as e:
        return None, e.what
    except Image.DecompressionBombError:
        return None, "over the megapixel limit"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return None, f"not an image, {len(data)} bytes ({type(e).__name__})"
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        return None, f"undecodable image, {len(data)} bytes"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ""


class HttpCameraSource(LiveSource):
    """An IP camera at an http(s) URL (see module doc). Reconnects with backoff when it drops.

    MJPEG and snapshot JPEG are read by :class:`MjpegStream`; a URL that serves another
    content type (mp4, HLS) is read through OpenCV/FFmpeg instead (decided at each connect).
    ``max_megapixels``: the decode limit of an MJPEG/snapshot frame (a larger one is skipped).
    """

    name = "http"

    def __init__(self, url: str, stereo: str | None = None, timeout: float = 5.0, notify=None, *,
                 max_megapixels: float = DEFAULT_MAX_MEGAPIXELS):
        super().__init__(redact(url), stereo=stereo, timeout=timeout, notify=notify)
        self.url = url
        self.max_megapixels = max_megapixels
        self.backend = "mjpeg"  # or "opencv"
        self._stream: MjpegStream | None = None
        self._cap = None  # CvCapture when the URL is not MJPEG
        self.corrupt_frames = 0  # parts skipped because they were not a complete image
        self._corrupt_said = -1e9

    def _connect(self) -> None:
        s = MjpegStream(self.url, self.timeout)
        try:
            s.connect()
        except NotMjpeg:
            self._cap = stream_capture(self.url, self.timeout).open()
            self.backend = "opencv"
            self.fps = self._cap.fps
            self.pace = 1.0 / self.fps if self.fps else None  # a file over HTTP plays at its rate
            return
        self._stream = s
        self.backend = "mjpeg"
        if s.snapshot:  # poll a snapshot URL at most 30 times a second
            self.fps, self.pace = 30.0, 1.0 / 30.0

    def _read(self) -> np.ndarray:
        if self._cap is not None:
            return self._cap.read()
        if self._stream is None:
            raise SourceError("not connected", _FIX)
        deadline = time.monotonic() + self.timeout
        while True:
            data = self._stream.next_jpeg()
            rgb, why = decode_part(data, self.max_megapixels)
            if rgb is not None:
                return rgb
            self.corrupt_frames += 1
            now = time.monotonic()
            if now - self._corrupt_said >= 5.0:  # one line per 5 s at most
                self._corrupt_said = now
                self.notify(f"source: {self.label}: skipped a bad frame ({why}; {self.corrupt_frames} so far)")
            if now > deadline or self._stop.is_set():
                raise SourceError(f"no good frame for {self.timeout:g} s (the last: {why})", _FIX)

    def _disconnect(self) -> None:
        stream, self._stream = self._stream, None
        cap, self._cap = self._cap, None
        if stream is not None:
            stream.close()
        if cap is not None:
            cap.close()

    def _interrupt(self) -> None:
        s = self._stream
        if s is not None:
            s.interrupt()
