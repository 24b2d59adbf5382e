"""Run-time visibility: the recording's real-time timeline, the periodic status line, the
source state, and every key documented (run --help, README)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from artem_vr.control import ControlState, Controller, controller_status

from artem_vr.recording import Timeline, retime

from artem_vr.status import PERIOD_S, Progress, StatusPrinter
from artem_vr.sources.base import FrameSource

ROOT = Path(__file__).resolve().parents[1]


def test_retime_keeps_real_time():
    # 90 frames presented evenly over 45 s → a 30 fps clip of 45 s (1351 slots: 0 … 45 s)
    t = np.linspace(0.0, 45.0, 90)
    idx = retime(t, 30.0)
    assert len(idx) == 1351 and idx[0] == 0 and idx[-1] == 89
    assert idx == sorted(idx) and set(idx) == set(range(90))  # each frame shown, in order
    # faster than the timeline: frames are dropped, never sped up
    fast = retime(np.arange(0, 1.0, 1 / 120), 30.0)
    assert len(fast) == 31 and len(set(fast)) == 31
    # uneven: a frame stays on screen until the next one comes
    assert retime([0.0, 0.1, 1.0], 10.0) == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    assert retime([], 30.0) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_timeline_writes_what_retime_says(seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(0.2, 60)) + 100.0
    want = retime(t, 30.0)
    tl, got = Timeline(30.0), []
    for i, ti in enumerate(t):
        got += [i - 1] * tl.add(ti)  # copies of the previous frame
    got += [len(t) - 1] * tl.finish()
    assert got == want


def test_pipeline_records_at_presentation_times():
    """Pipeline.frame_presented + finish_recording on a recorder that keeps what it is given."""
    from artem_vr.pipeline import Pipeline

    class Keep:
        fps = 10.0

        def __init__(self):
            self.got = []

        def add(self, images):
            self.got.append(int(images[0][0, 0, 0]))

    class Src:
        error = None

    p = Pipeline(Src(), worker=None, controller=None, recorder=Keep())
    for i, t in enumerate([0.0, 0.05, 0.5, 0.55, 1.0]):
        p._record([np.full((2, 2, 3), i, np.uint8)], t)  # noqa: SLF001 — the timestamped path
    p.finish_recording()
    assert p.recorder.got == retime([0.0, 0.05, 0.5, 0.55, 1.0], 10.0) == [0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4]


class Quiet(FrameSource):
    name = "quiet"
    pace = 0.01

    def _open(self):
        self.n = 0

    def _grab(self):
        self.n += 1
        return None if self.n > 3 else np.zeros((4, 4, 3), np.uint8)


def test_source_state_live_then_ended():
    """Before a frame: live, no age; after the stream ends: ended, with the age of the newest
    frame (live sources add stalled/reconnecting: tests/faults/test_fault_streams.py)."""
    src = Quiet()
    assert src.state() == ("live", None)
    with src:
        deadline = time.monotonic() + 5
        while not src.ended and time.monotonic() < deadline:
            time.sleep(0.01)
        state, since = src.state()
        assert state == "ended" and (since is None or 0 <= since < 5)


def test_status_printer_prints_every_period():
    c = Controller(ControlState("generator", ["generator"], ["starry_night", "great_wave"]), printer=lambda _l: None)

    class Feed:
        device = "cpu"

        def __init__(self):
            self.age = None

        def status(self):
            return controller_status(c, stylized_fps=2.4, display_fps=52.0, age_ms=self.age)

    feed, lines = Feed(), []
    with StatusPrinter(feed, period=0.05, printer=lines.append):
        time.sleep(0.13)
        feed.age = 380.0
        time.sleep(0.12)
    assert lines and lines[0].startswith("[status] waiting for the first stylized frame (generator on cpu)")
    last = lines[-1]
    assert last.startswith("[status] style 1/2 starry_night · generator · strength 1.00 · stylize on")
    assert "stylized 2.4 fps · display 52 fps · frame age 380 ms · source live" in last


def _key_tokens():
    from artem_vr.render.keys import KEY_BINDINGS

    words = {"RIGHT": "left/right", "LEFT": "left/right", "EQUAL": "+", "KP_ADD": "+", "MINUS": "-",
             "KP_SUBTRACT": "-", "SPACE": "space", "SLASH": "?", "ESCAPE": "Esc", "F1": "F1"}
    for name in KEY_BINDINGS:
        if name in words:
            yield name, words[name]
        elif re.fullmatch(r"(KP_)?\d", name):
            yield name, "1-9"
        else:
            yield name, name.lower()


def test_every_key_is_in_run_help_and_the_readme(capsys):
    from artem_vr.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for name, token in _key_tokens():
        pattern = rf"(?<![\w-]){re.escape(token)}(?![\w-])" if token.isalnum() else re.escape(token)
        assert re.search(pattern, help_text), f"key {name} ({token}) is not in `run --help`"
        assert re.search(pattern, readme), f"key {name} ({token}) is not in the README"
    for needle in ("--view {screen,world,full,passthrough}", "--quiet"):
        assert needle in help_text


def test_cpu_startup_line_says_it_will_be_slow():
    from artem_vr.app import device_note

    assert "expect a few stylized FPS" in device_note("cpu", "generator")
    assert device_note("cuda", "generator") == "cuda"


def test_a_number_beyond_the_style_count_says_so():
    from artem_vr.worker import StylizerWorker

    lines: list[str] = []
    c = Controller(ControlState("identity", ["identity"], ["a", "b", "c", "d", "e", "f"]), printer=lines.append)
    w = StylizerWorker(Quiet(), c, device="cpu")
    c.pick(8)  # the 9 key
    c.pick(1)
    w._apply(c.pending())  # noqa: SLF001 — what the worker thread does between frames
    assert lines == ["style 9: there are 6 styles (1–6)", "style: b (2/6)"]
    assert c.state.index == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_a_plain_line_every_period():
    """Off a terminal (a log, a pipe, CI) no bar: one plain line at most every period, however many
    updates there are, each saying how far, how fast and how long is left."""
    stream, now = io.StringIO(), [0.0]
    with Progress(100, "generator:starry_night", stream=stream, period=5.0, clock=lambda: now[0]) as p:
        for i in range(1, 101):  # 100 frames, 0.2 s each: 20 s
            now[0] = i * 0.2
            p.update()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and p.lines == len(lines) == 4  # at 5, 10, 15 and 20 s
    assert lines[0] == "[progress] generator:starry_night 25/100 frames (25 %), 5.0 frames/s, about 15 s left"
    assert lines[-1] == "[progress] generator:starry_night 100/100 frames (100 %), 5.0 frames/s"


def test_progress_of_an_unknown_total_and_of_a_quick_job():
    stream, now = io.StringIO(), [0.0]
    with Progress(None, "job", stream=stream, period=5.0, clock=lambda: now[0]) as p:
        for i in range(1, 13):
            now[0] = i * 0.5
            p.update()
    assert stream.getvalue() == "[progress] job 10 frames, 2.0 frames/s\n"
    quiet = io.StringIO()
    with Progress(10, "job", stream=quiet, period=5.0, clock=lambda: 1.0) as p:
        for _ in range(10):
            p.update()
    assert quiet.getvalue() == ""  # done within the first period: its result line says it


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place():
    stream = _Terminal()
    with Progress(3, "job", stream=stream) as p:
        for _ in range(3):
            p.update()
    assert "\r" in stream.getvalue() and "3/3" in stream.getvalue() and "[progress]" not in stream.getvalue()


def test_stylize_of_a_real_video_into_a_log_writes_a_line_every_few_seconds(tmp_path, real_data):
    """`artem-vr stylize clip.mp4 out.mp4 2> log` (a real child process, stderr not a terminal):
    no progress bar written line by line — no carriage return, no line per frame — only notes and
    a plain progress line at most every PERIOD_S seconds of the run."""
    import cv2

    source = sorted((real_data("video") / "video").glob("*.mp4"))[0]
    clip = tmp_path / "clip.mp4"  # its first 60 frames: a short real video
    reader = cv2.VideoCapture(str(source))
    writer = None
    for _ in range(60):
        ok, frame = reader.read()
        assert ok, source
        writer = writer or cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    reader.release()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "artem_vr", "stylize", clip, tmp_path / "out.mp4", "--method", "identity",
                        "--max-side", "160"], capture_output=True, timeout=600, cwd=tmp_path)  # bytes: a "\r" stays one
    wall = time.monotonic() - t0
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, err
    assert "(60 frames, identity: identity)" in out
    assert "\r" not in err
    lines = err.split("\n")[:-1]
    progress = [ln for ln in lines if ln.startswith("[progress] identity:identity ")]
    assert all(ln.startswith("note: ") for ln in lines if ln not in progress), err
    assert len(progress) <= wall / PERIOD_S + 1, (wall, err)
