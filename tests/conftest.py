"""Shared test set-up: the repo's tests run on CPU; capabilities decide skips (with reasons)."""

import os

import pytest

# Tests must not see a developer's display or XR runtime unless a fixture provides one.
os.environ.setdefault("ARTEM_VR_TESTING", "1")


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
