"""Engines side by side in one run, interleaved: the generators (compact, full) on the eager, fast
and ort engines, and a Dumoulin-style peer network (Dumoulin et al. 2017: 9x9 and 3x3 convolutions,
five residual blocks at 128 channels, nearest upsample + conv, instance norm, zero padding inside
the convolutions) built here in torch and run on ONNX Runtime — the same size class (~154 k MAC
per pixel) as the full generator. Random weights (speed does not depend on them).

Each round times every configuration once, so a change of machine load hits them all alike;
the median over rounds is reported with the effective GMAC/s beside the measured fp32 matmul
peak, and the 1-minute load average before and after.

    .venv/bin/python tools/bench_engines.py --threads 2 --size 256 --rounds 15 [--json out/engines.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn


def peer_network() -> nn.Module:
    """The Dumoulin-style peer: zero-padded convs (padding in the conv), instance norm, ReLU."""

    def conv(cin, cout, k, stride=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, padding=k // 2), nn.InstanceNorm2d(cout, affine=True)]
        return layers + [nn.ReLU()] if act else layers

    class Res(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(*conv(c, c, 3), *conv(c, c, 3, act=False))

        def forward(self, x):
            return x + self.body(x)

    return nn.Sequential(
        *conv(3, 32, 9), *conv(32, 64, 3, 2), *conv(64, 128, 3, 2), *[Res(128) for _ in range(5)],
        nn.Upsample(scale_factor=2, mode="nearest"), *conv(128, 64, 3),
        nn.Upsample(scale_factor=2, mode="nearest"), *conv(64, 32, 3),
        nn.Conv2d(32, 3, 9, padding=4), nn.Sigmoid()).eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--eyes", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from artem_vr.bench_floors import count_macs, matmul_peak_tflops
    from artem_vr.style.engine import OrtEngine, make_engine
    from artem_vr.style.generator import ARCHS, TransformNet

    load0 = os.getloadavg()[0]
    peak = matmul_peak_tflops(torch.device("cpu"), torch.float32) * 1e3  # GFLOP/s
    x = torch.rand(args.eyes, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    nets = {"compact": TransformNet(ARCHS["compact"]).eval(), "full": TransformNet(ARCHS["full"]).eval(),
            "peer": peer_network()}
    configs = {}
    for name, net in nets.items():
        macs = count_macs(net, x)
        for kind in (("ort",) if name == "peer" else ("eager", "fast", "ort", "ort-spin")):
            eng = OrtEngine("cpu", spin=True) if kind == "ort-spin" else make_engine(kind, "cpu")
            eng.load(net)
            configs[(name, kind)] = (eng, macs)
    times = {k: [] for k in configs}
    with torch.inference_mode():
        for eng, _ in configs.values():  # warm-up (first-run allocations, oneDNN/ORT plans)
            eng(x), eng(x)
        for _ in range(args.rounds):
            for k, (eng, _) in configs.items():
                t = time.perf_counter()
                eng(x)
                times[k].append(time.perf_counter() - t)
    load1 = os.getloadavg()[0]
    rows = []
    print(f"{args.eyes}x{args.size}x{args.size}, {args.threads} threads, {args.rounds} interleaved rounds; "
          f"fp32 matmul peak {peak:.1f} GFLOP/s = {peak / 2:.1f} GMAC/s; load average {load0:.2f} -> {load1:.2f} "
          f"on {os.cpu_count()} cores")
    for (name, kind), (_eng, macs) in configs.items():
        ms = float(np.median(times[(name, kind)])) * 1e3
        gmacs = macs / ms / 1e6
        base = float(np.median(times[(name, "fast")])) * 1e3 if (name, "fast") in times else None
        rows.append({"network": name, "engine": kind, "ms": round(ms, 2), "fps": round(1e3 / ms, 1),
                     "mac_per_px": round(macs / x[0, 0].numel()), "gmac_s": round(gmacs, 2),
                     "peak_fraction": round(gmacs / (peak / 2), 3), "vs_fast": round(base / ms, 2) if base else None})
        r = rows[-1]
        print(f"{name:8s} {kind:8s} {ms:8.2f} ms {r['fps']:7.1f} FPS  {r['mac_per_px'] / 1e3:6.1f} kMAC/px  "
              f"{gmacs:6.2f} GMAC/s ({100 * r['peak_fraction']:.0f}% of peak)"
              + (f"  {r['vs_fast']:.2f}x fast" if r["vs_fast"] else ""))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"peak_gflops": peak, "load": [load0, load1], "threads": args.threads, "rows": rows}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
