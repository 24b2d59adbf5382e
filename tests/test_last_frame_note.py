"""The recording's last-frame PNG: a picture a previous recording wrote (it carries the
recording's mark) is replaced quietly; any other file there gets the note; an input is never
replaced."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from artem_vr.atomic import read_png_text
from artem_vr.errors import UsageError
from artem_vr.recording import LAST_FRAME_MARK, Recorder, written_by_a_recording

NOTE = "exists and will be replaced by the recording's last frame"


def _eyes(value: int) -> list[np.ndarray]:
    rng = np.random.default_rng(value)
    return [(rng.random((24, 32, 3)) * 255).astype(np.uint8) for _ in range(2)]


def _record(tmp_path, png, frames=2, **kw) -> Recorder:
    rec = Recorder(tmp_path / "rec.mp4", png=png, **kw)
    for i in range(frames):
        rec.add(_eyes(i))
    rec.close()
    return rec


def test_a_recordings_own_last_frame_is_replaced_quietly(tmp_path, capsys):
    png = tmp_path / "rec.png"
    _record(tmp_path, png)
    assert read_png_text(png) == LAST_FRAME_MARK and written_by_a_recording(png)
    back = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, np.concatenate(_eyes(1), axis=1))  # the mark leaves the pixels alone
    capsys.readouterr()
    _record(tmp_path, png, frames=1)
    assert NOTE not in capsys.readouterr().err
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB), np.concatenate(_eyes(0), axis=1))


@pytest.mark.parametrize("content", ["a user's png", "a jpeg named .png", "text", "empty"])
def test_any_other_file_there_gets_the_note(tmp_path, capsys, content):
    png = tmp_path / "rec.png"
    img = np.full((8, 8, 3), 90, np.uint8)
    if content == "a user's png":
        cv2.imwrite(str(png), img)
    elif content == "a jpeg named .png":
        png.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    else:
        png.write_bytes(b"my notes" if content == "text" else b"")
    assert not written_by_a_recording(png)
    Recorder(tmp_path / "rec.mp4", png=png)
    assert f"note: {png} {NOTE}" in capsys.readouterr().err


def test_a_marked_picture_the_run_reads_is_never_replaced(tmp_path):
    png = tmp_path / "rec.png"
    _record(tmp_path, png)
    before = png.read_bytes()
    with pytest.raises(UsageError, match="input"):
        Recorder(tmp_path / "rec.mp4", png=png, inputs=[png])
    with pytest.raises(UsageError, match="exists"):
        Recorder(tmp_path / "rec.mp4", png=png, replace_png=False)  # the caller's refusal stands too
    assert png.read_bytes() == before


def test_headless_runs_note_only_a_last_png_they_did_not_write(tmp_path, cli):
    out = tmp_path / "o"
    argv = ("run", "--output", "headless", "--method", "identity", "--frames", "3", "--eye-size", "32x24", "--out", out)
    for _ in range(2):  # the second run replaces the first one's out/last.png without a word
        code, _out, err = cli(*argv)
        assert code == 0 and NOTE not in err, err
    cv2.imwrite(str(out / "last.png"), np.full((8, 8, 3), 90, np.uint8))  # now the user's own picture
    code, _out, err = cli(*argv)
    assert code == 0 and f"note: {out / 'last.png'} {NOTE}" in err
    mine = out / "last.png"
    before = mine.read_bytes()
    code, _out, err = cli(*argv, "--source", mine)  # the last frame as the source: refused
    assert code == 2 and "is the same file as the input" in err and mine.read_bytes() == before


def test_the_note_shows_a_hostile_name_escaped(tmp_path, capsys):
    """The note printed the user's file name raw on stderr (``\\x1b[2J`` cleared the screen)."""
    png = tmp_path / "evil\x1b[2J.png"
    cv2.imwrite(str(png), np.full((8, 8, 3), 90, np.uint8))
    Recorder(tmp_path / "rec.mp4", png=png).close()
    err = capsys.readouterr().err
    assert NOTE in err and "\x1b" not in err and "evil\\x1b[2J.png" in err


def test_closing_every_open_recording_shows_its_name_escaped(tmp_path, capsys):
    from artem_vr.recording import OpenRecordings

    open_recordings = OpenRecordings()
    rec = Recorder(tmp_path / "rec\x1b]0;t\x07.mp4", png=None)
    rec.add(_eyes(0))
    open_recordings.add(rec)
    open_recordings.close_all()
    err = capsys.readouterr().err
    assert "recorded 1 frames to" in err and "\x1b" not in err and "\x07" not in err
