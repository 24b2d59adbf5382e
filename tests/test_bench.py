"""`artem-vr bench`: records carry the promised fields; MAC counting and parsing are right.

Speed numbers are printed, never asserted.
"""

import json

import pytest
import torch

from artem_vr import bench
from artem_vr.errors import UsageError


def test_parse_sizes_and_methods():
    assert bench.parse_size("1440x1600") == (1440, 1600)
    with pytest.raises(UsageError):
        bench.parse_size("1440*1600")
    assert bench.parse_methods(["generator"]) == [("generator", "compact"), ("generator", "full")]
    assert bench.parse_methods(["xnor:full", "adain"]) == [("xnor", "full"), ("adain", "fast")]
    with pytest.raises(UsageError):
        bench.parse_methods(["generator:huge"])
    with pytest.raises(UsageError):
        bench.parse_methods(["nope"])


def test_mac_count_matches_the_formula():
    conv = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
    c = bench.count_macs(conv, conv, torch.rand(2, 8, 10, 12))
    assert c["float"] == 2 * 16 * 5 * 6 * 8 * 9 and c["binary"] == 0
    # the full generator: ~154 k MAC per pixel (the figure the GPU floor is built on)
    net, fwd = bench.build_network("generator", "full", torch.device("cpu"))
    per_px = bench.count_macs(net, fwd, torch.rand(1, 3, 64, 64))["float"] / 64 / 64
    assert 150_000 < per_px < 158_000
    # the XNOR generator moves the residual convs to the binary count; the total is unchanged
    xnet, xfwd = bench.build_network("xnor", "full", torch.device("cpu"))
    xc = bench.count_macs(xnet, xfwd, torch.rand(1, 3, 64, 64))
    assert xc["binary"] > 0 and xc["float"] + xc["binary"] == per_px * 64 * 64


def test_stats_median_and_p99():
    s = bench.stats_ms([1.0] * 99 + [100.0])
    assert s["median"] == 1.0 and 1.0 < s["p99"] <= 100.0 and s["n"] == 100


def test_record_fields_on_this_machine():
    dev = torch.device("cpu")
    r = bench.bench_config("generator", "compact", (48, 40), 2, dev, "fp32", 0.05, use_gl=True, peaks={"fp32": 0.05})
    for k in ("device", "method", "eye_size", "eyes", "stereo_fps", "stages_ms", "commit", "date", "floor_ms", "ratio"):
        assert k in r, k
    assert r["eye_size"] == [48, 40] and r["eyes"] == 2 and r["stereo_fps"] > 0
    assert r["stages_ms"]["capture"] is None and "capture" in r["notes"]
    assert r["stages_ms"]["stylize"]["median"] > 0 and r["stages_ms"]["upload"]["n"] >= 5
    assert r["stages_ms"]["readback"] is not None or r["stages_ms"]["interop"] is not None
    assert r["floor_ms"] == pytest.approx(2 * r["macs_per_frame"] / 0.05e12 * 1e3, rel=1e-3)
    json.dumps(r)  # serialisable


def test_cli_writes_json(cli, tmp_path):
    out = tmp_path / "b.json"
    code, stdout, err = cli("bench", "--method", "generator:compact", "identity", "--eye-size", "32x24",
                            "--seconds", "0.05", "--no-gl", "--json", out)
    assert code == 0, err
    recs = json.loads(out.read_text())
    # on the CPU the generator runs on both engines by default (their ratio in one run); identity eager only
    perf = [r for r in recs if r.get("kind") != "comfort"]
    assert [(r["method"], r["engine"], r["eye_size"]) for r in perf] == [
        ("generator", "fast", [32, 24]), ("generator", "eager", [32, 24]), ("identity", "eager", [32, 24])]
    assert "FPS" in stdout and "floor" in stdout and "fast" in stdout and "vs eager" in stdout
    # the comfort wrappers' cost, for the methods that have models (not identity)
    comfort = [r for r in recs if r.get("kind") == "comfort"]
    assert [(r["method"], r["eye_size"], r["eyes"]) for r in comfort] == [("generator", [32, 24], 2)]
    st = comfort[0]["stages_ms"]
    assert st["stylize"] > 0 and set(st) == {"stylize", "stereo", "temporal"}
    assert "temporal stabilization" in stdout


def test_fast_engine_and_internal_scale_record():
    dev = torch.device("cpu")
    r = bench.bench_config("generator", "compact", (64, 48), 2, dev, "auto", 0.05, use_gl=False,
                           peaks={"fp32": 0.05, "bf16": 0.2}, engine="fast", internal_scale=0.5)
    assert r["engine"] == "fast" and r["engine_config"].startswith("cpu") and r["precision"] in ("fp32", "bf16")
    assert r["internal_scale"] == 0.5 and r["network_size"] == [32, 24] and r["eye_size"] == [64, 48]
    full = bench.count_macs(*bench.build_network("generator", "compact", dev), torch.rand(2, 3, 48, 64))["float"]
    assert r["macs_per_frame"] == pytest.approx(full / 4, rel=0.05)  # the network runs on a quarter of the pixels


def test_layer_bench_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(UsageError, match="CUDA"):
        bench.bench_layers(torch.device("cpu"), (64, 64))
