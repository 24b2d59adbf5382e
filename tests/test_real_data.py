"""The real test data: the `real_data` fixture (tests/conftest.py) skips saying why, and
.ci/data-setup.sh turns a failed assembly into one line that becomes that reason."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSEMBLE = ROOT.parent / "shared" / "data" / "assemble.sh"


def test_real_data_gives_the_folder_or_skips_saying_why(real_data, monkeypatch, tmp_path):
    skip = pytest.skip.Exception
    monkeypatch.delenv("ARTEM_VR_TEST_DATA", raising=False)
    with pytest.raises(skip, match=r"ARTEM_VR_TEST_DATA is not set .*data-setup\.sh"):
        real_data("video")
    monkeypatch.setenv("ARTEM_VR_TEST_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(skip, match="is not a folder"):
        real_data("video")
    monkeypatch.setenv("ARTEM_VR_TEST_DATA", str(tmp_path))
    (tmp_path / "video").mkdir()
    with pytest.raises(skip, match=r"has no files in video/"):
        real_data("video")
    (tmp_path / "video" / "clip.avi").write_bytes(b"clip")
    assert real_data("video") == tmp_path
    with pytest.raises(skip, match=r"has no files in stereo/"):
        real_data("video", "stereo")
    (tmp_path / "SETUP-FAILED").write_text("real test data not assembled: offline\n")
    with pytest.raises(skip, match=r"^real test data not assembled: offline$"):
        real_data("video")


def test_data_setup_without_network_prints_one_line_and_the_tests_skip_with_it(real_data, monkeypatch, tmp_path):
    """No network, as apt-get sees it (an apt-get on PATH that fails as apt-get does offline):
    the script exits 1, says why in one line, and the fixture skips with that same line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text("#!/bin/sh\necho 'E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"
                   "  Temporary failure resolving deb.debian.org' >&2\nexit 100\n")
    apt.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ARTEM_VR_TEST_DATA"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", ARTEM_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run(["bash", str(ROOT / ".ci" / "data-setup.sh")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    folder = Path(r.stdout.strip())
    assert folder == (tmp_path / "data").resolve()
    line = (folder / "SETUP-FAILED").read_text().strip()
    assert line.startswith("real test data not assembled: ") and "\n" not in line
    assert r.stderr.rstrip().splitlines()[-1] == f"data-setup: {line}"
    assert ("Temporary failure resolving" in line) if ASSEMBLE.is_file() else ("not found" in line)
    monkeypatch.setenv("ARTEM_VR_TEST_DATA", str(folder))
    with pytest.raises(pytest.skip.Exception, match=f"^{re.escape(line)}$"):
        real_data("video", "stereo")
