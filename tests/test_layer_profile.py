"""`artem-vr bench --profile` (artem_vr/layer_profile.py) on the CPU at a small size: the app's
stylizers profiled op by op — every conv / norm / pad / activation / upsample / residual add has
a row with its time, bytes and FLOPs, shares add up, files are written. The same code runs at
2×1440×1600 on the GPU in tools/gpu_check.sh (its first step). Times are printed, never asserted.
With --comfort on, the comfort wrappers' steps around each network, step by step."""

from __future__ import annotations

import json

import pytest
import torch

from artem_vr.cli import main
from artem_vr.layer_profile import COMFORT_STEPS, profile_comfort_network, profile_network
from artem_vr.style.device import cuda_available
from artem_vr.style.engine import EngineConfig


def test_profile_cli_on_the_cpu(tmp_path, capsys):
    out = tmp_path / "prof"
    assert main(["bench", "--profile", str(out), "--eye-size", "48x32", "--reps", "1", "--threads", "1"]) == 0
    recs = json.loads((out / "profile_layers.json").read_text())
    md = (out / "profile_layers.md").read_text()
    assert [(r["method"], r["arch"]) for r in recs] == [("generator", "full"), ("adain", "fast")]
    gen, ada = recs
    assert gen["kind"] == "layer_profile" and gen["eye_size"] == [48, 32] and gen["eyes"] == 2
    kinds = {r["kind"] for r in gen["rows"]}
    assert {"conv", "norm", "pad", "activation", "upsample", "residual add"} <= kinds, kinds
    assert sum(r["kind"] == "conv" for r in gen["rows"]) == 16  # every conv of the full generator, once
    assert sum(r["kind"] == "norm" for r in gen["rows"]) == 15
    assert sum(r["kind"] == "residual add" for r in gen["rows"]) == 5
    first = next(r for r in gen["rows"] if r["kind"] == "conv")
    assert first["module"] == "down.0.0.1" and first["flops"] == 2 * (2 * 32 * 32 * 48) * (3 * 9 * 9)
    # bytes: input (2x3x40x56 padded) + weight + bias + output, in the engine's dtype: fp32 here,
    # bf16 on CPUs with native bf16 (where ``fast`` picks it)
    es = {"float32": 4, "bfloat16": 2, "float16": 2}[first["dtype"]]
    assert first["bytes"] == es * (2 * 3 * 40 * 56 + 32 * 3 * 81 + 32 + 2 * 32 * 32 * 48)
    for r in recs:
        assert abs(sum(row["share"] for row in r["rows"]) - 1) < 0.01
        assert r["bytes"] > 0 and r["forward_ms"] > 0 and r["traffic_floor_ms"] > 0
        assert all(row["time_ms"] >= 0 for row in r["rows"])
    assert {"conv", "upsample", "adain", "pool"} <= {r["kind"] for r in ada["rows"]}
    assert "## generator:full — fast" in md and "## adain:fast — eager" in md and "| residual add |" in md
    assert "stylize" in capsys.readouterr().out


def test_fused_engine_profiles_per_stage(tmp_path):
    """The fused engine's rows are its stages (the same stage functions, here not compiled) and the
    glue between them."""
    rec = profile_network("generator", "compact", (40, 24), 2, torch.device("cpu"),
                          engine=EngineConfig("fp32", False, fused=True, compile=False), reps=1, warmup=1)
    stages = [r for r in rec["rows"] if r["kind"] == "fused stage"]
    assert len(stages) == 3 + 2 * 3 + 2 + 1 and rec["rows"][-1]["kind"] == "glue"
    assert stages[0]["op"].startswith("pad 3 → conv 7x7 3→12") and stages[-1]["op"].endswith("sigmoid")
    assert all(r["flops"] > 0 and r["bytes"] > 0 for r in stages)
    assert rec["engine"] == "fused"


def test_comfort_steps_profiled_as_run_wraps_the_network(tmp_path, capsys):
    """`--comfort on`: after each network's table, its comfort wrappers as `run` builds them, every
    device-path step a row (once a frame each), the rest of their cost one row; the wrappers are
    left as they were (no timer on their steps)."""
    out = tmp_path / "prof"
    assert main(["bench", "--profile", str(out), "--method", "generator:compact", "--comfort", "on",
                 "--eye-size", "48x32", "--reps", "1", "--threads", "1"]) == 0
    recs = json.loads((out / "profile_layers.json").read_text())
    assert [r["kind"] for r in recs] == ["layer_profile", "comfort_profile"]
    c = recs[1]
    assert (c["method"], c["arch"], c["eye_size"], c["eyes"], c["compiled"]) == ("generator", "compact", [48, 32], 2, False)
    assert [(r["wrapper"], r["step"]) for r in c["rows"]] == list(COMFORT_STEPS) + [("both", "(outside the steps)")]
    assert all(r["calls"] == 1 for r in c["rows"][:-1]) and c["frames"] == 6
    assert all(r["bytes"] > 0 and r["time_ms"] >= 0 for r in c["rows"][:-1])
    assert c["stylize_ms"] > 0 and c["comfort_ms"] > 0
    assert c["steps_ms"] == pytest.approx(sum(r["time_ms"] for r in c["rows"][:-1]), abs=1e-3)
    pair = next(r for r in c["rows"] if r["step"] == "pair_gray")
    assert pair["bytes"] > 2 * 3 * 32 * 48 * 4  # the float pair read, its grays written
    md = (out / "profile_layers.md").read_text()
    assert "## comfort steps around generator:compact — fast" in md and "| stereo | stereo_match | 1 |" in md
    assert "comfort steps (eager)" in capsys.readouterr().out


def test_comfort_profile_times_steps_without_changing_them():
    """The timer only watches: the comfort output with it is the output without it, frame by frame."""
    import types

    from artem_vr.layer_profile import _app_stylizer, profile_comfort
    from artem_vr.temporal import wrap_for_run
    from artem_vr.temporal.graphed import find_frame_graph

    dev = torch.device("cpu")
    xs = [torch.rand(2, 3, 24, 32, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    net = _app_stylizer("generator", "compact", "eager", dev)
    with torch.inference_mode():
        rec = profile_comfort(net, xs, warmup=1)
    assert rec["frames"] == 3 and {r["step"] for r in rec["rows"]} >= {"motion", "stereo_match"}
    outs = []
    for _ in range(2):
        w = wrap_for_run(net, types.SimpleNamespace(stereo_consistency=True, temporal=True), backend="torch")
        find_frame_graph(w).enabled = lambda: False
        with torch.inference_mode():
            outs.append([w.stylize(x) for x in xs])
    with torch.inference_mode():  # a third run with the timer on its steps, as the profile has it
        w = wrap_for_run(net, types.SimpleNamespace(stereo_consistency=True, temporal=True), backend="torch")
        find_frame_graph(w).enabled = lambda: False
        seen = []
        for m in (w.maths, w.inner.inner.maths):
            m.on_step = lambda name, run, args: (seen.append(name), run())[1]
        timed = [w.stylize(x) for x in xs]
    assert len(seen) == 4 + 3 * 6  # the first frame: no motion, no temporal blend
    for a, b, t in zip(*outs, timed):
        assert torch.equal(a, b) and torch.equal(a, t)


def test_profile_rejects_bad_reps(tmp_path, capsys):
    assert main(["bench", "--profile", str(tmp_path), "--reps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reps 0" in err[0]


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="no CUDA driver/device: the GPU profile runs in tools/gpu_check.sh")
def test_profile_on_cuda_uses_events_and_sees_every_layer():
    rec = profile_network("generator", "full", (96, 64), 2, torch.device("cuda"), engine="fast", reps=2, warmup=1,
                          bandwidth=1000.0)
    convs = [r for r in rec["rows"] if r["kind"] == "conv"]
    assert len(convs) == 16 and all(r["time_ms"] > 0 and r["gflop_s"] > 0 for r in convs)
    assert rec["rows"][0]["dtype"] in ("bfloat16", "float16", "float32") and rec["traffic_floor_ms"] > 0
