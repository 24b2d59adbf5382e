#!/usr/bin/env python3
"""Soak benchmark (not a test): run `artem-vr run` headless for N minutes and report RSS growth.

    .venv/bin/python tools/soak.py --minutes 10                      # the built-in sample
    .venv/bin/python tools/soak.py --minutes 2 --source clip.mp4 --method generator
    .venv/bin/python tools/soak.py --minutes 5 --source http://127.0.0.1:8080/video

The child's resident memory (VmRSS from /proc) is sampled every ``--every`` seconds. Growth is
measured from the end of the warm-up (the first ``--warmup`` seconds: models load, caches fill)
to the end, as a percentage and as MB/min from a least-squares fit over the samples, which a
single noisy sample does not sway. At the end the child gets SIGTERM, which also exercises the
clean-exit path: its exit code (143) and summary line are reported. Exit status 0 when the
fitted growth is under ``--max-growth-mb-per-min``, else 1.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        return None
    return None


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t seconds, MB) → MB per second."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before the baseline sample")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--source", default="sample")
    ap.add_argument("--method", default=None)
    ap.add_argument("--eye-size", default="320x180")
    ap.add_argument("--record", action="store_true", help="also record (exercises the atomic writer)")
    ap.add_argument("--max-growth-mb-per-min", type=float, default=2.0)
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.every <= 0 or args.warmup < 0:
        ap.error("--minutes and --every must be > 0, --warmup >= 0")

    out = Path(tempfile.mkdtemp(prefix="artem-soak-"))
    cmd = [sys.executable, "-m", "artem_vr", "run", "--output", "headless", "--source", args.source,
           "--frames", "100000000", "--eye-size", args.eye_size, "--out", str(out)]
    if args.method:
        cmd += ["--method", args.method]
    if args.record:
        cmd += ["--record", str(out / "soak.mp4")]
    print("soak:", " ".join(cmd[2:]), flush=True)
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    end = t0 + args.warmup + args.minutes * 60
    samples: list[tuple[float, float]] = []
    try:
        while time.monotonic() < end and child.poll() is None:
            time.sleep(args.every)
            v = rss_mb(child.pid)
            if v is None:
                break
            t = time.monotonic() - t0
            if t >= args.warmup:
                samples.append((t, v))
                print(f"  t={t:7.1f} s  RSS {v:8.1f} MB", flush=True)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
    summary = [ln for ln in stdout.splitlines() if ln.startswith(("presented", "recorded"))]
    print(f"child exit code {child.returncode} (SIGTERM: expect 143)")
    for ln in summary:
        print("child:", ln)
    if args.record and (out / "soak.mp4").exists():
        from artem_vr.atomic import count_video_frames

        print(f"recording plays: {count_video_frames(out / 'soak.mp4')[0]} frames decode")
    shutil.rmtree(out, ignore_errors=True)
    if child.returncode not in (0, 128 + signal.SIGTERM):
        print("child stderr:", stderr.strip()[-2000:])
    if len(samples) < 2:
        print("too few samples after the warm-up: run longer")
        return 1
    first, last = samples[0][1], samples[-1][1]
    per_min = slope(samples) * 60
    print(f"RSS {first:.1f} → {last:.1f} MB over {(samples[-1][0] - samples[0][0]) / 60:.1f} min after a "
          f"{args.warmup:g} s warm-up: {100 * (last - first) / first:+.1f} %, fitted {per_min:+.2f} MB/min "
          f"(peak {max(v for _, v in samples):.1f} MB)")
    return 0 if per_min < args.max_growth_mb_per_min else 1


if __name__ == "__main__":
    sys.exit(main())
