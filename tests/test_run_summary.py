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


def test_a_run_whose_source_never_opens_prints_no_counts_of_nothing(tmp_path, cli):
    """A source that fails as the run starts: its one error line, and no summary of 0 presented and
    0 stylized frames ("some are skipped, some shown more than once") after it."""
    clip = tmp_path / "clip.mp4"
    clip.write_text("not a video\n")
    code, out, err = cli("run", "--source", clip, "--output", "headless", "--method", "identity", "--frames", "6",
                         "--eye-size", "64x48", "--out", tmp_path / "o")
    assert code == 2 and err.strip().splitlines() == [f"artem-vr run: error: OpenCV cannot open video {clip}: it is a text "
                                                     "file — give an mp4/avi/mkv/webm file that plays elsewhere"], err
    assert "presented" not in out and "stylized" not in out and "recorded" not in out, out
    assert out.splitlines()[0].startswith("source: ")  # what the run set out to do is still said
