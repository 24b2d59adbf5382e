"""A hostile MJPEG server on 127.0.0.1: corrupt parts, stalls, restarts, bombs; and secrets in URLs."""

from __future__ import annotations

import time

import pytest
from faults_helpers import HostileMjpegServer, jpeg_bytes, jpeg_claiming

from artem_vr.sources.live import redact_text, redact_url
from artem_vr.sources.mjpeg import HttpCameraSource


@pytest.fixture
def server():
    s = HostileMjpegServer().start()
    yield s
    s.stop()


def _frames_for(src, seconds: float) -> int:
    start = src.frames_captured
    time.sleep(seconds)
    return src.frames_captured - start


@pytest.mark.parametrize("bad", ["truncated", "garbage", "bomb", "empty-ish"])
def test_corrupt_parts_are_skipped_without_reconnecting(server, bad):
    good = jpeg_bytes()
    poison = {"truncated": good[: len(good) // 2], "garbage": b"\x00\x01nonsense" * 50,
              "bomb": jpeg_claiming((20000, 20000)), "empty-ish": b"\xff\xd8\xff\xd9"}[bad]
    server.part = lambda i: poison if i % 2 else good
    messages: list[str] = []
    with HttpCameraSource(server.url + "/video", timeout=2.0, notify=messages.append) as src:
        assert src.wait_frame(timeout=5) is not None
        assert _frames_for(src, 1.0) >= 5
        assert src.corrupt_frames >= 5 and src.reconnects == 0
        assert src.state()[0] == "live"
    assert not any("dropped" in m for m in messages), messages
    assert any("skipped a bad frame" in m for m in messages)
    assert len([m for m in messages if "skipped" in m]) <= 2  # rate-limited, not one line per part


def test_a_stream_of_only_bad_parts_reconnects_after_the_timeout_not_at_once(server):
    server.part = lambda i: b"garbage" * 20
    messages: list[str] = []
    with HttpCameraSource(server.url + "/video", timeout=0.5, notify=messages.append):
        time.sleep(2.5)
        drops = [m for m in messages if "dropped" in m]
    assert 1 <= len(drops) <= 3, messages  # once per 0.5 s timeout + backoff, not 20 times a second
    assert "no good frame for 0.5 s" in drops[0]


def test_a_stall_is_visible_in_state_and_recovers(server):
    with HttpCameraSource(server.url + "/video", timeout=5.0, notify=lambda m: None) as src:
        assert src.wait_frame(timeout=5) is not None
        assert src.state()[0] == "live"
        server.interval = 2.5  # the camera freezes, the connection stays
        time.sleep(1.6)
        state, age = src.state()
        assert state == "stalled" and age >= 1.0
        server.interval = 0.02
        deadline = time.monotonic() + 5
        while src.state()[0] != "live" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert src.state()[0] == "live" and src.reconnects == 0


def test_restart_shows_reconnecting_and_comes_back_within_the_capped_backoff(server):
    messages: list[str] = []
    with HttpCameraSource(server.url + "/video", timeout=0.5, notify=messages.append) as src:
        assert src.wait_frame(timeout=5) is not None
        server.stop()
        time.sleep(4.0)  # long enough for an uncapped backoff to reach 4 s and beyond
        state, age = src.state()
        assert state == "reconnecting" and age >= 3.5
        waits = [float(m.rsplit("in ", 1)[1].split()[0]) for m in messages if "reconnecting in" in m]
        assert waits and max(waits) <= 2.0, waits
        last = src.frames_captured
        server.start()
        t = time.monotonic()
        while src.frames_captured == last and time.monotonic() - t < 5:
            time.sleep(0.02)
        back_after = time.monotonic() - t
        assert src.frames_captured > last and back_after <= 2.0 + 0.5 + 0.5, back_after  # wait cap + connect + slack
        assert src.state()[0] == "live"


def test_password_never_printed(server, cli, tmp_path):
    """`run` on a URL with credentials: neither the password nor the token appear in any line."""
    url = server.url.replace("http://", "http://user:hunter22@") + "/auth?token=s3cr3tvalue"
    code, out, err = cli("run", "--output", "headless", "--source", url, "--frames", "3", "--method", "identity",
                         "--eye-size", "64x48", "--out", tmp_path)
    assert code == 0, err
    assert "hunter22" not in out + err and "s3cr3tvalue" not in out + err
    assert "user:***@" in out


def test_redact_url():
    assert redact_url("http://u:p%40ss@cam:8080/v?token=abc&x=1") == "http://u:***@cam:8080/v?token=***&x=1"
    assert redact_url("rtsp://admin:hunter22@10.0.0.1:554/s") == "rtsp://admin:***@10.0.0.1:554/s"
    assert redact_url("http://cam/v?x=1") == "http://cam/v?x=1"
    assert redact_url("0") == "0" and redact_url("clip.mp4") == "clip.mp4"
    assert "pw" not in redact_url("http://u:pw@[::1/x")  # unparsable: the netloc goes
    assert redact_text("dropped http://a:bcd@x/ and rtsp://c:efg@y/") == "dropped http://a:***@x/ and rtsp://c:***@y/"


def test_redact_url_keeps_the_rest_as_typed():
    """Only the secrets change: the query was re-encoded (so a message's "URL: refused" read "URL%3A refused"),
    an IPv6 host lost its brackets and a host its case."""
    assert (redact_text("http://127.0.0.1:9/v?token=abcdef&x=1: connection refused")
            == "http://127.0.0.1:9/v?token=***&x=1: connection refused")
    assert redact_url("http://h/v?token=abc&name=a b&q=%41") == "http://h/v?token=***&name=a b&q=%41"
    assert redact_url("http://u:p%40ss@[::1]:8080/v?to%6Ben=abc&x=1") == "http://u:***@[::1]:8080/v?to%6Ben=***&x=1"
    assert redact_url("http://u:se@cret@CAM:8080/v") == "http://u:***@CAM:8080/v"
    assert redact_url("http://u:pw99@h:abc/v") == "http://u:***@h:abc/v"  # a bad port: still no password
