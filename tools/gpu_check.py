"""The steps of the one GPU run (tools/gpu_check.sh does the set-up, then runs this).

Each step is a subprocess under its own time budget (seconds, in :func:`steps`; the default
steps total 530 s, and the set-up before them is budgeted 20 s: 550 s of the :data:`RUN_LIMIT_S`
the run may take — compile time included: the fused engine and the comfort steps compile inside
their steps' warm-ups, and the kernels are cached on disk in the user data folder, so a later
step reuses an earlier one's). Budgets follow run 5 (2026-12-04, docs/benchmarks.md), where the
compiles took longer than estimated and four steps ran out; a step past its budget keeps the
rows it measured (bench writes its JSON after every record). A step that fails or times out is
recorded as such and the run goes on; a GPU-only step on a machine without CUDA is recorded
"skipped: no CUDA". ``--dry-run`` runs every step at tiny sizes (the CPU check in CI; the fused
stages run there without the compiler).

Default order (issue 19: the first minutes of a lease produce the per-layer table):

1. ``profile layers`` — the per-layer table of the full and compact generators (fast engine, then
   fused per stage, each stage's conv way said) and AdaIN fast at 2×1440×1600, and around each the comfort
   wrappers step by step (eager, then compiled with the fused network) → ``profile_layers.md``
   (records in bench_gpu.json);
2. ``gpu tests (fused, engine, comfort)`` — ``pytest -m gpu`` on the upload, fused, engine, frame
   graph, foveation and device comfort tests;
3. ``fused generators`` — generators compact and full on the fused engine (``auto`` on CUDA since
   run 5), comfort off, at 2×1440×1600 and 2×2016×2240;
4. ``comfort on (auto)`` — what ``artem-vr run`` does by default: the three networks with comfort
   on, engine ``auto`` (fused, the comfort wrappers' device steps compiled with it:
   :class:`artem_vr.temporal.devflow.DeviceMaths`), at the two headset sizes: the issue 19
   targets, and with step 3 the generators' comfort cost (AdaIN's comfort-off reference is the
   optional ``adain fused``);
5. ``foveation`` — issue 20: the full generator foveated on the fused engine at 2×2016×2240
   (target ≥ 90 stereo FPS), beside step 3's unfoveated row.

A GPU comes to this project for one lease of ~15 minutes (the machine's start counted: about
35 s in run 5), so every target of issues 19 and 20 is in the default run; the device tool runs
one command for at most 600 s: run it with ``timeout_s`` 590, and with the machine still warm
(it waits 30 s) a second call with ``--only`` and ``timeout_s`` of what is left.

Every pipeline row carries bytes per frame, the ratio to the traffic floor and a consumer-card
estimate at 1 TB/s (labelled an estimate). Optional steps (measured on earlier leases; run them
with ``--only "NAME,..."`` in a second call): ``adain fused`` (AdaIN fast fused, comfort off: step
4's AdaIN comfort-cost reference), ``fused vs fast`` (the comparison behind ``auto``),
``conv ways plain`` (the fused generators with every stage's conv forced plain),
``frame graphs on vs off`` (step 4's rows at 2×1440×1600, replayed and launched from Python, in one run),
``foveation graphs off`` (step 5's row launched from Python), ``comfort off (auto)``, ``gpu tests (all)``, ``fused layouts``,
``xnor layers vs cudnn``, ``pipeline at three eye sizes``, ``engine defaults table``,
``training burst``, ``xnor engines``.

Files in --out (at most 8: what the device tool brings back), ready for docs/bench/:
env.txt, pytest_gpu.log, bench.log, bench_gpu.json, bench_gpu.svg, benchmarks_rows.md,
profile_layers.md, summary.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_BUDGET_S = 20
#: what the whole run may take (the device tool's per-command limit is 600 s; the set-up and the
#: default steps' budgets stay under it with room for the merge, the chart and the summary)
RUN_LIMIT_S = 580


def steps(dry: bool, out: Path) -> list[dict]:
    """name, budget (s), whether it needs CUDA, whether it runs by default (``optional`` steps run
    only when ``--only`` names them), the command, and the JSON it adds to bench_gpu.json."""
    py = sys.executable
    bench = [py, "-m", "artem_vr", "bench"]
    commit = ["--commit", os.environ.get("ARTEM_COMMIT", "unknown")]
    if dry:  # the same steps, as small as they go: every code path, no speed (fused: not compiled)
        sizes, big, two, secs = ["48x32"], "48x32", ["48x32"], ["--seconds", "0.1", "--warmup", "0.1"]
        short = brief = secs
        pipeline_methods, defaults_method = ["generator:compact", "adain:fast", "xnor"], "generator:compact"
        fused_methods, comfort_methods = ["generator:compact"], ["generator:compact", "adain:fast"]
        defaults_variants = ["--precision", "fp32", "bf16", "--layout", "nchw", "--graph", "off"]
        compile_, reps = ["--compile", "off"], ["--reps", "1"]
    else:
        sizes, big, two = ["960x1080", "1440x1600", "2016x2240"], "1440x1600", ["1440x1600", "2016x2240"]
        secs, short = ["--seconds", "1.5", "--warmup", "1.5"], ["--seconds", "1.0", "--warmup", "1.0"]
        brief = ["--seconds", "0.5", "--warmup", "0.5"]
        pipeline_methods, defaults_method = ["generator", "adain:fast", "adain:full", "xnor"], "generator:full"
        # full first: its 2x1440x1600 stages are in the compile cache from the profile step
        fused_methods, comfort_methods = ["generator:full", "generator:compact"], ["generator:compact", "generator:full", "adain:fast"]
        defaults_variants = ["--precision", "fp16", "bf16", "--layout", "nchw", "cl", "--graph", "off", "on"]
        compile_, reps = [], ["--reps", "5"]
    return [
        # 1. where the time goes, first: the per-layer table of the full generator and AdaIN fast
        #    (eager engine first, its files written at once; then the fused engine per stage, whose
        #    compile also fills the on-disk cache that step 3 reuses; its first frame times the conv ways of
        #    the full-resolution stages, each compiled: artem_vr.style.fused.ConvChoices)
        #    With --comfort on, each network's comfort steps too (artem_vr.layer_profile.profile_comfort): eager
        #    around the fast/eager rows, compiled around the fused one — those compiles, at 2x1440x1600, are the
        #    ones step 4 then finds in the on-disk cache (its budget gave this step 25 s)
        #    The compact generator too: its 90 FPS target is the hardest, and run 5 profiled only the full one
        #    (its 2x1440x1600 compiles are then cached for step 3, which gave this step 20 s)
        {"name": "profile layers", "budget": 130, "cuda": False, "json": "profile.json",
         "cmd": bench + ["--profile", str(out), "--method", "generator:full", "generator:compact", "adain:fast",
                         "--engine", "fast", "fused",
                         *compile_, "--comfort", "on", "--eye-size", big, "--eyes", "2", *reps,
                         "--json", str(out / "profile.json")] + commit},
        # 2. the new code's GPU tests (the whole -m gpu suite: optional step "gpu tests (all)")
        #    (the device comfort's last: its compiled test compiles the comfort steps, the longest)
        #    (the per-layer profile's own GPU tests are in "gpu tests (all)": step 1 runs the profile itself)
        {"name": "gpu tests (fused, engine, comfort)", "budget": 110, "cuda": True, "log": "pytest_gpu.log",
         "cmd": [py, "-m", "pytest", "-v", "-m", "gpu", "-rs", "--durations=15", "-p", "no:cacheprovider", "tests/test_frames.py",
                 "tests/style/test_fused.py", "tests/style/test_engine.py", "tests/style/test_adain_fused.py", "tests/temporal/test_graphed_gpu.py",
                 "tests/temporal/test_foveate_gpu.py", "tests/temporal/test_device_comfort_gpu.py"]},
        # 3. the generators on the fused engine (what `auto` runs on CUDA since run 5, where it beat `fast`
        #    1.6-2.1x: docs/benchmarks.md), comfort off, at the two headset sizes: the comfort-cost
        #    reference of step 4 and the traffic-floor ratio; full first (its 2x1440x1600 stages are cached)
        {"name": "fused generators", "budget": 100, "cuda": False, "json": "fused.json",
         "cmd": bench + ["--method", *fused_methods, "--engine", "fused", *compile_, "--eye-size", *two,
                         "--eyes", "2", *secs, "--json", str(out / "fused.json")] + commit},
        # 4. what `artem-vr run` does by default: comfort on, engine auto (fused on CUDA, with the comfort
        #    wrappers' device steps compiled too: artem_vr.temporal.devflow.DeviceMaths), the three networks
        #    at the two headset sizes — the issue 19 targets; the comfort steps compile in each size's first row
        {"name": "comfort on (auto)", "budget": 105, "cuda": False, "json": "comfort_on.json",
         "cmd": bench + ["--method", *comfort_methods, "--engine", "auto", *compile_, "--comfort", "on",
                         "--eye-size", *two, "--eyes", "2", *short, "--json", str(out / "comfort_on.json")] + commit},
        # 5. issue 20: the full generator foveated (periphery at 0.55 scale + a full-resolution window of 27 %)
        #    on the fused engine at the largest eye size (its two new input sizes compile here, with their conv
        #    ways timed); unfoveated: step 3's.
        #    Traced op by op (--trace): in run 5 the foveated frame cost more GPU time than the unfoveated one
        {"name": "foveation", "budget": 85, "cuda": False, "json": "foveation.json",
         "cmd": bench + ["--method", "generator:full", "--engine", "fused", *compile_, "--foveate", "on", "--trace",
                         "--eye-size", two[-1], "--eyes", "2", *secs, "--json", str(out / "foveation.json")] + commit},
        # optional (--only): measured on earlier leases (docs/benchmarks.md); each still fits a short lease
        # AdaIN fast on its fused stages, comfort off (run 5: 107 FPS at 2x1440x1600; step 4 has it with comfort
        # on): optional since the conv ways' compiles needed its time in steps 1, 3 and 5
        {"name": "adain fused", "budget": 45, "cuda": False, "json": "adain_fused.json", "optional": True,
         "cmd": bench + ["--method", "adain:fast", "--engine", "fused", *compile_, "--eye-size", *two,
                         "--eyes", "2", *brief, "--json", str(out / "adain_fused.json")] + commit},
        {"name": "fused vs fast", "budget": 110, "cuda": False, "json": "fused_vs_fast.json", "optional": True,
         "cmd": bench + ["--method", *fused_methods, "adain:fast", "--engine", "fast", "fused", *compile_, "--eye-size", big,
                         "--eyes", "2", *secs, "--json", str(out / "fused_vs_fast.json")] + commit},
        # every conv run plain: the fused generators' rows of step 3 chose per stage by timing (the
        # full-resolution stages: plain, channel-padded, space to depth, subpixel; engine_config says which
        # and every timing); this row is the plain reference end to end
        {"name": "conv ways plain", "budget": 80, "cuda": False, "json": "ways_plain.json", "optional": True,
         "env": {"ARTEM_VR_CONV_WAYS": "plain"},
         "cmd": bench + ["--method", *fused_methods, "--engine", "fused", *compile_, "--eye-size", big,
                         "--eyes", "2", *secs, "--json", str(out / "ways_plain.json")] + commit},
        # the frame graphs (artem_vr.temporal.graphed) on and off in one run: each frame replayed as one CUDA
        # graph (what steps 5 and 6 measure, the default) against every kernel launched from Python, as before
        {"name": "frame graphs on vs off", "budget": 130, "cuda": False, "json": "graphs_on_off.json", "optional": True,
         "cmd": bench + ["--method", *comfort_methods, "--engine", "auto", *compile_, "--comfort", "on", "--graph", "on", "off",
                         "--eye-size", big, "--eyes", "2", *short, "--json", str(out / "graphs_on_off.json")] + commit},
        # step 5's row with every kernel launched from Python (its reference before the frame graphs)
        {"name": "foveation graphs off", "budget": 60, "cuda": False, "json": "foveation_graphs_off.json", "optional": True,
         "cmd": bench + ["--method", "generator:full", "--engine", "fused", *compile_, "--foveate", "on", "--graph", "off",
                         "--eye-size", two[-1], "--eyes", "2", *secs, "--json", str(out / "foveation_graphs_off.json")] + commit},
        {"name": "comfort off (auto)", "budget": 60, "cuda": False, "json": "comfort_off.json", "optional": True,
         "cmd": bench + ["--method", *comfort_methods, "--engine", "auto", *compile_, "--comfort", "off",
                         "--eye-size", *two, "--eyes", "2", *short, "--json", str(out / "comfort_off.json")] + commit},
        {"name": "gpu tests (all)", "budget": 120, "cuda": True, "log": "pytest_gpu.log", "optional": True,
         "cmd": [py, "-m", "pytest", "-v", "-m", "gpu", "-rs", "--durations=15", "-p", "no:cacheprovider", "tests/cuda", "tests/style",
                 "tests/temporal", "tests/test_pipeline.py", "tests/test_layer_profile.py"]},
        # (AdaIN too: its eager row and its fused stages in both precisions and layouts — no norm
        # breaks channels_last there, so its convs may take the tensor-core layout whole)
        {"name": "fused layouts", "budget": 110, "cuda": False, "json": "fused_layouts.json", "optional": True,
         "cmd": bench + ["--method", "generator:full", "adain:fast", "--engine", "fused", *compile_, "--precision", "bf16", "fp16",
                         "--layout", "nchw", "cl", "--eye-size", big, "--eyes", "2", *short,
                         "--json", str(out / "fused_layouts.json")] + commit},
        {"name": "xnor layers vs cudnn", "budget": 40, "cuda": True, "json": "layers.json", "optional": True,
         "cmd": bench + ["--layers-only", "--eye-size", big, "--eyes", "2", "--json", str(out / "layers.json")] + commit},
        {"name": "pipeline at three eye sizes", "budget": 110, "cuda": False, "json": "pipeline.json", "optional": True,
         "cmd": bench + ["--method", *pipeline_methods, "--engine", "auto", "--eye-size", *sizes, "--eyes", "2", *secs,
                         "--json", str(out / "pipeline.json")] + commit},
        {"name": "engine defaults table", "budget": 60, "cuda": False, "json": "defaults.json", "optional": True,
         "cmd": bench + ["--method", defaults_method, "--engine", "fast", *defaults_variants, "--eye-size", big,
                         "--eyes", "2", *(secs if dry else ["--seconds", "1.0", "--warmup", "1.5"]), "--json", str(out / "defaults.json")]
         + commit},
        {"name": "training burst", "budget": 40, "cuda": False, "json": "train_burst.json", "optional": True,
         "cmd": [py, "tools/gpu_train_burst.py", "--iters", "2" if dry else "150", "--size", "64" if dry else "256",
                 "--batch", "2" if dry else "8", "--arch", "full", "--amp", "off" if dry else "bf16",
                 "--json", str(out / "train_burst.json")]},
        {"name": "xnor engines", "budget": 20, "cuda": False, "json": "xnor_engines.json", "optional": True,
         "cmd": bench + ["--method", "xnor", "--engine", "eager", "fast", "--precision", "fp16" if not dry else "fp32",
                         "--eye-size", big, "--eyes", "2", *(secs if dry else ["--seconds", "1.5", "--warmup", "1.5"]),
                         "--json", str(out / "xnor_engines.json")] + commit},
    ]


def cuda_ok() -> tuple[bool, str]:
    r = subprocess.run([sys.executable, "-c", "from artem_vr.cuda.device import cuda_available as c; ok, why = c(); "
                        "print('yes' if ok else why)"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    line = (r.stdout.strip() or r.stderr.strip() or "unknown").splitlines()[-1]
    return line == "yes", line


def environment(out: Path) -> str:
    lines = [time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"commit {os.environ.get('ARTEM_COMMIT', 'unknown')}"]
    for cmd in (["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                [sys.executable, "-c", "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, "
                 "'cuda', torch.version.cuda, torch.cuda.is_available())"],
                [sys.executable, "-c", "import cuda.core, cuda.bindings; print('cuda.core', cuda.core.__version__, "
                 "'cuda.bindings', cuda.bindings.__version__)"]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
            lines.append(r.stdout.strip() if r.stdout.strip() else f"{cmd[0]}: {r.stderr.strip()[-200:]}")
        except (OSError, subprocess.TimeoutExpired) as e:
            lines.append(f"{cmd[0]}: {type(e).__name__}")
    text = "\n".join(lines) + "\n"
    (out / "env.txt").write_text(text)
    return text


def card_name() -> str:
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                           timeout=20)
        return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else "no GPU"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "no GPU"


def run_step(step: dict, out: Path, log) -> dict:
    t0 = time.monotonic()
    env = "".join(f"{k}={v} " for k, v in step.get("env", {}).items())
    log.write(f"\n=== {step['name']} (budget {step['budget']} s): {env}{' '.join(step['cmd'])}\n")
    log.flush()
    target = open(out / step["log"], "a") if "log" in step else log
    try:
        r = subprocess.run(step["cmd"], stdout=target, stderr=subprocess.STDOUT, cwd=ROOT, timeout=step["budget"],
                           env=dict(os.environ, **step.get("env", {})))
        status = "ok" if r.returncode == 0 else f"failed (exit {r.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {step['budget']} s"
    finally:
        if target is not log:
            target.close()
    return {"step": step["name"], "status": status, "seconds": round(time.monotonic() - t0, 1), "budget": step["budget"]}


#: issue 19's targets (H200, comfort on; FPS at 2x1440x1600 and 2x2016x2240) and issue 20's
TARGETS_FPS = {("generator", "compact"): (90, 60), ("generator", "full"): (60, 30), ("adain", "fast"): (60, 30)}
FOVEA_TARGET_FPS = 90  # the full generator foveated, fused, at 2x2016x2240
HEADSET_SIZES = ((1440, 1600), (2016, 2240))
COMFORT_SHARE_MAX = 0.20  # comfort's cost in the stylize stage at 2x1440x1600
FUSED_TRAFFIC_RATIO_MAX = 3.0


def targets(records: list[dict]) -> list[str]:
    """The issues' targets against this run's rows, one line each: met / NOT met / not measured.
    What ships is engine ``auto``, the fused engine on CUDA since run 5: each target reads the
    fused rows (a ``fast`` row stands in only where no fused one exists, and the line names its
    engine). Comfort-on FPS, the comfort cost (stylize stage with comfort on vs off, same engine
    and size), the fused generators' stylize time over their traffic floor, and foveation."""
    pipe = [r for r in records if "stereo_fps" in r and r.get("eyes") == 2]

    def find(method, arch, size, comfort, engine, foveate=False):
        rows = [r for r in pipe if (r["method"], r["arch"], tuple(r["eye_size"]), bool(r["comfort"]), r["engine"],
                                    bool(r.get("foveate"))) == (method, arch, size, comfort, engine, foveate)]
        return rows[-1] if rows else None

    def shipped(method, arch, size, comfort, foveate=False):
        return find(method, arch, size, comfort, "fused", foveate) or find(method, arch, size, comfort, "fast", foveate)

    def verdict(ok):
        return "met" if ok else "NOT met"

    lines = ["targets (issue 19: comfort on, H200, engine auto = fused on CUDA; issue 20: foveation):"]
    for (method, arch), goals in TARGETS_FPS.items():
        for size, goal in zip(HEADSET_SIZES, goals):
            r = shipped(method, arch, size, True)
            got = "not measured" if r is None else f"{r['stereo_fps']:.1f} FPS ({r['engine']}): {verdict(r['stereo_fps'] >= goal)}"
            lines.append(f"  {method}:{arch} 2x{size[0]}x{size[1]} comfort on: >= {goal} FPS — {got}")
    big = HEADSET_SIZES[0]
    for (method, arch) in TARGETS_FPS:
        on = shipped(method, arch, big, True)
        off = find(method, arch, big, False, on["engine"]) if on is not None else None
        if on is None or off is None:
            got = "not measured"
        else:
            a, b = on["stages_ms"]["stylize"]["median"], off["stages_ms"]["stylize"]["median"]
            share = (a - b) / a if a > 0 else float("nan")
            got = f"{100 * share:.0f} % ({a:.2f} vs {b:.2f} ms, {on['engine']}): {verdict(share <= COMFORT_SHARE_MAX)}"
            own = on.get("comfort_stats") or {}
            if own:  # the wrappers' own CUDA-event times: the same cost seen from inside
                got += (f" (own work {sum(v['own_ms'] for v in own.values()):.2f} ms, "
                        + ", ".join(f"{k} {v['path']}{' compiled' if v['compiled'] else ''}" for k, v in own.items())
                        + ")")
        lines.append(f"  comfort cost, {method}:{arch} 2x{big[0]}x{big[1]}: "
                     f"<= {100 * COMFORT_SHARE_MAX:.0f} % of stylize — {got}")
    for arch in ("compact", "full"):
        for size in HEADSET_SIZES:
            r = find("generator", arch, size, False, "fused")
            if r is None or not r.get("traffic_floor_ms"):
                got = "not measured"
            else:
                ratio = r["stages_ms"]["stylize"]["median"] / r["traffic_floor_ms"]
                got = f"{ratio:.1f}: {verdict(ratio <= FUSED_TRAFFIC_RATIO_MAX)}"
            lines.append(f"  fused generator:{arch} 2x{size[0]}x{size[1]} stylize / traffic floor: "
                         f"<= {FUSED_TRAFFIC_RATIO_MAX:g} — {got}")
    big = HEADSET_SIZES[1]
    r = shipped("generator", "full", big, False, foveate=True)
    got = "not measured" if r is None else (
        f"{r['stereo_fps']:.1f} FPS ({r['engine']}), network {r['network_pixels'] / r['frame_pixels']:.1%} "
        f"of the pixels: {verdict(r['stereo_fps'] >= FOVEA_TARGET_FPS)}")
    lines.append(f"  generator:full 2x{big[0]}x{big[1]} foveated: >= {FOVEA_TARGET_FPS} FPS — {got}")
    return lines


def _comfort_cell(r: dict) -> str:
    """`` +comfort`` and, per wrapper, its path and own time a frame (``temporal torch compiled 0.41 ms``)."""
    own = [f"{k} {v['path']}{' compiled' if v['compiled'] else ''} {v['own_ms']:.2f} ms"
           for k, v in (r.get("comfort_stats") or {}).items()]
    return (" +comfort" + (f" ({'; '.join(own)})" if own else "")) if r.get("comfort") else ""


def table_rows(records: list[dict], card: str) -> str:
    """Markdown rows for docs/benchmarks.md: the pipeline records and the XNOR layer records."""
    rows = ["| card | method | eye | engine | upload | pipeline FPS | network FPS | stylize ms | to-texture ms | render ms "
            "| floor ms (binding) | ratio | MB/frame | consumer card at 1 TB/s, FPS (estimate: bound / scaled) |",
            "|" + "---|" * 14]
    for r in records:
        if "stereo_fps" not in r:
            continue
        st = r["stages_ms"]
        med = lambda k: f"{st[k]['median']:.2f}" if st.get(k) else "n/a"  # noqa: E731
        flags = r["precision"] + (" cl" if r["channels_last"] else "") + (" graph off" if r.get("graph") == "off" else "")
        rows.append(f"| {card} | {r['method']}:{r['arch']}{_comfort_cell(r)} | "
                    f"{r['eye_size'][0]}x{r['eye_size'][1]}x{r['eyes']} | {r['engine']} {flags} | {r['upload']} | "
                    f"{r['stereo_fps']:.1f} | {r['network_fps']:.1f} | {med('stylize')} | {med('to_texture')} | "
                    f"{med('render')} | {r['floor_ms']:.2f} ({r['binding']}) | {r['ratio']} | "
                    f"{(r.get('fused_bytes_per_frame') or r['bytes_per_frame']) / 1e6:.0f} | "
                    f"≤ {r.get('consumer_est_fps')} / {r.get('consumer_scaled_fps')} (estimate) |")
    failed = [r for r in records if "failed" in r]
    for r in failed:
        rows.append(f"| {card} | {r['method']}:{r['arch']} | {r['eye_size'][0]}x{r['eye_size'][1]} | {r['engine']} "
                    f"{r['precision']} {r.get('layout', '')} {'graph off' if r.get('graph') == 'off' else ''} | FAILED: "
                    f"{r['failed'][:80]} |" + " |" * 9)
    layers = [r for r in records if "layer" in r]
    if layers:
        rows += ["", "| card | layer (N,C,H,W,O,k,s) | XNOR conv popc ms | XNOR conv mma ms | XNOR layer fp16 ms | "
                 "cuDNN fp16 ms | XNOR layer fp32 ms | cuDNN fp32 ms | conv vs fp16 | layer vs fp16 |", "|" + "---|" * 10]
        for r in layers:
            rows.append(f"| {card} | {r['shape']} | {r['xnor_conv_popc_ms']} | {r['xnor_conv_mma_ms']} | "
                        f"{r['xnor_layer_f16_ms']} | {r['cudnn_fp16_ms']} | {r['xnor_layer_f32_ms']} | "
                        f"{r['cudnn_fp32_ms']} | {r['conv_speedup_vs_fp16']}x | {r['layer_speedup_vs_fp16']}x |")
    return "\n".join(rows) + "\n"


#: ops per traced record in benchmarks_rows.md (the record's JSON keeps its top 25)
TRACE_TABLE_OPS = 8


def trace_tables(records: list[dict]) -> str:
    """Markdown for each pipeline record with a ``trace`` (`bench --trace`): a heading line with
    its per-frame totals and its top ops (device ms on CUDA, host ms on the CPU); empty without one."""
    out = []
    for r in records:
        t = r.get("trace")
        if "stereo_fps" not in r or not t:
            continue
        flags = (" +comfort" if r.get("comfort") else "") + (" +foveate" if r.get("foveate") else "")
        busy = f"GPU busy {t['device_ms']:.2f} ms, " if t.get("device_ms") is not None else ""
        out += ["", f"trace: {r['method']}:{r['arch']}{flags} {r['eye_size'][0]}x{r['eye_size'][1]}x{r['eyes']} "
                f"{r['engine']} {r['precision']} — per frame: {t['wall_ms']:.2f} ms wall, {busy}"
                f"host {t['host_ms']:.2f} ms, {t['launches']:.0f} {t['launches_are']} "
                f"(torch {t['torch']}, {t['frames']} frames traced)", "",
                "| op | calls/frame | device ms/frame | host ms/frame |", "|---|---|---|---|"]
        for o in t["ops"][:TRACE_TABLE_OPS]:
            name = o["name"] if len(o["name"]) <= 60 else o["name"][:59] + "…"
            dev = f"{o['device_ms']:.3f}" if t.get("device_ms") is not None else "n/a"  # a CPU trace: no device
            out.append(f"| {name.replace('|', '/')} | {o['calls']:g} | {dev} | {o['host_ms']:.3f} |")
    return "\n".join(out) + ("\n" if out else "")


def trace_lines(records: list[dict]) -> list[str]:
    """One summary line per traced record: its totals and its top three ops."""
    out = []
    for r in records:
        t = r.get("trace")
        if "stereo_fps" not in r or not t:
            continue
        col = "device_ms" if t.get("device_ms") is not None else "host_ms"
        busy = f"GPU busy {t['device_ms']:.2f} ms of " if t.get("device_ms") is not None else ""
        out.append(f"  trace {r['method']}:{r['arch']}{' +comfort' if r.get('comfort') else ''}"
                   f"{' +foveate' if r.get('foveate') else ''} {r['eyes']}x{r['eye_size'][0]}x{r['eye_size'][1]} "
                   f"{r['engine']}: {busy}{t['wall_ms']:.2f} ms wall, {t['launches']:.0f} {t['launches_are']}; "
                   + ", ".join(f"{o['name'][:48]} {o[col]:.2f} ms" for o in t["ops"][:3]))
    return out


def wanted(step: dict, only: str | None) -> bool:
    """Whether a step runs: named by a prefix in ``--only``, else every step that is not optional."""
    if only:
        return any(step["name"].startswith(n.strip()) for n in only.split(",") if n.strip())
    return not step.get("optional")


def profile_lines(records: list[dict]) -> list[str]:
    """One summary line per per-layer profile: stylize time, the costliest kinds and the floor; and
    per comfort profile: the comfort's cost over stylize and its costliest steps."""
    out = []
    for r in records:
        if r.get("kind") == "comfort_profile":
            top = sorted(r["rows"], key=lambda row: -row["time_ms"])[:3]
            share = f"{100 * r['comfort_share']:.0f} %" if r.get("comfort_share") is not None else "n/a"
            out.append(f"  comfort steps around {r['method']}:{r['arch']} {r['engine']} "
                       f"({'compiled' if r['compiled'] else 'eager'}) {r['eyes']}x{r['eye_size'][0]}x{r['eye_size'][1]}: "
                       f"+{r['cost_ms']:.2f} ms over stylize {r['stylize_ms']:.2f} ms ({share}); "
                       + ", ".join(f"{row['wrapper']} {row['step']} {row['time_ms']:.2f} ms" for row in top))
            continue
        if r.get("kind") != "layer_profile":
            continue
        kinds = sorted(r["by_kind"].items(), key=lambda kv: -kv[1]["time_ms"])[:4]
        out.append(f"  profile {r['method']}:{r['arch']} {r['engine']} {r['eyes']}x{r['eye_size'][0]}x{r['eye_size'][1]}: "
                   f"stylize {r['forward_ms']:.2f} ms, {r['bytes'] / 1e6:.0f} MB; "
                   + ", ".join(f"{k} {100 * (v['share'] or 0):.0f} %" for k, v in kinds)
                   + (f"; traffic floor {r['traffic_floor_ms']:.2f} ms" if r.get("traffic_floor_ms") else ""))
    return out


def ways_lines(records: list[dict]) -> list[str]:
    """One summary line per fused generator and input size: each stage's conv way and the timings
    that chose it (the ``conv ways:`` part of ``engine_config``, artem_vr.style.fused.ConvChoices)."""
    out, seen = [], set()
    for r in records:
        cfg = r.get("engine_config") or ""
        if "conv ways: " not in cfg or "eye_size" not in r:
            continue
        ways = cfg[cfg.index("conv ways: ") + len("conv ways: "):]
        key = (r["method"], r.get("arch"), tuple(r["eye_size"]), r.get("foveate"), ways)
        if key in seen:
            continue
        seen.add(key)
        out.append(f"  conv ways {r['method']}:{r.get('arch')}{' +foveate' if r.get('foveate') else ''} "
                   f"{r['eyes']}x{r['eye_size'][0]}x{r['eye_size'][1]}: {ways}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "gpu_check")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes: the CPU check of this script")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated step-name prefixes to run (a second, shorter lease); the others are "
                        "recorded as not run")
    a = p.parse_args(argv)
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    print(environment(out), flush=True)
    has_cuda, why = cuda_ok()
    card = card_name() if has_cuda else "no GPU"
    plan = steps(a.dry_run, out)
    asked = [s for s in plan if wanted(s, a.only)]
    total = SETUP_BUDGET_S + sum(s["budget"] for s in asked)
    print(f"card: {card}; CUDA: {'yes' if has_cuda else why}; {len(asked)} steps, set-up + step budgets {total} s "
          f"(limit {RUN_LIMIT_S}; compile time counts)"
          + (" (dry run: each step may take 4x its budget)" if a.dry_run else ""), flush=True)
    results = []
    if a.dry_run:  # the budgets are the GPU run's; a busy CPU doing the same steps small needs more
        for step in plan:
            step["budget"] *= 4
    with open(out / "bench.log", "w") as log:
        for step in plan:
            if not wanted(step, a.only):
                why_not = "skipped: not asked (--only)" if a.only else "skipped: optional (--only runs it)"
                res = {"step": step["name"], "status": why_not, "seconds": 0.0, "budget": step["budget"]}
            elif step["cuda"] and not has_cuda:
                res = {"step": step["name"], "status": "skipped: no CUDA", "seconds": 0.0, "budget": step["budget"]}
            else:
                print(f"--- {step['name']} (budget {step['budget']} s)", flush=True)
                res = run_step(step, out, log)
            results.append(res)
            print(f"    {res['status']} in {res['seconds']} s", flush=True)
    records: list[dict] = []
    for step in plan:
        f = out / step.get("json", "-")
        if "json" in step and f.is_file():
            got = json.loads(f.read_text())
            records += got if isinstance(got, list) else [got]  # the training burst writes one record
            f.unlink()
    (out / "bench_gpu.json").write_text(json.dumps(records, indent=1))
    (out / "benchmarks_rows.md").write_text(table_rows(records, card) + trace_tables(records) + "\n"
                                            + "\n".join(targets(records)) + "\n")
    chart = subprocess.run([sys.executable, "tools/bench_chart.py", str(out / "bench_gpu.json"), str(out / "bench_gpu.svg"),
                            "--target", "90", "--title", f"artem-vr pipeline, stereo ({card})"],
                           capture_output=True, text=True, cwd=ROOT)
    lines = [f"gpu_check on {card} (commit {os.environ.get('ARTEM_COMMIT', 'unknown')}), "
             f"{'dry run' if a.dry_run else 'full run'}, {time.monotonic() - t_start:.0f} s of steps:"]
    lines += [f"  {r['step']:<32} {r['status']:<28} {r['seconds']:>6.1f} s (budget {r['budget']} s)" for r in results]
    lines.append(f"  chart: {'ok' if chart.returncode == 0 else 'failed: ' + chart.stderr.strip()[-200:]}")
    bench_log = (out / "bench.log").read_text()
    lines += [ln for ln in bench_log.splitlines()
              if ln.startswith(("defaults ", "matmul peak")) or " vs fast " in ln or " vs eager " in ln]
    lines += profile_lines(records)
    lines += ways_lines(records)
    lines += trace_lines(records)
    lines += targets(records)
    lines.append(f"  {sum('stereo_fps' in r for r in records)} pipeline records, "
                 f"{sum(r.get('kind') == 'layer_profile' for r in records)} layer profiles, "
                 f"{sum(r.get('kind') == 'comfort_profile' for r in records)} comfort profiles, "
                 f"{sum('layer' in r for r in records)} XNOR layer records, {sum('failed' in r for r in records)} failed")
    text = "\n".join(lines) + "\n"
    (out / "summary.txt").write_text(text)
    print(text, flush=True)
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
