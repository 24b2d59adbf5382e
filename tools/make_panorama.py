"""Make the simulated camera's 360° panorama procedurally: assets/panorama/sim_panorama.jpg.

    python tools/make_panorama.py [--out assets/panorama/sim_panorama.jpg] [--width 2048] [--seed 7]

An equirectangular image (2:1; longitude across, the centre column straight ahead, right to
the right; latitude up): a sky gradient with soft clouds, a ring of mountains on the horizon,
a textured meadow with stripes of colour below, coloured posts every 30° of yaw (so a turn is
easy to see), and the landmark — a magenta disc (:data:`~artem_vr.sources.sim_camera.LANDMARK_RGB`)
at yaw :data:`~artem_vr.sources.sim_camera.LANDMARK_YAW_DEG` on the horizon, the only magenta in
the picture (the latency evaluation finds it by colour). Deterministic for a seed; written
atomically, JPEG quality 85 (about 0.5 MB at 2048×1024). The file is generated here from nothing
but this script, so it carries the project's licence (see assets/panorama/README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from artem_vr.atomic import write_image_atomic
from artem_vr.sources.sim_camera import LANDMARK_RADIUS_DEG, LANDMARK_RGB, LANDMARK_YAW_DEG

ROOT = Path(__file__).resolve().parents[1]


def noise(rng: np.random.Generator, h: int, w: int, blur: float) -> np.ndarray:
    """Smooth noise in about [-1, 1], periodic across (the panorama wraps at ±180°)."""
    n = rng.standard_normal((h, w)).astype(np.float32)
    wide = cv2.GaussianBlur(np.concatenate([n, n, n], axis=1), (0, 0), blur)[:, w: 2 * w]
    return wide / (np.abs(wide).max() + 1e-6)


def make_panorama(width: int = 2048, seed: int = 7) -> np.ndarray:
    """uint8 (width / 2, width, 3) RGB."""
    h, w = width // 2, width
    rng = np.random.default_rng(seed)
    lat = (0.5 - (np.arange(h) + 0.5) / h)[:, None] * 180.0  # degrees, + up
    lon = ((np.arange(w) + 0.5) / w - 0.5)[None, :] * 360.0  # degrees, + right
    img = np.zeros((h, w, 3), np.float32)
    # sky: deep blue at the zenith to pale at the horizon, with clouds
    s = np.clip(lat / 90.0, 0, 1)
    sky = (1 - s)[..., None] * np.array([0.75, 0.85, 0.95]) + s[..., None] * np.array([0.15, 0.35, 0.75])
    clouds = np.clip(noise(rng, h, w, 18) * 1.6 + noise(rng, h, w, 5) * 0.4, 0, 1)[..., None]
    img[:] = np.broadcast_to(sky, (h, w, 3)) * (1 - 0.7 * clouds) + 0.7 * clouds * np.array([0.97, 0.97, 0.98])
    # ground: meadow texture with colour bands by longitude
    ground = lat[:, 0] < 0
    tex = noise(rng, h, w, 2.0) * 0.5 + noise(rng, h, w, 8.0) * 0.5
    band = 0.5 + 0.5 * np.sin(np.radians(lon) * 6)
    g = np.stack([0.25 + 0.15 * band + 0.1 * tex, 0.45 + 0.15 * tex, 0.15 + 0.1 * (1 - band) + 0.05 * tex], -1)
    img[ground] = np.broadcast_to(g, (h, w, 3))[ground]
    # mountains: a periodic ridge line between 0° and ~14° of elevation, with snow caps
    x = np.radians(lon[0])
    ridge = 6 + sum(a * np.sin(k * x + rng.uniform(0, 2 * np.pi)) for k, a in ((2, 3.0), (5, 2.0), (11, 1.2), (23, 0.6)))
    under = (lat >= 0) & (lat < ridge[None, :])
    rock = np.stack([0.38 + 0.12 * tex, 0.36 + 0.1 * tex, 0.42 + 0.1 * tex], -1)
    img[under] = rock[under]
    snow = under & (lat > ridge[None, :] - 1.6) & (ridge[None, :] > 8)
    img[snow] = np.array([0.95, 0.95, 0.97])
    img = np.clip(img, 0, 1)
    out = np.ascontiguousarray(np.rint(img * 255).astype(np.uint8))
    # posts every 30° of yaw (yaw is + left, longitude + right), each its own colour; none at the landmark
    colours = [(230, 60, 40), (250, 200, 30), (40, 160, 230), (250, 130, 20), (30, 200, 120), (240, 240, 240)]
    for i, yaw in enumerate(range(-180, 180, 30)):
        if yaw == round(LANDMARK_YAW_DEG):
            continue
        col = int(((-yaw) / 360.0 + 0.5) * w) % w
        half = max(2, w // 720)
        top, bottom = int((0.5 - 12 / 180) * h), int((0.5 + 10 / 180) * h)
        out[top:bottom, max(0, col - half): col + half] = colours[i % len(colours)]
    # the landmark: a magenta disc on the horizon, with a dark ring so it stands out on any style
    cx = ((-LANDMARK_YAW_DEG) / 360.0 + 0.5) * w - 0.5
    cy = h / 2 - 0.5
    r = LANDMARK_RADIUS_DEG / 360.0 * w
    cv2.circle(out, (int(round(cx)), int(round(cy))), int(round(r * 1.35)), (20, 20, 20), -1, lineType=cv2.LINE_AA)
    cv2.circle(out, (int(round(cx)), int(round(cy))), int(round(r)), LANDMARK_RGB, -1, lineType=cv2.LINE_AA)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "assets/panorama/sim_panorama.jpg"))
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--quality", type=int, default=85)
    a = p.parse_args(argv)
    img = make_panorama(a.width, a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(out, img, what="panorama", quality=a.quality)
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]}, {out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
