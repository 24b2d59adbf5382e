"""tools/gpu_check.sh — the one GPU run — cannot rot: its CPU dry run runs here end to end
(the per-layer profile first, eager vs fused — generators, then AdaIN — with the fused stages not
compiled, comfort on and off, comfort on fused, foveation).

The dry run is the same script and the same steps at tiny sizes; the GPU-only steps report
"skipped: no CUDA" on a machine without CUDA. The budgets of the real run must fit the one command the device tool runs (under 600 s).
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
    default = [s for s in plan if gpu_check.wanted(s, None)]
    total = gpu_check.SETUP_BUDGET_S + sum(s["budget"] for s in default)
    assert total <= gpu_check.RUN_LIMIT_S - 30, total  # margin for merge, chart and summary
    assert gpu_check.RUN_LIMIT_S < 600  # the device tool's limit for one command
    names = [s["name"] for s in default]
    # issue 19: the per-layer profile first, then the new code's GPU tests, the networks on the fused
    # engine (auto on CUDA), what `run` does by default (comfort on, auto); issue 20: foveation —
    # every target in the one lease
    assert names == ["profile layers", "gpu tests (fused, engine, comfort)", "fused generators",
                     "comfort on (auto)", "foveation"], names
    profile = default[0]["cmd"]
    assert "--profile" in profile and "generator:full" in profile and "adain:fast" in profile and "1440x1600" in profile
    assert "tests/style/test_adain_fused.py" in default[1]["cmd"]
    assert "tests/temporal/test_device_comfort_gpu.py" in default[1]["cmd"]
    adain = next(s for s in plan if s["name"] == "adain fused")
    for step, methods in ((default[2], {"generator:compact", "generator:full"}), (adain, {"adain:fast"})):
        cmd = step["cmd"]
        assert cmd[cmd.index("--engine") + 1] == "fused" and "--comfort" not in cmd and methods <= set(cmd)
        assert "--compile" not in cmd  # the real run compiles; only the dry run runs the stages eagerly
        assert {"1440x1600", "2016x2240"} <= set(cmd)
    on = default[3]["cmd"]
    assert on[on.index("--engine") + 1] == "auto" and on[on.index("--comfort") + 1] == "on"
    assert {"1440x1600", "2016x2240", "generator:compact", "generator:full", "adain:fast"} <= set(on)
    fov = default[4]["cmd"]
    assert fov[fov.index("--foveate") + 1] == "on" and "2016x2240" in fov and "generator:full" in fov
    assert fov[fov.index("--engine") + 1] == "fused" and "--trace" in fov
    # the fused rows choose each stage's conv way by timing; the optional plain row forces them plain
    plain = next(s for s in plan if s["name"] == "conv ways plain")
    assert plain["env"] == {"ARTEM_VR_CONV_WAYS": "plain"} and plain["cmd"][plain["cmd"].index("--engine") + 1] == "fused"
    # the frame graphs on and off in one run: comfort on, auto
    ab = next(s for s in plan if s["name"] == "frame graphs on vs off")
    assert ab["cmd"][ab["cmd"].index("--comfort") + 1] == "on" and ab["cmd"][ab["cmd"].index("--graph") + 1:][:2] == ["on", "off"]
    assert "tests/temporal/test_graphed_gpu.py" in default[1]["cmd"]
    # a short second lease: every optional step fits one on its own, and --only picks by prefix
    optional = [s for s in plan if s.get("optional")]
    assert optional and all(gpu_check.SETUP_BUDGET_S + s["budget"] <= 400 for s in optional)
    picked = [s["name"] for s in plan if gpu_check.wanted(s, "gpu tests, fused layouts")]
    assert picked == ["gpu tests (fused, engine, comfort)", "gpu tests (all)", "fused layouts"]


@pytest.mark.slow
def test_cpu_dry_run_end_to_end(tmp_path):
    out = tmp_path / "gc"
    env = dict(os.environ, GPU_CHECK_DRY="1", OUT=str(out), PY=sys.executable, ARTEM_COMMIT="testsha")
    r = subprocess.run(["bash", "tools/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8, files  # the device tool brings back at most 8
    for f in ("env.txt", "summary.txt", "bench_gpu.json", "benchmarks_rows.md", "bench_gpu.svg", "bench.log",
              "profile_layers.md"):
        assert f in files, f
    summary = (out / "summary.txt").read_text()
    from artem_vr.cuda.device import cuda_available

    if not cuda_available()[0]:
        assert summary.count("skipped: no CUDA") == 1, summary  # the fused engine's GPU tests
    for step in ("profile layers", "fused generators", "comfort on (auto)", "foveation"):
        line = next(ln for ln in summary.splitlines() if step in ln)
        assert " ok " in line, line
    assert summary.count("skipped: optional") == 13, summary
    recs = json.loads((out / "bench_gpu.json").read_text())
    # 1. the per-layer profile, first: eager tables of the three networks, then the fused generators per
    #    stage; after each, its comfort steps (eager here: the dry run compiles nothing)
    prof = [r for r in recs if r.get("kind") == "layer_profile"]
    assert [(r["method"], r["arch"], r["engine"]) for r in prof] == [
        ("generator", "full", "fast"), ("generator", "compact", "fast"), ("adain", "fast", "eager"),
        ("generator", "full", "fused"), ("generator", "compact", "fused")]
    comfort = [r for r in recs if r.get("kind") == "comfort_profile"]
    assert [(r["arch"], r["engine"]) for r in comfort] == [(r["arch"], r["engine"]) for r in prof]
    assert all(len(r["rows"]) == 7 for r in comfort)
    md = (out / "profile_layers.md").read_text()
    assert "## generator:full — fast" in md and "## comfort steps around generator:compact — fused" in md
    assert "profile generator:full fast" in summary and "profile generator:full fused" in summary
    assert "comfort steps around generator:full fused" in summary and "5 comfort profiles" in summary
    pipe = [r for r in recs if "stereo_fps" in r]
    assert {r["method"] for r in pipe} == {"generator", "adain"}
    assert all(r["commit"] == "testsha" for r in pipe)
    # 3. the generators on the fused engine, with the fused engine's own bytes per frame
    fused = [r for r in pipe if r["engine"] == "fused" and not r["comfort"] and not r.get("foveate")]
    assert {r["method"] for r in fused} == {"generator"}
    assert all(0 < r["fused_bytes_per_frame"] < r["bytes_per_frame"] for r in fused)
    # 4. comfort on with engine auto: what `run` picks on this device (the CPU: ort, AdaIN eager),
    #    the generators at sizes where step 3 gives the comfort-off reference
    on = {(r["method"], r["arch"], tuple(r["eye_size"])) for r in pipe if r["comfort"] and r["method"] == "generator"}
    assert on and on <= {(r["method"], r["arch"], tuple(r["eye_size"])) for r in fused}
    assert {(r["method"], r["engine"]) for r in pipe if r["comfort"]} == {("generator", "ort"), ("adain", "eager")}
    # 5. the full generator foveated, fused
    fov = [r for r in pipe if r.get("foveate")]
    assert fov and all(r["network_pixels"] > 0 for r in fov)
    assert {r["engine"] for r in fov} == {"fused"}
    # every row: bytes per frame, the ratio to the traffic floor and the consumer-card estimate
    assert all(r["bytes_per_frame"] > 0 and r["ratio"] and r["consumer_est_fps"] for r in pipe)
    assert "targets (issue 19" in summary and summary.count("— not measured") == 14  # tiny sizes: none of them
    rows = (out / "benchmarks_rows.md").read_text()
    assert "targets (issue 19" in rows
    assert rows.count("| no GPU |") == len(pipe) and rows.count("(estimate) |") == len(pipe)


@pytest.mark.slow
def test_only_runs_the_named_steps_dry(tmp_path):
    """A second, short lease: ``--only`` runs an optional step and records every other as not asked."""
    out = tmp_path / "gc"
    env = dict(os.environ, GPU_CHECK_DRY="1", OUT=str(out), PY=sys.executable, ARTEM_COMMIT="testsha")
    r = subprocess.run(["bash", "tools/gpu_check.sh", "--only", "xnor engines,engine defaults"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = (out / "summary.txt").read_text()
    for step in ("xnor engines", "engine defaults table"):
        assert " ok " in next(ln for ln in summary.splitlines() if step in ln), summary
    assert summary.count("skipped: not asked (--only)") == len(gpu_check.steps(True, out)) - 2, summary
    recs = json.loads((out / "bench_gpu.json").read_text())
    assert {r["method"] for r in recs} == {"xnor", "generator"}


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


def _row(method, arch, size, comfort, engine, fps, stylize_ms, foveate=False, traffic=None):
    return {"stereo_fps": fps, "eyes": 2, "method": method, "arch": arch, "eye_size": list(size), "comfort": comfort,
            "engine": engine, "foveate": foveate, "stages_ms": {"stylize": {"median": stylize_ms}},
            "traffic_floor_ms": traffic, "network_pixels": 374, "frame_pixels": 1000}


def test_targets_read_the_rows_of_one_run():
    """The summary's verdicts: each issue 19/20 target against the run's own rows (the real run's
    records have these fields; the dry run's tiny sizes meet none of the headset sizes). What
    ships on CUDA is `auto` = fused: a fused row is read first, a fast one only where none is."""
    big, huge = (1440, 1600), (2016, 2240)
    on = _row("generator", "compact", big, True, "fused", 95.0, 8.0)
    on["comfort_stats"] = {"temporal": {"path": "torch", "compiled": True, "own_ms": 0.5, "frames": 9},
                           "stereo": {"path": "torch", "compiled": True, "own_ms": 0.25, "frames": 9}}
    recs = [on, _row("generator", "compact", big, False, "fused", 99.0, 7.0),
            _row("generator", "compact", big, True, "fast", 40.0, 20.0),  # an older engine's row: not read
            _row("generator", "compact", huge, True, "fast", 55.0, 12.0),  # the only one there: read, named
            _row("generator", "full", big, False, "fused", 70.0, 9.0, traffic=2.5),
            _row("generator", "full", huge, False, "fused", 90.0, 6.0, foveate=True)]
    lines = gpu_check.targets(recs)
    text = "\n".join(lines)
    assert "generator:compact 2x1440x1600 comfort on: >= 90 FPS — 95.0 FPS (fused): met" in text
    assert "generator:compact 2x2016x2240 comfort on: >= 60 FPS — 55.0 FPS (fast): NOT met" in text
    assert ("comfort cost, generator:compact 2x1440x1600: <= 20 % of stylize — 12 % (8.00 vs 7.00 ms, fused): met "
            "(own work 0.75 ms, temporal torch compiled, stereo torch compiled)") in text
    assert gpu_check._comfort_cell(on) == " +comfort (temporal torch compiled 0.50 ms; stereo torch compiled 0.25 ms)"  # noqa: SLF001
    assert "fused generator:full 2x1440x1600 stylize / traffic floor: <= 3 — 3.6: NOT met" in text
    assert "generator:full 2x2016x2240 foveated: >= 90 FPS — 90.0 FPS (fused), network 37.4% of the pixels: met" in text
    assert "adain:fast 2x1440x1600 comfort on: >= 60 FPS — not measured" in text
    assert "comfort cost, generator:full 2x1440x1600: <= 20 % of stylize — not measured" in text
    # every target has its line, measured or not
    assert len(lines) == 1 + 6 + 3 + 4 + 1


@pytest.mark.parametrize("dry", [False, True], ids=["real", "dry"])
def test_every_step_command_line_parses(tmp_path, dry, capsys):
    """The real run's command lines are not the dry run's (sizes, seconds, methods, precisions), and
    a GPU lease is minutes: each `artem-vr` line of every step, optional ones too, is parsed here
    by the command's own parser (options are never abbreviated: a renamed one would fail there)."""
    from artem_vr.bench import BenchConfig
    from artem_vr.cli import build_parser, command_parser

    parsed = 0
    for step in gpu_check.steps(dry, tmp_path):
        cmd = step["cmd"]
        if cmd[1:3] != ["-m", "artem_vr"]:
            continue  # pytest, tools/gpu_train_burst.py
        argv = [str(a) for a in cmd[3:]]
        try:
            _args, extras = command_parser(build_parser(), argv[0]).parse_known_args(argv[1:])
        except SystemExit:
            pytest.fail(f"step {step['name']!r}: {capsys.readouterr().err.strip().splitlines()[-1]}")
        assert extras == [], (step["name"], extras)
        BenchConfig.from_args(_args)  # the values too: methods, engines, precisions, layouts, sizes
        parsed += 1
    assert parsed >= 10, parsed


def test_trace_tables_and_lines():
    """A traced record (`bench --trace`) gets a small table in benchmarks_rows.md (its top ops) and
    one summary line; records without a trace get neither."""
    r = _row("generator", "full", (2016, 2240), False, "fused", 31.0, 32.0, foveate=True)
    r.update(precision="fp16", trace={
        "device": "cuda", "torch": "2.11.0", "frames": 3, "wall_ms": 32.5, "device_ms": 28.25, "host_ms": 12.0,
        "launches": 1432.0, "launches_are": "device kernels, copies and sets",
        "ops": [{"name": f"op{i}", "calls": 2.0, "device_ms": 10.0 - i, "host_ms": 0.5} for i in range(12)]})
    md = gpu_check.trace_tables([r, _row("generator", "full", (2016, 2240), False, "fused", 31.0, 32.0)])
    assert md.count("trace: ") == 1 and "generator:full +foveate 2016x2240x2 fused fp16" in md
    assert "32.50 ms wall, GPU busy 28.25 ms, host 12.00 ms, 1432 device kernels, copies and sets" in md
    assert md.count("| op") == gpu_check.TRACE_TABLE_OPS + 1 and "| op0 | 2 | 10.000 | 0.500 |" in md
    (line,) = gpu_check.trace_lines([r])
    assert "GPU busy 28.25 ms of 32.50 ms wall" in line and line.endswith("op0 10.00 ms, op1 9.00 ms, op2 8.00 ms")
    r["trace"].update(device="cpu", device_ms=None)
    assert "| op0 | 2 | n/a | 0.500 |" in gpu_check.trace_tables([r])
    assert gpu_check.trace_tables([]) == "" and gpu_check.trace_lines([]) == []


def test_ways_lines_say_each_stages_conv_way_once_per_size():
    """The fused rows' timed conv ways (engine_config's last part) become one summary line per
    network and size; rows without a choice (another engine, the CPU) give none."""
    ways = "down0 s2d (plain 3.900 ms, s2d 0.500 ms), up1 subpixel (plain 1.900 ms, subpixel 0.700 ms)"
    r = _row("generator", "full", (1440, 1600), False, "fused", 62.0, 69.0)
    r["engine_config"] = "cuda, bf16, NCHW, fused stages via torch.compile, conv ways: " + ways
    again = dict(r, comfort=True)
    other = _row("generator", "full", (1440, 1600), False, "fast", 30.0, 31.0)
    other["engine_config"] = "cuda, bf16, NCHW"
    assert gpu_check.ways_lines([r, again, other]) == [f"  conv ways generator:full 2x1440x1600: {ways}"]


def test_torch_compat_says_how_to_use_it(tmp_path):
    """tools/torch_compat.sh (the CPU side of this run on the GPU image's torch) without its two
    versions: its usage, exit 2, nothing made."""
    r = subprocess.run(["bash", str(ROOT / "tools" / "torch_compat.sh")], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.returncode == 2 and "Usage: bash tools/torch_compat.sh TORCH_VERSION TORCHVISION_VERSION" in r.stderr
    assert list(tmp_path.iterdir()) == []
