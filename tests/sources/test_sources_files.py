"""Video-file, image, sample sources and latest-frame semantics, on files the tests write."""

from __future__ import annotations

import time

import numpy as np
import pytest

from artem_vr.encode import write_image
from artem_vr.errors import SourceError
from artem_vr.frames import split_sbs
from artem_vr.sources import open_source
from artem_vr.sources.files import ImageSource, VideoFileSource


def _collect(src, until, timeout=10.0):
    """Frames from wait_frame until ``until(frames)`` or the stream ends."""
    frames, last = [], -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = src.wait_frame(last, timeout=2.0)
        if f is None:
            break
        frames.append(f)
        last = f.index
        if until(frames):
            break
    return frames


def test_video_frames_come_in_order_with_their_content_then_end(tmp_path, videos):
    path = videos.write(tmp_path / "ramp.mp4", n=20, fps=100)
    with open_source(str(path), loop=False) as src:
        assert isinstance(src, VideoFileSource) and abs(src.fps - 100) < 1
        frames = _collect(src, lambda fs: False)
        assert src.ended and src.error is None
        assert src.wait_frame(frames[-1].index, timeout=1.0) is None  # end of stream: None, promptly
    assert frames, "no frame arrived"
    for f in frames:
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert videos.decode_level(f.image) == f.index  # frame i carries grey level i
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert frames[-1].index == 19  # the last frame is never lost
    assert len(frames) >= 10  # a consumer that keeps up sees most frames


def test_video_loops(tmp_path, videos):
    path = videos.write(tmp_path / "ramp.mp4", n=8, fps=200)
    with open_source(str(path), loop=True) as src:
        frames = _collect(src, lambda fs: fs[-1].index >= 8 * 2 + 3)
        assert not src.ended and src.loops >= 2
    assert frames[-1].index >= 19
    for f in frames:
        assert videos.decode_level(f.image) == f.index % 8


def test_video_is_paced_at_its_fps(tmp_path, videos):
    path = videos.write(tmp_path / "slow.mp4", n=25, fps=10)
    with open_source(str(path)) as src:
        assert src.wait_frame(timeout=5) is not None
        time.sleep(0.5)
        n = src.frames_captured
    # 10 fps for ~0.5 s: at most ~6 frames, never the whole 25-frame file at decode speed
    assert 1 <= n <= 8, n


def test_file_told_apart_by_content_not_extension(tmp_path, videos):
    video = videos.write(tmp_path / "clip.mp4", n=5, fps=50)
    disguised = tmp_path / "clip.jpg"
    disguised.write_bytes(video.read_bytes())
    img = tmp_path / "photo.mp4"
    img.write_bytes(write_image(tmp_path / "p.png", np.full((20, 30, 3), 77, np.uint8)).read_bytes())
    assert isinstance(open_source(str(disguised)), VideoFileSource)
    src = open_source(str(img))
    assert isinstance(src, ImageSource)
    with src:
        f = src.wait_frame(timeout=2)
        assert f.image.shape == (20, 30, 3) and (f.image == 77).all()


def test_image_source_repeats_the_still_at_its_pace(tmp_path):
    p = write_image(tmp_path / "still.png", np.full((10, 12, 3), (10, 20, 30), np.uint8))
    with ImageSource(p, fps=40) as src:
        first = src.wait_frame(timeout=2)
        later = src.wait_frame(first.index + 3, timeout=2)
        assert later is not None and later.index > first.index
        assert (later.image == (10, 20, 30)).all()
        assert not later.image.flags.writeable  # shared: consumers must copy to modify
        time.sleep(0.25)
        assert src.frames_captured <= 0.25 * 40 + 8


def test_non_video_file_fails_at_start(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, not a video\n" * 50)
    src = open_source(str(p))
    with pytest.raises(SourceError, match="cannot open video"):
        src.start()


def test_truncated_image_fails_at_start(tmp_path):
    data = write_image(tmp_path / "a.jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated"):
        open_source(str(tmp_path / "cut.jpg")).start()


def test_sbs_flag_passes_through_and_halves_split(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (255, 0, 0)
    img[:, 20:] = (0, 0, 255)
    p = write_image(tmp_path / "pair.png", img)
    with open_source(str(p), stereo="sbs") as src:
        f = src.wait_frame(timeout=2)
    assert f.stereo == "sbs"
    left, right = f.eyes()
    assert left.shape == right.shape == (20, 20, 3)
    assert (left == (255, 0, 0)).all() and (right == (0, 0, 255)).all()
    with open_source(str(p)) as mono:
        m = mono.wait_frame(timeout=2)
    assert m.stereo is None and m.eyes()[0] is m.eyes()[1]


def test_slow_consumer_gets_newest_frame_and_old_ones_are_dropped(tmp_path, videos):
    path = videos.write(tmp_path / "ramp.mp4", n=25, fps=100)
    with VideoFileSource(path, loop=True, realtime=False) as src:  # decodes as fast as it can
        seen = []
        f = src.wait_frame(timeout=5)
        for _ in range(4):
            time.sleep(0.15)  # a slow consumer
            captured_before = src.frames_captured
            f = src.read_latest()
            assert f.index >= captured_before - 1  # the newest frame, not a queued old one
            assert videos.decode_level(f.image) == f.index % 25
            seen.append(f.index)
            nxt = src.wait_frame(f.index, timeout=2)
            assert nxt.index > f.index
    gaps = np.diff(seen)
    assert (gaps > 5).all(), f"frames were not dropped: consecutive indices {seen}"


def test_sample_source_mono_and_sbs():
    with open_source("sample", loop=True) as src:
        f = src.wait_frame(timeout=5)
        assert f.image.shape == (360, 640, 3) and f.stereo is None and src.fps == 30
        g = src.wait_frame(f.index, timeout=2)
        assert g.index > f.index
    with open_source("sample:sbs") as src:
        f = src.wait_frame(timeout=5)
        assert f.image.shape == (360, 1280, 3) and f.stereo == "sbs"
        left, right = split_sbs(f.image)
        assert left.shape == right.shape == (360, 640, 3)
        assert not np.array_equal(left, right)
    assert open_source("sample", stereo="sbs").stereo == "sbs"


def test_stop_ends_the_capture_thread(tmp_path, videos):
    path = videos.write(tmp_path / "ramp.mp4", n=5, fps=30)
    src = open_source(str(path)).start()
    src.wait_frame(timeout=5)
    src.stop()
    assert src._thread is not None and not src._thread.is_alive()
    assert src.wait_frame(10_000, timeout=0.5) is None


def test_start_twice_is_harmless():
    src = open_source("sample").start()
    try:
        with src.start() as same:
            assert same is src
            assert src.wait_frame(timeout=3) is not None
    finally:
        src.stop()
    assert not src._thread.is_alive()


def test_animated_gif_plays_as_a_video(tmp_path):
    from PIL import Image

    frames = [Image.fromarray(np.full((16, 16, 3), (60 * i, 0, 200 - 60 * i), np.uint8)) for i in range(4)]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=20, loop=0)
    src = open_source(str(p), loop=False)
    assert isinstance(src, VideoFileSource)
    with src:
        got = _collect(src, lambda fs: False)
    assert [int(f.image[8, 8, 0]) // 50 for f in got][-1] == 3  # the last frame (red 180) arrives
    still = tmp_path / "still.gif"
    frames[0].save(still)
    assert isinstance(open_source(str(still)), ImageSource)
