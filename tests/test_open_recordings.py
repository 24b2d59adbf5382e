"""The run's open recordings (:class:`artem_vr.recording.OpenRecordings`): a value the composition
root makes and hands to its Recorder and its output, not a process-wide registry — and the XR
watchdog's emergency exit (a hung runtime, a signal while the main thread is stuck) finishes the
recordings in it so that they play, in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from artem_vr.app import make_output
from artem_vr.config import RunConfig
from artem_vr.recording import OpenRecordings, Recorder

ROOT = Path(__file__).resolve().parents[1]


def _frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    return n


def _frame(i: int) -> list[np.ndarray]:
    return [np.full((24, 32, 3), 20 * i, np.uint8)]


def test_two_runs_keep_their_own_open_recordings(tmp_path):
    a, b = OpenRecordings(), OpenRecordings()
    ra = Recorder(tmp_path / "a.mp4", recordings=a)
    rb = Recorder(tmp_path / "b.mp4", recordings=b)
    loose = Recorder(tmp_path / "c.mp4")  # no registry: nobody else finishes it
    assert a.recorders() == [] and b.recorders() == []  # open once the video is
    for i in range(4):
        ra.add(_frame(i))
        rb.add(_frame(i))
        loose.add(_frame(i))
    assert a.recorders() == [ra] and b.recorders() == [rb]
    b.close_all()  # one run's emergency exit finishes its own recording only
    assert b.recorders() == [] and _frames(tmp_path / "b.mp4") == 4
    assert a.recorders() == [ra] and not (tmp_path / "a.mp4").exists()
    ra.close()
    assert a.recorders() == [] and _frames(tmp_path / "a.mp4") == 4
    loose.discard()
    assert not (tmp_path / "c.mp4").exists()


def test_a_recording_that_cannot_be_finished_does_not_stop_the_others(tmp_path, capsys):
    reg = OpenRecordings()
    good, bad = Recorder(tmp_path / "good.mp4", recordings=reg), Recorder(tmp_path / "bad.mp4", recordings=reg)
    for i in range(3):
        good.add(_frame(i))
        bad.add(_frame(i))
    (tmp_path / "bad.mp4").mkdir()  # a folder where the finished video must go: its rename fails
    reg.close_all()
    err = capsys.readouterr().err
    assert f"the recording {tmp_path / 'bad.mp4'} could not be finished" in err and "recorded 3 frames" in err
    assert _frames(tmp_path / "good.mp4") == 3 and reg.recorders() == []


def test_the_headset_output_gets_the_runs_recordings():
    reg = OpenRecordings()
    out = make_output("xr", RunConfig(output="xr"), reg)
    assert out.recordings is reg


_CHILD = """
import signal, sys, time
import numpy as np
from artem_vr.recording import OpenRecordings, Recorder
from artem_vr.xr.watchdog import RuntimeWatchdog

mode, path = sys.argv[1], sys.argv[2]
reg = OpenRecordings()
rec = Recorder(path, fps=10.0, png=path + ".png", recordings=reg)
for i in range(5):
    rec.add([np.full((24, 32, 3), 40 * i, np.uint8)])
if mode == "signal":  # a handler that cannot run while the main thread is stuck: here it returns, doing nothing
    signal.signal(signal.SIGTERM, lambda *_: None)
with RuntimeWatchdog(1.0, signal_grace_s=0.5, poll_s=0.05, recordings=reg) as dog:
    dog.beat()
    print("ready", flush=True)
    time.sleep(120)  # the frame loop stuck in the runtime
"""


@pytest.mark.parametrize("mode", ["hang", "signal"])
def test_the_watchdog_finishes_the_runs_recordings_before_it_exits(tmp_path, mode):
    video = tmp_path / "rec.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD), mode, str(video)], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        if mode == "signal":
            p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    if mode == "hang":
        assert p.returncode == 2 and "stopped responding" in err, err
    else:
        assert p.returncode == 128 + signal.SIGTERM and "SIGTERM while the OpenXR runtime" in err, err
    assert "recorded 5 frames to" in err and "Traceback" not in err
    assert _frames(video) == 5  # every frame plays
    assert cv2.imread(str(video) + ".png") is not None
