"""`artem-vr bench`: it runs the app's own pipeline (real worker, real headless Output, real
upload path); records carry the promised fields; work counting and parsing are right.

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
    assert bench.parse_methods(["xnor", "adain"]) == [("xnor", "compact"), ("adain", "fast")]
    with pytest.raises(UsageError):
        bench.parse_methods(["generator:huge"])
    with pytest.raises(UsageError):
        bench.parse_methods(["xnor:full"])  # not shipped: the bench measures what ships
    with pytest.raises(UsageError):
        bench.parse_methods(["nope"])


def test_work_count_of_the_full_generator():
    """~154 k MAC per pixel (the figure the GPU floor is built on), counted on a small frame
    and scaled; bytes moved are counted too."""
    from artem_vr.style.methods import make_stylizer
    from artem_vr.style.engine import EAGER

    s = make_stylizer("generator", "starry_night", device="cpu", arch="full", engine=EAGER)
    w = bench.count_work(s, 1, 256, 256)
    per_px = w["macs"] / 256 / 256
    assert 150_000 < per_px < 158_000, per_px
    assert w["bytes"] > 256 * 256 * 3 * 4 * 2  # at least the input and the output


def test_stats_median_and_p99():
    s = bench.stats_ms([1.0] * 99 + [100.0])
    assert s["median"] == 1.0 and 1.0 < s["p99"] <= 100.0 and s["n"] == 100


def test_record_comes_from_the_pipeline():
    dev = torch.device("cpu")
    r = bench.bench_config("generator", "compact", (48, 40), 2, dev, 0.3, engine="fast",
                           peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.3)
    for k in ("device", "method", "eye_size", "eyes", "stereo_fps", "network_fps", "stages_ms", "commit", "date",
              "floor_ms", "flop_floor_ms", "traffic_floor_ms", "binding", "ratio", "upload", "style"):
        assert k in r, k
    assert r["eye_size"] == [48, 40] and r["eyes"] == 2 and r["stereo_fps"] > 0
    assert r["upload"] == "host" and r["style"]  # the CPU path, a shipped model
    st = r["stages_ms"]
    for stage in ("capture_wait", "upload", "stylize", "readback", "to_texture", "render"):
        assert st[stage] is not None and st[stage]["n"] >= 1, stage
    assert st["submit"] is None and "submit" in r["notes"]
    assert r["flop_floor_ms"] == pytest.approx(2 * r["macs_per_frame"] / 0.05e12 * 1e3, rel=1e-3)
    json.dumps(r)  # serialisable


def test_cli_writes_json(cli, tmp_path):
    out = tmp_path / "b.json"
    code, stdout, err = cli("bench", "--method", "generator:compact", "identity", "--eye-size", "32x24",
                            "--seconds", "0.3", "--json", out, "--commit", "abc123")
    assert code == 0, err
    recs = json.loads(out.read_text())
    # on the CPU the generator runs on every engine by default (their ratios in one run); identity eager only
    assert [(r["method"], r["engine"], r["eye_size"]) for r in recs] == [
        ("generator", "ort", [32, 24]), ("generator", "fast", [32, 24]), ("generator", "eager", [32, 24]),
        ("identity", "eager", [32, 24])]
    assert all(r["commit"] == "abc123" for r in recs)
    assert "FPS" in stdout and "floor" in stdout and "vs eager" in stdout and "network alone" in stdout


def test_internal_scale_record():
    dev = torch.device("cpu")
    r = bench.bench_config("generator", "compact", (64, 48), 1, dev, 0.2, engine="fast", internal_scale=0.5,
                           peaks={"fp32": 0.05, "bf16": 0.2}, bandwidth=5.0, warmup=0.2)
    full = bench.bench_config("generator", "compact", (64, 48), 1, dev, 0.2, engine="fast",
                              peaks={"fp32": 0.05, "bf16": 0.2}, bandwidth=5.0, warmup=0.2)
    assert r["internal_scale"] == 0.5
    assert r["macs_per_frame"] < 0.4 * full["macs_per_frame"]  # the network runs on a quarter of the pixels


def test_layer_bench_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(UsageError, match="CUDA"):
        bench.bench_layers(torch.device("cpu"), (64, 64))


def test_foveated_record_counts_the_network_pixels():
    dev = torch.device("cpu")
    r = bench.bench_config("generator", "compact", (256, 224), 2, dev, 0.2, engine="fast", foveate=True,
                           peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.2)
    assert r["foveate"] is True and r["frame_pixels"] == 2 * 256 * 224
    assert 0.25 * r["frame_pixels"] < r["network_pixels"] < 0.7 * r["frame_pixels"]  # half-scale eye + window
