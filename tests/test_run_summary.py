"""`artem-vr run`'s closing summary: one line per fact, each saying what its number counts, so
that the recording's frame count is not read as presented frames lost."""

from __future__ import annotations

import re

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
