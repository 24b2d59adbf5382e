"""tools/gpu_check.sh — the one GPU run — cannot rot: its CPU dry run runs here end to end.

The dry run is the same script and the same steps at tiny sizes; the GPU-only steps report
"skipped: no CUDA" on a machine without CUDA. The budgets of the real run must fit 420 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402


def test_the_real_run_fits_its_budget(tmp_path):
    plan = gpu_check.steps(False, tmp_path)
    total = gpu_check.SETUP_BUDGET_S + sum(s["budget"] for s in plan)
    assert total <= 400, total  # 420 s with margin for merge, chart and summary
    names = [s["name"] for s in plan]
    # what only a GPU can tell comes first; the optional comfort run last
    assert names[0] == "gpu tests" and names[1].startswith("xnor layers") and names[-1].startswith("comfort")


@pytest.mark.slow
def test_cpu_dry_run_end_to_end(tmp_path):
    out = tmp_path / "gc"
    env = dict(os.environ, GPU_CHECK_DRY="1", OUT=str(out), PY=sys.executable, ARTEM_COMMIT="testsha")
    r = subprocess.run(["bash", "tools/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8, files  # the device tool brings back at most 8
    for f in ("env.txt", "summary.txt", "bench_gpu.json", "benchmarks_rows.md", "bench_gpu.svg", "bench.log"):
        assert f in files, f
    summary = (out / "summary.txt").read_text()
    from artem_vr.cuda.device import cuda_available

    if not cuda_available()[0]:
        assert summary.count("skipped: no CUDA") == 2, summary  # the GPU tests and the XNOR layer records
    assert " ok " in next(ln for ln in summary.splitlines() if "xnor engines" in ln)
    for step in ("pipeline at three eye sizes", "engine defaults table", "training burst", "comfort wrappers"):
        line = next(ln for ln in summary.splitlines() if step in ln)
        assert " ok " in line, line
    recs = json.loads((out / "bench_gpu.json").read_text())
    pipe = [r for r in recs if "stereo_fps" in r]
    assert {r["method"] for r in pipe} == {"generator", "adain", "xnor"}
    assert all(r["commit"] == "testsha" for r in pipe)
    assert any(r["comfort"] for r in pipe)
    assert "defaults generator:compact" in summary
    rows = (out / "benchmarks_rows.md").read_text()
    assert rows.count("| no GPU |") == len(pipe)


def test_a_missing_dependency_stops_the_run_in_one_line(tmp_path):
    """A Python without the carried packages (the system one) and no wheel for them: one line, exit 3."""
    bare = Path("/usr/bin/python3")
    if not bare.exists():
        pytest.skip("no system python3 without the project's packages")
    probe = subprocess.run([str(bare), "-c", "import OpenGL"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system python3 has PyOpenGL")
    if (ROOT / ".whl").exists() and any((ROOT / ".whl").glob("pyopengl-*.whl")):
        pytest.skip(".whl/ carries PyOpenGL here (tools/gpu_prep.sh ran)")
    env = dict(os.environ, OUT=str(tmp_path / "gc"), PY=str(bare))
    r = subprocess.run(["bash", "tools/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "pyopengl" in err[0] and "gpu_prep.sh" in err[0], r.stderr
