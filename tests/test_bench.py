"""`artem-vr bench`: it runs the app's own pipeline (real worker, real headless Output, real
upload path); records carry the promised fields; work counting and parsing are right.

Speed numbers are printed, never asserted.
"""

import json

import pytest
import torch

from artem_vr import bench, bench_floors, bench_run, bench_xnor
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
    w = bench_floors.count_work(s, 1, 256, 256)
    per_px = w["macs"] / 256 / 256
    assert 150_000 < per_px < 158_000, per_px
    assert w["bytes"] > 256 * 256 * 3 * 4 * 2  # at least the input and the output


def test_stats_median_and_p99():
    s = bench_floors.stats_ms([1.0] * 99 + [100.0])
    assert s["median"] == 1.0 and 1.0 < s["p99"] <= 100.0 and s["n"] == 100


def test_record_comes_from_the_pipeline():
    dev = torch.device("cpu")
    r = bench_run.bench_config("generator", "compact", (48, 40), 2, dev, 0.3, engine="fast",
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
    r = bench_run.bench_config("generator", "compact", (64, 48), 1, dev, 0.2, engine="fast", internal_scale=0.5,
                               peaks={"fp32": 0.05, "bf16": 0.2}, bandwidth=5.0, warmup=0.2)
    full = bench_run.bench_config("generator", "compact", (64, 48), 1, dev, 0.2, engine="fast",
                                  peaks={"fp32": 0.05, "bf16": 0.2}, bandwidth=5.0, warmup=0.2)
    assert r["internal_scale"] == 0.5
    assert r["macs_per_frame"] < 0.4 * full["macs_per_frame"]  # the network runs on a quarter of the pixels


def test_layer_bench_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(UsageError, match="CUDA"):
        bench_xnor.bench_layers(torch.device("cpu"), (64, 64))


def test_foveated_record_counts_the_network_pixels():
    dev = torch.device("cpu")
    r = bench_run.bench_config("generator", "compact", (256, 224), 2, dev, 0.2, engine="fast", foveate=True,
                               peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.2)
    assert r["foveate"] is True and r["frame_pixels"] == 2 * 256 * 224
    assert 0.25 * r["frame_pixels"] < r["network_pixels"] < 0.7 * r["frame_pixels"]  # half-scale eye + window


def test_config_is_parsed_once_frozen_and_checked():
    """`bench` parses its options into one frozen BenchConfig; a NaN/inf or out-of-range number is
    refused there (one line, exit 2 from the command line), before any device work."""
    import dataclasses

    from artem_vr.errors import InvalidNumber

    c = bench.BenchConfig(methods=(("generator", "compact"),), eye_sizes=((32, 24),), seconds=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seconds = 2.0
    for bad in ({"seconds": float("nan")}, {"seconds": float("inf")}, {"warmup": float("nan")},
                {"internal_scale": float("inf")}):
        with pytest.raises(InvalidNumber):
            bench.BenchConfig(**bad)
    for bad in ({"seconds": 0.0}, {"seconds": -1.0}, {"warmup": -1.0}, {"internal_scale": 1.5}, {"internal_scale": 0.0},
                {"reps": 0}, {"threads": 0}, {"eyes": 3}, {"engines": ("warp",)}, {"precisions": ("fp8",)},
                {"graphs": ()}):
        with pytest.raises(UsageError):
            bench.BenchConfig(**bad)


@pytest.mark.parametrize("argv, says", [
    (["--seconds", "nan"], "--seconds"), (["--seconds", "0"], "--seconds"),
    (["--internal-scale", "2"], "--internal-scale"), (["--eye-size", "32*24"], "WxH"),
    (["--method", "generator:huge"], "generator"), (["--profile", "x", "--reps", "0"], "--reps"),
    (["--trace", "--profile", "x"], "--trace"), (["--trace", "--output", "xr"], "--trace"),
    (["--trace", "--layers-only"], "--trace"),
])
def test_cli_refuses_bad_options_in_one_line(cli, argv, says):
    code, stdout, err = cli("bench", *argv)
    assert code == 2, (stdout, err)
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_small_eyes_and_one_record_read_right(cli, tmp_path):
    """`--eye-size 64x64`: the network's pixels in kpx (not "0.00 Mpx"); one record is "1 record"."""
    out = tmp_path / "b.json"
    code, stdout, err = cli("bench", "--method", "identity", "--eye-size", "64x64", "--seconds", "0.3", "--json", out)
    assert code == 0, err
    (r,) = json.loads(out.read_text())
    kpx = r["network_pixels"] / 1e3
    assert f" network {kpx:.1f} kpx " in stdout and "0.00 Mpx" not in stdout, stdout
    assert f"wrote 1 record to {out}" in stdout, stdout


def test_pixel_counts_and_counted():
    from artem_vr.text import counted, pixel_counts

    assert pixel_counts(8192) == "8.2 kpx" and pixel_counts(3.5e6) == "3.50 Mpx"
    assert pixel_counts(4096, 8192) == "4.1/8.2 kpx" and pixel_counts(0.2e6, 9e6) == "0.20/9.00 Mpx"
    assert [counted(n, "record") for n in (0, 1, 2)] == ["0 records", "1 record", "2 records"]


def test_comfort_record_says_which_path_ran_and_its_own_cost():
    """`bench --comfort on` rows carry each comfort wrapper's path, whether compiled and its own
    milliseconds a frame (on the CPU: OpenCV, not compiled); rows without comfort carry none."""
    dev = torch.device("cpu")
    r = bench_run.bench_config("generator", "compact", (64, 48), 2, dev, 0.3, engine="fast", comfort=True,
                               peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.3)
    st = r["comfort_stats"]
    assert set(st) == {"temporal", "stereo"}
    assert all(v["path"] == "opencv" and v["compiled"] is False and v["own_ms"] > 0 and v["frames"] >= 1
               for v in st.values()), st
    assert "+comfort (temporal opencv " in bench_run.comfort_note(r)
    json.dumps(r)
    off = bench_run.bench_config("generator", "compact", (64, 48), 2, dev, 0.2, engine="fast",
                                 peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.2)
    assert off["comfort_stats"] is None and bench_run.comfort_note(off) == ""


def test_graph_on_and_off_rows_say_what_the_frame_graph_did(cli, tmp_path):
    """`--graph on off`: each row twice, the frame graph asked on (what `run` does) and off; the
    records say what it did over the pipeline's frames, the line says it, the summary compares."""
    out = tmp_path / "g.json"
    code, stdout, err = cli("bench", "--method", "generator:compact", "--engine", "fast", "--eye-size", "32x24",
                            "--seconds", "0.3", "--warmup", "0.2", "--graph", "on", "off", "--json", out)
    assert code == 0, err
    on, off = json.loads(out.read_text())
    assert (on["graph"], off["graph"]) == ("on", "off")
    assert on["frame_graph"]["why"] == "not on CUDA" and off["frame_graph"]["why"] == "switched off"
    assert on["frame_graph"]["replays"] == off["frame_graph"]["replays"] == 0
    assert on["frame_graph"]["frames_as_they_are"] >= 1
    assert "graph off (not on CUDA)" in stdout and "graph off (switched off)" in stdout
    assert "frame graphs on " in stdout and " vs off " in stdout


def test_trace_sees_the_whole_stylizer_stack(monkeypatch):
    """`bench --trace`: the row's record carries a per-op trace of the same stylizer the pipeline ran,
    wrappers included — the temporal wrapper's statistics average (``lerp``) shows with comfort on,
    foveation's resizes (bilinear) with foveate on, neither without them (every op kept here)."""
    from artem_vr import bench_trace

    monkeypatch.setattr(bench_trace, "TOP_OPS", 1000)
    dev = torch.device("cpu")
    names = {}
    for label, kw in (("plain", {}), ("comfort", {"comfort": True}), ("foveate", {"foveate": True})):
        r = bench_run.bench_config("generator", "compact", (48, 32), 2, dev, 0.2, engine="fast", trace=True,
                                   peaks={"fp32": 0.05}, bandwidth=5.0, warmup=0.2, **kw)
        t = r["trace"]
        assert t["device"] == "cpu" and t["frames"] == bench_trace.TRACED_FRAMES and t["device_ms"] is None
        assert t["wall_ms"] > 0 and t["host_ms"] > 0 and t["launches"] >= 1 and t["kernels"] == t["host_ops"] == []
        assert all(o["calls"] > 0 and o["host_ms"] >= 0 and o["device_ms"] == 0 for o in t["ops"])
        assert t["host_ms"] <= 1.5 * t["wall_ms"]  # the host's time in the frame, not every thread's
        assert [o["host_ms"] for o in t["ops"]] == sorted((o["host_ms"] for o in t["ops"]), reverse=True)
        names[label] = {o["name"] for o in t["ops"]}
        assert {"aten::mkldnn_convolution", bench_trace.OUTSIDE} <= names[label], names[label]
        json.dumps(r)
        assert "; trace: " in bench_trace.trace_note(r) and "top-level ops/frame; top: " in bench_trace.trace_note(r)
    assert "aten::lerp" in names["comfort"] - names["plain"]
    assert "aten::upsample_bilinear2d" in names["foveate"] - names["plain"]


def test_cli_trace_row(cli, tmp_path):
    """`--trace` on the command line: the record's trace (its top 25 ops) and the printed note."""
    out = tmp_path / "b.json"
    code, stdout, err = cli("bench", "--method", "generator:compact", "--engine", "fast", "--eye-size", "48x32",
                            "--eyes", "2", "--comfort", "on", "--trace", "--seconds", "0.2", "--warmup", "0.2",
                            "--json", out)
    assert code == 0, err
    (r,) = json.loads(out.read_text())
    assert 0 < len(r["trace"]["ops"]) <= 25 and r["trace"]["launches_are"] == "top-level torch ops"
    assert "; trace: " in stdout and " ms wall, host " in stdout, stdout


def test_trace_reduction_on_cuda_events():
    """The CUDA side of the reduction, on the profiler's own event classes (no GPU here): the GPU
    busy and launches from the device events that are not annotations, an annotation's device time
    without its device-side copy (the marker's own is the device work outside any op, e.g. a graph
    replay), only what ran inside a frame marker, ops ranked by device time."""
    from torch.autograd import DeviceType
    from torch.autograd.profiler_util import FunctionEvent, FunctionEventAvg

    from artem_vr import bench_trace

    def ev(name, start, end, parent=None, kernels=(), device=DeviceType.CPU, annotation=False):
        e = FunctionEvent(id=0, name=name, thread=1, start_us=start, end_us=end, use_device="cuda",
                          device_type=device, is_user_annotation=annotation)
        for k, us in kernels:
            e.append_kernel(k, 0, us)
        if parent is not None:
            e.set_cpu_parent(parent)
            parent.append_cpu_child(e)
        return e

    frame = ev(bench_trace.FRAME, 0, 1000, kernels=[(bench_trace.FRAME, 900), ("graph_kernel", 100)], annotation=True)
    conv = ev("aten::cudnn_convolution", 100, 300, frame, kernels=[("conv_kernel", 500)])
    region = ev("fovea.window", 300, 700, frame, kernels=[("fovea.window", 250), ("box_kernel", 50)], annotation=True)
    item = ev("aten::item", 700, 950, region)
    sync = ev("cudaDeviceSynchronize", 1000, 1900)  # between frames: not counted
    device = [ev(n, 0, us, device=DeviceType.CUDA, annotation=a) for n, us, a in (
        ("conv_kernel", 500, False), ("graph_kernel", 100, False), ("box_kernel", 50, False),
        (bench_trace.FRAME, 900, True), ("fovea.window", 250, True))]
    rows = {}
    for e in device:
        rows.setdefault(e.name, FunctionEventAvg()).add(e)
    t = bench_trace.reduce_trace([frame, conv, region, item, sync] + device, [frame], [2.0], True, list(rows.values()))
    assert t["device_ms"] == 0.65 and t["launches"] == 3 and t["wall_ms"] == 2.0
    assert [k["name"] for k in t["kernels"]] == ["conv_kernel", "graph_kernel", "box_kernel"]
    ops = {o["name"]: o for o in t["ops"]}
    assert [o["name"] for o in t["ops"]][:3] == ["aten::cudnn_convolution", bench_trace.OUTSIDE, "fovea.window"]
    assert ops["aten::cudnn_convolution"]["device_ms"] == 0.5 and ops[bench_trace.OUTSIDE]["device_ms"] == 0.1
    assert ops["fovea.window"]["device_ms"] == 0.05 and ops["fovea.window"]["host_ms"] == 0.15
    assert "cudaDeviceSynchronize" not in ops and bench_trace.FRAME not in ops
    assert t["host_ms"] == 1.0 and t["outside_ops_ms"] == 0.4  # the frame's 1000 µs: 200 + 150 + 250 in ops
    assert t["host_ops"][0]["name"] == bench_trace.OUTSIDE and t["host_ops"][1]["name"] == "aten::item"
    assert "GPU busy 0.65 ms of 2.00 ms wall" in bench_trace.trace_note({"trace": t})
