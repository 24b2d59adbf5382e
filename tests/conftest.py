"""Shared test set-up: the repo's tests run on CPU; capabilities decide skips (with reasons)."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Tests must not see a developer's display or XR runtime unless a fixture provides one.
os.environ.setdefault("ARTEM_VR_TESTING", "1")

# Tests never read or write the real user data folder (user styles): a throw-away one for the
# session (module/session fixtures run before `user_data`), and a fresh one per test below.
_SESSION_DATA = tempfile.mkdtemp(prefix="artem-vr-test-data-")
atexit.register(shutil.rmtree, _SESSION_DATA, True)
os.environ["ARTEM_VR_DATA"] = _SESSION_DATA


def pytest_report_header(config):
    lines = []
    try:
        from artem_vr.cuda.device import cuda_available

        ok, why = cuda_available()
        lines.append(f"artem-vr: CUDA {'available' if ok else 'absent'}: {why}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"artem-vr: CUDA probe failed: {e}")
    return lines


@pytest.fixture
def cli(capsys):
    """Run the artem-vr CLI in-process: returns (exit code, stdout, stderr)."""
    from artem_vr.cli import main

    def _run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture(autouse=True)
def user_data(tmp_path_factory, monkeypatch) -> Path:
    """An empty user data folder for this test ($ARTEM_VR_DATA); returns its models folder."""
    d = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("ARTEM_VR_DATA", str(d))
    return d / "models"
