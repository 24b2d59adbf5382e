"""Shared test set-up: the repo's tests run on CPU; capabilities decide skips (with reasons)."""

import atexit
import os
import shutil
import signal
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


def find_real_data(*subdirs: str) -> tuple[Path | None, str]:
    """The assembled real data ($ARTEM_VR_TEST_DATA) when it has files in each of ``subdirs``.

    Returns ``(folder, summary)``, or ``(None, why not)``: unset, the set-up's failure line
    (.ci/data-setup.sh leaves it in SETUP-FAILED there), or a missing/empty sub-folder.
    """
    env = os.environ.get("ARTEM_VR_TEST_DATA")
    if not env:
        return None, ("no real test data: ARTEM_VR_TEST_DATA is not set (tools/test.sh sets it when "
                      "../shared/data is beside the repository; or export ARTEM_VR_TEST_DATA=$(bash .ci/data-setup.sh))")
    folder = Path(env)
    failed = folder / "SETUP-FAILED"
    if failed.is_file():
        return None, failed.read_text(encoding="utf-8", errors="replace").strip()
    if not folder.is_dir():
        return None, f"ARTEM_VR_TEST_DATA={folder} is not a folder"
    counts = {}
    for sub in subdirs:
        d = folder / sub
        counts[sub] = sum(1 for f in d.iterdir() if f.is_file()) if d.is_dir() else 0
        if not counts[sub]:
            return None, (f"ARTEM_VR_TEST_DATA={folder} has no files in {sub}/ (an OUT_DIR of "
                          "../shared/data/assemble.sh has content/, style/, video/, stereo/)")
    return folder, ", ".join(f"{sub}/ {n} files" for sub, n in counts.items())


@pytest.fixture(scope="session")
def real_data():
    """``real_data("video", "stereo")`` → the assembled data folder when it has files in those
    sub-folders (content/ photos, style/ paintings, video/ clips, stereo/ pairs with ground-truth
    disparity); otherwise the calling test skips with the reason (see :func:`find_real_data`)."""

    def _folder(*subdirs: str) -> Path:
        folder, why = find_real_data(*subdirs)
        if folder is None:
            pytest.skip(why)
        return folder

    return _folder


def pytest_report_header(config):
    folder, what = find_real_data("content", "style", "video", "stereo")
    lines = [f"artem-vr: real test data in {folder}: {what}" if folder else f"artem-vr: {what}"]
    try:
        from artem_vr.cuda.device import cuda_available

        ok, why = cuda_available()
        lines.append(f"artem-vr: CUDA {'available' if ok else 'absent'}: {why}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"artem-vr: CUDA probe failed: {e}")
    return lines


@pytest.fixture(autouse=True)
def _signal_dispositions_restored():
    """A test that runs a DataLoader with worker processes in this process (train … --workers N,
    the crop loader) leaves torch's SIGCHLD handler installed for the life of the process. A
    Python handler makes SIGCHLD interrupt the blocking calls of native threads loaded here
    later — the Monado client of the XR tests, stopped and continued by the hang tests, then
    ended the pytest process with exit code 145 and no report. What a test installs, it loses."""
    before = {s: signal.getsignal(s) for s in (signal.SIGCHLD,)}
    yield
    for s, handler in before.items():
        if signal.getsignal(s) is not handler:
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


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
