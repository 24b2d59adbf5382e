"""Which normalization's statistics estimate costs the foveated window its accuracy (issue 20).

For each held-out photo: the full-resolution stylization records every normalization's exact
statistics; then the foveated stylizer runs with the shipped calibration except that a chosen set
of normalizations gets the exact ones (an oracle no real frame has). Printed per set, the window
core's PSNR against the full-resolution stylization (min / mean over photos and eyes):
``cal`` (none exact, as shipped), ``all`` (every one exact), ``onlyI`` (only I exact),
``all_butI`` (every one exact but I: what I's estimate alone costs), ``firstK``.

    python tools/fovea_attribution.py --method xnor --photos DATA/content --count 4

Results: docs/benchmarks.md, "Foveation" ("Which normalization binds").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from artem_vr.style.methods import make_stylizer
from artem_vr.style.norm import stats_filter
from artem_vr.temporal.fovea_fit import core_psnr, load_photo
from artem_vr.temporal.foveate import FoveaCalibration, FoveatedStylizer

FITTED = Path(__file__).resolve().parents[1] / "tests" / "temporal" / "fovea_fitted_photos.txt"


class PartlyExact(FoveaCalibration):
    """The shipped calibration, except normalizations in ``exact`` take the recorded statistics."""

    def __init__(self, base: FoveaCalibration, recorded: list, exact: set[int]):
        super().__init__(base.mean_w, base.var_w, base.meta, base.periphery, base.path)
        self.recorded, self.exact = recorded, exact

    def estimate(self, i, whole, low, high, share, compile=False):
        return self.recorded[i] if i in self.exact else super().estimate(i, whole, low, high, share, compile)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="xnor", help="generator | xnor | adain (default xnor; its default style)")
    ap.add_argument("--photos", type=Path, required=True, help="a folder of photos (those not fitted on are used)")
    ap.add_argument("--count", type=int, default=4, help="held-out photos (default 4)")
    ap.add_argument("--height", type=int, default=384, help="photo height in px (default 384)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    s = make_stylizer(a.method, None, **({"engine": "eager"} if a.method in ("generator", "xnor") else {}))
    fitted = {n for n in FITTED.read_text().split("\n") if n and n[0] != "#"}
    files = [p for p in sorted(a.photos.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")
             and p.name not in fitted][:a.count]
    res: dict[str, list[float]] = {}
    for p in files:
        x = load_photo(p, a.height)
        recorded = []
        with stats_filter(lambda _key, m, v: (recorded.append((m.float(), v.float())), (m, v))[1]):
            s.stylize(x)
        probe = FoveatedStylizer(s)
        probe._pick_estimate()  # noqa: SLF001  (the shipped calibration of this network)
        n = len(recorded)
        sets = {"cal": set(), "all": set(range(n))}
        for i in range(n):
            sets[f"only{i}"], sets[f"all_but{i}"] = {i}, set(range(n)) - {i}
        for k in range(1, min(n, 4) + 1):
            sets[f"first{k}"] = set(range(k))
        for name, exact in sets.items():
            res.setdefault(name, []).extend(core_psnr(s, x, FoveatedStylizer(s, calibration=PartlyExact(probe._calibration, recorded, exact))))  # noqa: SLF001
        print(f"{p.name}: {n} normalizations", flush=True)
    for name, v in res.items():
        print(f"{a.method} {name:10s} min {min(v):6.2f}  mean {sum(v) / len(v):6.2f} dB")


if __name__ == "__main__":
    main()
