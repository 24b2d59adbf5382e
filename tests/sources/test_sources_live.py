"""Live sources against real sockets: an MJPEG server on 127.0.0.1, refused and hanging
ports, reconnection after the server drops, and cameras that do not exist."""

from __future__ import annotations

import time

import numpy as np
import pytest

from artem_vr.errors import SourceError, UsageError
from artem_vr.sources import open_source
from artem_vr.sources.camera import OpenCVStreamSource, WebcamSource
from artem_vr.sources.mjpeg import HttpCameraSource


def _wait_colour(src, colour, timeout=5.0, tol=12):
    """Wait for a frame whose centre is ``colour`` (RGB); returns it or None."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        f = src.wait_frame(last, timeout=0.5)
        if f is None:
            if src.ended:
                return None
            continue
        last = f.index
        if np.abs(f.image[24, 32].astype(int) - colour).max() <= tol:
            return f
    return None


@pytest.mark.parametrize("path", ["/video", "/nolen", "/dashes", "/snap"])
def test_mjpeg_frames_arrive_with_the_servers_colour(mjpeg_server, path):
    mjpeg_server.colour = (250, 30, 30)
    src = open_source(mjpeg_server.url + path, timeout=3)
    assert isinstance(src, HttpCameraSource)
    with src:
        f = _wait_colour(src, (250, 30, 30))
        assert f is not None and f.image.shape == (48, 64, 3)
        mjpeg_server.colour = (20, 40, 240)  # the stream follows the server
        g = _wait_colour(src, (20, 40, 240))
        assert g is not None and g.index > f.index
        assert src.backend == "mjpeg"


def test_basic_auth_from_the_url(mjpeg_server):
    url = mjpeg_server.url.replace("http://", "http://user:secret@") + "/auth"
    with open_source(url, timeout=3) as src:
        assert "secret" not in src.label  # the password never shows in messages
        assert _wait_colour(src, mjpeg_server.colour) is not None
    with pytest.raises(SourceError, match="401"):
        open_source(mjpeg_server.url + "/auth", timeout=3).start()


def test_http_404_is_a_clear_error(mjpeg_server):
    with pytest.raises(SourceError, match="HTTP 404"):
        open_source(mjpeg_server.url + "/404", timeout=3).start()


def test_reconnects_after_the_server_drops_and_comes_back(mjpeg_server):
    messages: list[str] = []
    src = HttpCameraSource(mjpeg_server.url + "/video", timeout=1.0, notify=messages.append)
    with src:
        mjpeg_server.colour = (240, 240, 20)
        first = _wait_colour(src, (240, 240, 20))
        assert first is not None
        mjpeg_server.stop()
        deadline = time.monotonic() + 5
        while not any("reconnecting in" in m for m in messages) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(m.startswith(f"source: {mjpeg_server.url}/video dropped") for m in messages), messages
        first_wait = float(messages[0].rsplit("in ", 1)[1].split()[0])
        assert 0.4 <= first_wait <= 0.5  # 0.5 s less up to 20 % jitter
        assert src.read_latest() is not None  # the last frame is still served meanwhile
        time.sleep(0.8)  # at least one failed try while the server is down
        mjpeg_server.colour = (20, 200, 60)
        mjpeg_server.start()  # same port
        back = _wait_colour(src, (20, 200, 60), timeout=8)
        assert back is not None and back.index > first.index
        assert src.reconnects >= 1 and not src.ended
    assert any("reconnected" in m for m in messages)
    delays = [float(m.rsplit("in ", 1)[1].split()[0]) for m in messages if "reconnecting in" in m]
    # exponential backoff 0.5, 1, 2, 2 … s, each less up to 20 % jitter (printed to 0.1 s)
    for i, d in enumerate(delays):
        nominal = min(0.5 * 2 ** i, 2.0)
        assert 0.8 * nominal - 0.05 <= d <= nominal, delays


def test_dropped_message_goes_to_stderr_by_default(mjpeg_server, capsys):
    with open_source(mjpeg_server.url + "/video", timeout=1.0) as src:
        assert src.wait_frame(timeout=3) is not None
        mjpeg_server.stop()
        deadline = time.monotonic() + 3
        while "reconnecting" not in capsys.readouterr().err and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() < deadline, "no 'reconnecting' line on stderr"


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_refused_url_fails_at_start(closed_port, scheme):
    src = open_source(f"{scheme}://127.0.0.1:{closed_port}/video", timeout=2)
    t = time.monotonic()
    with pytest.raises(SourceError) as e:
        src.start()
    assert time.monotonic() - t < 2 + 1.5
    assert str(closed_port) in str(e.value) and "—" in str(e.value)  # what, then what to do


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_hanging_url_fails_at_start_within_the_timeout(hanging_port, scheme):
    src = open_source(f"{scheme}://127.0.0.1:{hanging_port}/video", timeout=1.0)
    t = time.monotonic()
    with pytest.raises(SourceError, match="no answer|cannot open"):
        src.start()
    assert time.monotonic() - t < 1.0 + 1.5


def test_a_stream_that_stalls_counts_as_dropped(mjpeg_server):
    messages: list[str] = []
    with HttpCameraSource(mjpeg_server.url + "/video", timeout=0.5, notify=messages.append) as src:
        assert src.wait_frame(timeout=3) is not None
        mjpeg_server.interval = 3.0  # frames stop coming, connection stays open
        deadline = time.monotonic() + 4
        while not messages and time.monotonic() < deadline:
            time.sleep(0.05)
        mjpeg_server.interval = 0.02
    assert messages and "no data for 0.5 s" in messages[0]


def test_non_mjpeg_http_video_goes_through_opencv(mjpeg_server, tmp_path, videos):
    clip = videos.write(tmp_path / "clip.avi", n=12, fps=50, fourcc="MJPG")
    mjpeg_server.file = clip.read_bytes()
    with open_source(mjpeg_server.url + "/file", timeout=3) as src:
        f = src.wait_frame(timeout=5)
        assert src.backend == "opencv"
        assert f is not None and videos.decode_level(f.image) == 0


def test_missing_camera_index_fails_at_start():
    src = open_source("cam:63", timeout=2)
    assert isinstance(src, WebcamSource)
    t = time.monotonic()
    with pytest.raises(SourceError, match="cam:63 cannot be opened") as e:
        src.start()
    assert time.monotonic() - t < 3.5
    assert "--source sample" in str(e.value)


def test_stop_interrupts_a_live_source_quickly(mjpeg_server):
    src = open_source(mjpeg_server.url + "/video", timeout=5).start()
    assert src.wait_frame(timeout=3) is not None
    t = time.monotonic()
    src.stop()
    assert time.monotonic() - t < 2 and not src._thread.is_alive()


def test_bad_options():
    with pytest.raises(UsageError, match="stereo"):
        open_source("sample", stereo="top-bottom")
    with pytest.raises(UsageError, match="timeout"):
        open_source("sample", timeout=0)
    with pytest.raises(SourceError, match="timeout"):
        OpenCVStreamSource("rtsp://127.0.0.1:1/x", timeout=-1)


def test_https_to_a_plain_http_server_is_a_tls_error(mjpeg_server):
    url = mjpeg_server.url.replace("http://", "https://") + "/video"
    with pytest.raises(SourceError, match="TLS failed"):
        open_source(url, timeout=2).start()
