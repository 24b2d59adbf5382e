"""`artem-vr bench`: the app's own pipeline, timed per stage, per method, engine and eye size.

What one configuration builds and measures (the app's pipeline with an unpaced source, the
stages, ``stereo_fps`` / ``network_fps``, the flop and traffic floors) is described in
:mod:`artem_vr.bench_run`, which runs it.

This module is the command: its options (:func:`artem_vr.options.add_bench_options`) are parsed once into a frozen, checked :class:`BenchConfig`
(no Namespace goes further); one configuration runs in :mod:`artem_vr.bench_run`, the floors are
:mod:`artem_vr.bench_floors`, the per-layer XNOR records :mod:`artem_vr.bench_xnor`, the per-layer
profile :mod:`artem_vr.layer_profile` and the per-op trace of a row (``--trace``) :mod:`artem_vr.bench_trace`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from artem_vr.bench_floors import copy_bandwidth_gbs, loadavg, measure_peaks
from artem_vr.bench_run import bench_config, engine_config, print_record, summary_lines
from artem_vr.bench_xnor import bench_layers
from artem_vr.bench_xr import bench_xr
from artem_vr.config import parse_size
from artem_vr.cuda.device import resolve_device
from artem_vr.atomic import check_can_create, write_text_atomic
from artem_vr.errors import InvalidNumber, UsageError, shown
from artem_vr.options import ENGINES, LAYOUTS, PRECISIONS
from artem_vr.layer_profile import DEFAULT_NETWORKS, profile_comfort_network, profile_network, write_profile
from artem_vr.records import commit_id, device_name, now_utc as _now
from artem_vr.text import counted, did_you_mean, say

GPU_EYE_SIZES = [(960, 1080), (1440, 1600), (2016, 2240)]
CPU_EYE_SIZES = [(256, 256)]
#: method → its shipped architectures (the bench measures what ships)
METHOD_ARCHS = {"generator": ("compact", "full"), "xnor": ("compact",), "adain": ("fast", "full"), "identity": ("-",)}


# ------------------------------------------------------------------------------- parsing
def parse_methods(specs: list[str]) -> list[tuple[str, str]]:
    out = []
    for s in specs:
        m, _, a = s.partition(":")
        if m not in METHOD_ARCHS:
            raise UsageError(f"unknown method {m!r} for bench{did_you_mean(m, METHOD_ARCHS)}", f"choose from {', '.join(METHOD_ARCHS)}")
        archs = [a] if a else [METHOD_ARCHS[m][0]] if m == "adain" else list(METHOD_ARCHS[m])
        for arch in archs:
            if arch not in METHOD_ARCHS[m]:
                raise UsageError(f"no shipped {arch!r} model for {m}", f"choose from {', '.join(METHOD_ARCHS[m])}")
            out.append((m, arch))
    return out


# ------------------------------------------------------------------------------- the config
def _finite(option: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidNumber(f"{option} {value} is not a finite number", "give an ordinary number, e.g. 0.5")
    return float(value)


def _choices(option: str, values: tuple, allowed: tuple) -> None:
    for v in values:
        if v not in allowed:
            raise UsageError(f"{option} {v!r} is not one of {', '.join(allowed)}", f"choose from {', '.join(allowed)}")


#: the longest --seconds / --warmup per configuration: a typo such as 1e308 would never end
MAX_SECONDS = 3600


@dataclass(frozen=True)
class BenchConfig:
    """`artem-vr bench`, parsed once and checked. ``None`` means the device's default (chosen in
    :func:`run_config`, once the device is known): methods, eye sizes, eyes, engines, warm-up."""

    methods: tuple[tuple[str, str], ...] | None = None
    eye_sizes: tuple[tuple[int, int], ...] | None = None
    eyes: int | None = None
    seconds: float = 3.0
    warmup: float | None = None
    device: str = "cpu"  # resolved (cuda/device.resolve_device)
    engines: tuple[str, ...] | None = None
    precisions: tuple[str, ...] = ("auto",)
    layouts: tuple[str, ...] = ("auto",)
    graphs: tuple[bool, ...] = (True,)
    compile: bool = True
    threads: int | None = None
    internal_scale: float = 1.0
    comfort: bool = False
    foveate: bool = False
    upload: str = "auto"
    layers: bool = False
    layers_only: bool = False
    profile: Path | None = None
    reps: int = 5
    trace: bool = False
    json: Path | None = None
    commit: str | None = None
    output: str = "none"

    def __post_init__(self):
        _finite("--seconds", self.seconds)
        if not 0 < self.seconds <= MAX_SECONDS:
            raise UsageError(f"--seconds {shown(self.seconds)} is out of range",
                             f"give a positive number up to {MAX_SECONDS} (an hour per configuration), e.g. --seconds 3")
        if self.warmup is not None and not 0 <= _finite("--warmup", self.warmup) <= MAX_SECONDS:
            raise UsageError(f"--warmup {shown(self.warmup)} is out of range", f"give 0 to {MAX_SECONDS} seconds, e.g. --warmup 1")
        _finite("--internal-scale", self.internal_scale)
        if not 0.0 < self.internal_scale <= 1.0:
            raise UsageError(f"--internal-scale {shown(self.internal_scale)} is out of range", "use a value in (0, 1]")
        if self.eyes not in (None, 1, 2):
            raise UsageError(f"--eyes {self.eyes} is not 1 or 2", "--eyes 1 (mono) or --eyes 2 (stereo)")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads {self.threads} must be at least 1", "e.g. --threads 4")
        if self.reps < 1:
            raise UsageError(f"--reps {self.reps} must be at least 1", "e.g. --reps 5")
        _choices("--engine", self.engines or (), ENGINES)
        _choices("--precision", self.precisions, PRECISIONS)
        _choices("--layout", self.layouts, LAYOUTS)
        _choices("--upload", (self.upload,), ("auto", "host"))
        _choices("--output", (self.output,), ("none", "xr"))
        if self.trace and (self.profile is not None or self.output == "xr" or self.layers_only):
            other = ("--profile" if self.profile is not None else "--output xr" if self.output == "xr"
                     else "--layers-only")
            raise UsageError(f"--trace traces the pipeline rows, which {other} does not run",
                             f"drop --trace or {other}" + (" (--profile DIR times the network's layers alone; "
                                                           "--trace every op of a row's whole stylizer)"
                                                           if other == "--profile" else ""))
        check_can_create(self.json)  # said now, not after the measurements
        check_can_create(self.profile, folder=True)
        for option, values in (("--precision", self.precisions), ("--layout", self.layouts), ("--graph", self.graphs)):
            if not values:
                raise UsageError(f"{option} needs at least one value", f"e.g. {option} auto")

    @classmethod
    def from_args(cls, args) -> "BenchConfig":
        """The command line's values; the Namespace goes no further than this."""
        return cls(
            methods=tuple(parse_methods(args.method)) if args.method else None,
            eye_sizes=tuple(parse_size(s) for s in args.eye_size) if args.eye_size else None,
            eyes=args.eyes, seconds=args.seconds, warmup=args.warmup, device=resolve_device(args.device),
            engines=tuple(args.engine) if args.engine else None, precisions=tuple(args.precision),
            layouts=tuple(args.layout), graphs=tuple(g == "on" for g in args.graph), compile=args.compile == "on",
            threads=args.threads, internal_scale=args.internal_scale, comfort=args.comfort == "on",
            foveate=args.foveate == "on", upload=args.upload, layers=args.layers, layers_only=args.layers_only,
            profile=args.profile, reps=args.reps, trace=args.trace, json=args.json, commit=args.commit,
            output=args.output)


def _write_json(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(records, indent=1), what="bench JSON")


# ------------------------------------------------------------------------------- per-layer profile
def run_profile(config: BenchConfig, dev: torch.device) -> int:
    """``--profile DIR``: :func:`artem_vr.layer_profile.profile_network` for each method × engine;
    the files are rewritten after every network (a timeout keeps what was measured)."""

    cuda = dev.type == "cuda"
    size = config.eye_sizes[0] if config.eye_sizes else ((1440, 1600) if cuda else (64, 48))
    eyes = config.eyes or 2
    methods = list(config.methods) if config.methods else list(DEFAULT_NETWORKS)
    engines = list(config.engines) if config.engines else (["fast", "fused"] if cuda else ["fast"])
    commit = commit_id(config.commit)
    bandwidth = copy_bandwidth_gbs(dev)
    say(f"device: {device_name(dev)}; copy bandwidth {bandwidth:.1f} GB/s; profiling at {eyes}x{size[0]}x{size[1]}",
          flush=True)
    jobs = []  # every eager engine first: the fused compile comes after the tables it is compared with
    for e in sorted(engines, key=lambda e: e == "fused"):
        for m, a in methods:
            e2 = e if m in ("generator", "xnor") else "eager"  # AdaIN has one (eager, autocast) path
            if (m == "xnor" and e2 == "fused") or (m, a, e2) in jobs:
                continue
            jobs.append((m, a, e2))
    if not jobs:
        raise UsageError("nothing to profile", "give --method generator:full adain:fast (xnor has no fused engine)")
    records: list[dict] = []
    failed = 0
    for m, a, e in jobs:
        t0 = time.perf_counter()
        say(f"--- {m}:{a} {e}" + (" (compiling the fused stages first)" if e == "fused" else ""), flush=True)
        eng = engine_config(dev, e, "auto", "auto", config.compile) if e == "fused" else e
        try:
            r = profile_network(m, a, size, eyes, dev, engine=eng, reps=config.reps, warmup=2, bandwidth=bandwidth,
                                commit=commit)
        except Exception as err:  # noqa: BLE001 — one failing network is reported (exit 1); the others are still profiled
            failed += 1
            say(f"{m}:{a} {e}: FAILED ({type(err).__name__}: {err})", flush=True)
            if cuda:
                torch.cuda.empty_cache()
            continue
        records.append(r)
        write_profile(records, config.profile, config.json)
        top = sorted(r["by_kind"].items(), key=lambda kv: -kv[1]["time_ms"])[:4]
        say(f"{m}:{a} {r['engine']}: stylize {r['forward_ms']:.3f} ms (rows {r['sum_ms']:.3f}); "
              + ", ".join(f"{k} {100 * (v['share'] or 0):.0f} %" for k, v in top)
              + f" [{time.perf_counter() - t0:.0f} s]", flush=True)
        if config.comfort:
            t0 = time.perf_counter()
            try:
                c = profile_comfort_network(m, a, size, eyes, dev, engine=eng, commit=commit)
            except Exception as err:  # noqa: BLE001 — reported (exit 1) like a network's; the others still run
                failed += 1
                say(f"{m}:{a} {e} comfort steps: FAILED ({type(err).__name__}: {err})", flush=True)
                continue
            records.append(c)
            write_profile(records, config.profile, config.json)
            top = sorted(c["rows"], key=lambda row: -row["time_ms"])[:3]
            say(f"{m}:{a} {c['engine']} comfort steps ({'compiled' if c['compiled'] else 'eager'}): "
                f"{c['cost_ms']:.3f} ms over stylize {c['stylize_ms']:.3f} ms "
                f"({100 * (c['comfort_share'] or 0):.0f} %); "
                + ", ".join(f"{row['wrapper']} {row['step']} {row['time_ms']:.2f} ms" for row in top)
                + f" [{time.perf_counter() - t0:.0f} s]", flush=True)
    say(f"wrote {config.profile / 'profile_layers.md'} and {config.json or config.profile / 'profile_layers.json'}", flush=True)
    return 1 if failed else 0


# ------------------------------------------------------------------------------- command
def run(args) -> int:
    return run_config(BenchConfig.from_args(args))


def run_config(config: BenchConfig) -> int:
    """`artem-vr bench` as ``config`` asks: prints each record, writes them to ``config.json``."""
    if config.output == "xr":
        result = bench_xr(seconds=config.seconds)
        if config.json:
            _write_json(config.json, result)
            say(f"wrote the XR bench to {config.json}", flush=True)
        return 0
    if config.threads:
        torch.set_num_threads(config.threads)
    dev = torch.device(config.device)
    cuda = dev.type == "cuda"
    if config.profile is not None:
        return run_profile(config, dev)
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    sizes = list(config.eye_sizes) if config.eye_sizes else (GPU_EYE_SIZES if cuda else CPU_EYE_SIZES)
    if not cuda and not config.eye_sizes:
        say("no CUDA: benchmarking the CPU path at 256x256 (pass --eye-size for others)", flush=True)
    eyes = config.eyes or (2 if cuda else 1)
    methods = list(config.methods) if config.methods else parse_methods(["generator", "adain", "xnor"] if cuda else ["generator"])
    engines = list(config.engines) if config.engines else (["auto"] if cuda else ["ort", "fast", "eager"])
    commit = commit_id(config.commit)
    records: list[dict] = []

    def save():
        if config.json:  # after every record: a crash or timeout keeps what was measured
            _write_json(config.json, records)

    if config.layers or config.layers_only:  # first: the XNOR target's only evidence
        lay = bench_layers(dev, sizes[min(1, len(sizes) - 1)], eyes, commit=commit)
        for r in lay:
            say(f"layer {r['layer']} {r['shape']}: xnor conv {r['xnor_conv_popc_ms']:.3f} ms (mma {r['xnor_conv_mma_ms']}), "
                  f"layer f16 {r['xnor_layer_f16_ms']:.3f} / f32 {r['xnor_layer_f32_ms']:.3f} | cuDNN fp16 "
                  f"{r['cudnn_fp16_ms']:.3f} / fp32 {r['cudnn_fp32_ms']:.3f}", flush=True)
        records.extend(lay)
        save()
        if config.layers_only:
            return 0
    say(f"device: {device_name(dev)}; load average {loadavg():.2f}; measuring matmul peak and copy bandwidth ...", flush=True)
    peaks = measure_peaks(dev)
    bandwidth = copy_bandwidth_gbs(dev)
    say("matmul peak TFLOP/s: " + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items())
          + f"; copy bandwidth {bandwidth:.1f} GB/s", flush=True)
    failed = 0
    for size in sizes:
        for m, a in methods:
            variants = [("eager", "auto", "auto")] if m not in ("generator", "xnor") else []
            if m == "adain" and "fused" in engines:  # AdaIN: its eager path, and its fused stages
                variants += [("fused", p, lay) for p in config.precisions for lay in config.layouts]
            if m in ("generator", "xnor"):
                for e in engines:
                    if e in ("auto", "eager", "ort"):
                        variants.append((e, "auto" if e == "auto" else "fp32", "auto" if e == "auto" else "nchw"))
                        continue
                    variants += [(e, p, lay) for p in config.precisions for lay in config.layouts]
            if m == "xnor":  # binarized convolutions: no fused stages
                variants = [v for v in variants if v[0] != "fused"]
            for e, p, lay, g in [v + (g,) for v in variants for g in config.graphs]:
                try:
                    r = bench_config(m, a, size, eyes, dev, config.seconds, engine=e, precision=p, layout=lay, graph=g,
                                     internal_scale=config.internal_scale, comfort=config.comfort,
                                     upload=config.upload, peaks=peaks, bandwidth=bandwidth, commit=commit,
                                     compile=config.compile, foveate=config.foveate, warmup=config.warmup,
                                     trace=config.trace)
                except Exception as err:  # noqa: BLE001 — one failing configuration is recorded; the run goes on
                    failed += 1
                    say(f"{m}:{a} {size[0]}x{size[1]} {e}/{p}/{lay}/graph {'on' if g else 'off'}: FAILED "
                          f"({type(err).__name__}: {err})", flush=True)
                    records.append({"method": m, "arch": a, "eye_size": list(size), "eyes": eyes, "engine": e,
                                    "precision": p, "layout": lay, "graph": "on" if g else "off", "failed": f"{type(err).__name__}: {err}",
                                    "device": device_name(dev), "commit": commit, "date": _now()})
                    if cuda:
                        torch.cuda.empty_cache()
                    save()
                    continue
                records.append(r)
                print_record(r)
                save()
    for line in summary_lines(records):
        say(line, flush=True)
    save()
    if config.json:
        say(f"wrote {counted(len(records), 'record')} to {config.json}", flush=True)
    if failed:
        say(f"{failed} configuration(s) failed (recorded with the error)", flush=True)
    return 0
