"""`artem-vr run`'s closing summary: one line per fact, each saying what its number counts, so
that the recording's frame count is not read as presented frames lost."""

from __future__ import annotations

import re
import socket

from artem_vr.atomic import count_video_frames


def test_headless_summary_says_what_each_count_is(tmp_path, cli):
    code, out, err = cli("run", "--output", "headless", "--method", "identity", "--frames", "6",
                         "--eye-size", "64x48", "--out", tmp_path / "o")
    assert code == 0, err
    tail = out.splitlines()[-4:]  # the summary closes the output
    assert re.fullmatch(r"presented 6 frames in [\d.]+ s", tail[0]), tail
    assert re.fullmatch(r"stylized \d+ frames \(the display shows the newest each time: some are skipped, "
                        r"some shown more than once\)", tail[1]), tail
    rec = re.fullmatch(r"recorded (\d+) frames to (.+run\.mp4) \(([\d.]+) s at 30 fps: each presented frame held "
                       r"for as long as it was on screen\)", tail[2])
    assert rec, tail
    n, video, seconds = int(rec.group(1)), rec.group(2), float(rec.group(3))
    assert count_video_frames(video)[0] == n >= 1  # the number is the video's own frame count
    assert abs(seconds - n / 30) < 0.051  # and its length at 30 fps
    assert tail[3] == f"last frame: {tmp_path / 'o' / 'last.png'}"


def test_a_run_whose_source_never_opens_prints_no_counts_of_nothing(tmp_path, cli):
    """A source that fails as the run starts (a camera URL that refuses the connection; a file that
    cannot be read is refused before: tests/faults/test_fault_inputs.py): its one error line, and
    no summary of 0 presented and 0 stylized frames ("some are skipped, some shown more than once")
    after it."""
    with socket.socket() as s:  # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/video"
    code, out, err = cli("run", "--source", url, "--output", "headless", "--method", "identity", "--frames", "6",
                         "--eye-size", "64x48", "--out", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"artem-vr run: error: {url}: connection refused — "), err
    assert "presented" not in out and "stylized" not in out and "recorded" not in out, out
    assert out.splitlines()[0].startswith("source: ")  # what the run set out to do is still said
