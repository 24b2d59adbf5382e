"""Parsing --source values: every accepted form, and what is refused with what message."""

from __future__ import annotations

import numpy as np
import pytest

from artem_vr.encode import write_image
from artem_vr.errors import SourceError, UsageError
from artem_vr.sources import FrameSource, open_source, parse_spec


@pytest.mark.parametrize(
    "spec,kind,target,sbs",
    [
        ("0", "webcam", 0, False),
        (" 2 ", "webcam", 2, False),
        (3, "webcam", 3, False),
        ("cam:1", "webcam", 1, False),
        ("CAM:4", "webcam", 4, False),
        ("/dev/video5", "webcam", "/dev/video5", False),
        ("http://192.0.2.1:8080/video", "url", "http://192.0.2.1:8080/video", False),
        ("https://cam.example/mjpg", "url", "https://cam.example/mjpg", False),
        ("rtsp://192.0.2.1:554/stream1", "rtsp", "rtsp://192.0.2.1:554/stream1", False),
        ("screen", "screen", 1, False),
        ("screen:2", "screen", 2, False),
        ("screen:0,0,1280,720", "screen", (0, 0, 1280, 720), False),
        ("screen: 10, 20, 30, 40", "screen", (10, 20, 30, 40), False),
        ("sample", "sample", None, False),
        ("sample:sbs", "sample", None, True),
    ],
)
def test_accepted_forms(spec, kind, target, sbs):
    p = parse_spec(spec)
    assert (p.kind, p.target, p.sbs) == (kind, target, sbs)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("", "empty source"),
        ("cam:", "bad camera index"),
        ("cam:-1", "bad camera index"),
        ("screen:1,2", "bad screen region"),
        ("screen:0,0,0,10", "w,h > 0"),
        ("sample:3d", "unknown sample variant"),
        ("ftp://host/x", "unsupported URL scheme 'ftp'"),
        ("webcam0", "no such file"),
        ("foo:bar", "unknown source"),
        (-1, "camera index must be >= 0"),
        (1.5, "must be a string"),
        # were an internal error (exit 3): OpenCV's "Python int too large to convert to C long", int("²")
        ("99999999999999999999", "too large"),
        ("cam:99999999999999999999", "too large"),
        (2**40, "too large"),
        ("screen:99999999999999999999", "too large"),
        ("screen:0,0,99999999999999999999,1", "too large"),
        ("²", "no such file"),
        ("cam:²", "bad camera index"),
        ("screen:²", "bad screen region"),
    ],
)
def test_refused_forms_say_what_to_do(spec, match):
    with pytest.raises((UsageError, SourceError), match=match) as e:
        parse_spec(spec)
    assert e.value.fix  # every refusal comes with what to do


def test_files_by_content(tmp_path, videos):
    img = write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert parse_spec(str(img)).kind == "image"
    vid = videos.write(tmp_path / "v.mp4", n=3)
    assert parse_spec(str(vid)).kind == "video"
    assert parse_spec(vid).kind == "video"  # a Path works too
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        parse_spec(str(empty))
    with pytest.raises(SourceError, match="directory"):
        parse_spec(str(tmp_path))


def test_open_source_returns_unstarted_sources():
    src = open_source("sample")
    assert isinstance(src, FrameSource)
    assert src.read_latest() is None  # nothing captured before start()
    assert open_source("sample:sbs").stereo == "sbs"
    assert open_source("sample", stereo="mono").stereo is None
