"""Bar chart (SVG, no dependencies) of `artem-vr bench` records: FPS per method and eye size.

    python tools/bench_chart.py docs/bench/cpu_256_mono.json docs/bench/cpu_256_mono.svg [--target 20]

One bar per record (stereo FPS of the whole measured frame), grouped by eye size, a dashed line
at ``--target`` FPS (90 for the headset, 20 for the CPU default), and the stylize-only FPS as a
thin mark on each bar.
"""

from __future__ import annotations

import argparse
import json
from html import escape
from pathlib import Path


def chart(records: list[dict], target: float, title: str) -> str:
    rows = [r for r in records if "stereo_fps" in r]
    if not rows:
        raise SystemExit("no pipeline records (stereo_fps) in the input")
    bar_h, gap, left, width = 18, 6, 250, 460
    vmax = max(max(max(r["stereo_fps"], r.get("stylize_fps", 0)) for r in rows), target) * 1.1
    height = 50 + len(rows) * (bar_h + gap) + 30
    x = lambda v: left + width * v / vmax  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14">{escape(title)}</text>']
    y = 40
    for r in rows:
        label = f"{r['method']}:{r.get('arch', '')} {r['eye_size'][0]}x{r['eye_size'][1]} x{r['eyes']}"
        fps, sty = r["stereo_fps"], r.get("stylize_fps", r["stereo_fps"])
        color = "#3a7" if fps >= target else "#c63"
        out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(fps) - left:.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<line x1="{x(sty):.1f}" y1="{y}" x2="{x(sty):.1f}" y2="{y + bar_h}" stroke="#333" stroke-width="2"/>')
        out.append(f'<text x="{x(max(fps, sty)) + 4:.1f}" y="{y + 13}">{fps:.1f}</text>')
        y += bar_h + gap
    out.append(f'<line x1="{x(target):.1f}" y1="35" x2="{x(target):.1f}" y2="{y}" stroke="#000" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x(target) + 3:.1f}" y="{y + 14}">target {target:g} FPS</text>')
    dev = rows[0].get("device", "")
    out.append(f'<text x="10" y="{height - 6}" fill="#555">{escape(dev)}; bar: whole frame, mark: stylize alone</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", type=Path)
    p.add_argument("svg", type=Path)
    p.add_argument("--target", type=float, default=90.0)
    p.add_argument("--title", default=None)
    a = p.parse_args()
    recs = json.loads(a.json.read_text())
    a.svg.write_text(chart(recs, a.target, a.title or f"artem-vr bench: {a.json.name}"))
    print(f"wrote {a.svg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
