"""The bundled sample: a procedurally generated, animated landscape (no file needed).

A sky gradient with a sun, drifting clouds, a hot-air balloon, and four layers of land
(snowy mountains, green hills with fields and a farmhouse, a row of trees, a meadow with
flowers) that scroll with parallax, like a view from a train window. It is textured and
colourful, so that style transfer has something to work on, and **deterministic**: frame
``i`` is always the same picture (seeded noise, integer scroll offsets). The animation loops
every :attr:`SampleScene.period` frames.

``sbs=True`` renders a side-by-side stereo pair (left eye | right eye, each ``width`` wide):
each layer is shifted by its own disparity (far mountains 1 px … meadow 14 px), nearer
things more, so the halves differ like two eyes' views.

:class:`SampleScene` is pure (frame index → RGB uint8 image); :class:`SampleSource` paces it
as a :class:`~artem_vr.sources.base.FrameSource`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from artem_vr.errors import UsageError
from artem_vr.sources.base import FrameSource


@dataclass
class _Layer:
    """A horizontally periodic strip, ready for ``out = out * inv_alpha / 256 + premul``
    (alpha in 1/256ths; uint16 so that OpenCV's saturating SIMD arithmetic can do it)."""

    premul: np.ndarray  # (h, Wt + pad, 3) uint16: rgb * alpha, 0..255; the first ``pad``
    inv_alpha: np.ndarray  # columns repeated at the end, so any window is one slice; 256 - alpha*256
    y0: int  # top row in the frame
    tiles_per_loop: int  # how many tile widths it scrolls in one period (integer: seamless loop)
    disparity: int  # right-eye shift in pixels (0 = at infinity)
    width: int  # Wt, the period in pixels


def _periodic_noise(rng: np.random.Generator, h: int, w: int, blur: float) -> np.ndarray:
    """Smooth noise (h, w) float32 in about [-1, 1], periodic in x."""
    n = rng.standard_normal((h, w)).astype(np.float32)
    wide = np.concatenate([n, n, n], axis=1)
    wide = cv2.GaussianBlur(wide, (0, 0), blur)
    out = wide[:, w : 2 * w]
    return out / (np.abs(out).max() + 1e-6)


def _periodic_profile(rng: np.random.Generator, w: int, base: float, amps: list[tuple[int, float]]) -> np.ndarray:
    """A ridge line y(x), periodic over w: base + sum of sines with integer frequencies."""
    x = np.arange(w, dtype=np.float32) / w
    y = np.full(w, base, np.float32)
    for freq, amp in amps:
        y += amp * np.sin(2 * np.pi * (freq * x + rng.random()))
    return y


def _mask_below(profile: np.ndarray, h: int) -> np.ndarray:
    """Antialiased alpha (h, w) float32: 1 below the ridge line, 0 above."""
    rows = np.arange(h, dtype=np.float32)[:, None]
    return np.clip(rows - profile[None, :] + 0.5, 0.0, 1.0)


def _layer(rgb: np.ndarray, alpha: np.ndarray, y0: int, tiles_per_loop: int, disparity: int, view_width: int) -> _Layer:
    a256 = np.round(np.clip(alpha, 0, 1) * 256)[:, :, None]
    premul = np.round(np.clip(rgb, 0, 255) * a256 / 256).astype(np.uint16)
    inv = np.repeat((256 - a256).astype(np.uint16), 3, axis=2)
    wt = premul.shape[1]
    pad = np.arange(view_width) % wt
    premul = np.ascontiguousarray(np.concatenate([premul, premul[:, pad]], axis=1))
    inv = np.ascontiguousarray(np.concatenate([inv, inv[:, pad]], axis=1))
    return _Layer(premul, inv, y0, tiles_per_loop, disparity, wt)


def _wrap_draw(draw, x: int, w: int) -> None:
    """Call draw(x) at x and its periodic copies, so shapes crossing the tile edge wrap."""
    for dx in (-w, 0, w):
        draw(x + dx)


class SampleScene:
    """Deterministic animated landscape: :meth:`render` frame index → RGB uint8 (H, W', 3).

    ``W' = width`` for mono, ``2 * width`` for ``sbs`` (left | right).
    """

    fps = 30.0

    def __init__(self, width: int = 640, height: int = 360, sbs: bool = False, period: int = 600, seed: int = 7):
        if width < 64 or height < 36 or width > 4096 or height > 4096:
            raise UsageError(f"sample size must be between 64x36 and 4096x4096, got {width}x{height}")
        self.width, self.height, self.sbs, self.period = int(width), int(height), bool(sbs), int(period)
        rng = np.random.default_rng(seed)
        W, H = self.width, self.height
        self._background = self._sky(W, H)
        self._layers = [
            self._clouds(rng, W, H),
            self._mountains(rng, W, H),
            self._hills(rng, W, H),
            self._trees(rng, W, H),
            self._meadow(rng, W, H),
        ]
        # the balloon floats between the clouds and the mountains
        self._balloon_after = 1

    # -- static parts ---------------------------------------------------------------
    @staticmethod
    def _sky(W: int, H: int) -> np.ndarray:
        t = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
        top = np.array([38, 84, 168], np.float32)
        mid = np.array([120, 170, 225], np.float32)
        horizon = np.array([252, 206, 158], np.float32)
        k = np.clip(t / 0.6, 0, 1)
        sky = np.where(k < 0.6, top + (mid - top) * (k / 0.6), mid + (horizon - mid) * ((k - 0.6) / 0.4))
        sky = np.broadcast_to(sky, (H, W, 3)).copy()
        # sun with a glow
        cx, cy, r = int(W * 0.74), int(H * 0.24), max(4, int(H * 0.07))
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        glow = np.exp(-((d / (r * 3.5)) ** 2))[:, :, None]
        sky = sky + (np.array([255, 236, 180], np.float32) - sky) * glow * 0.55
        disc = np.clip(r - d + 0.5, 0, 1)[:, :, None]
        sky = sky * (1 - disc) + np.array([255, 246, 214], np.float32) * disc
        return np.clip(sky, 0, 255).round().astype(np.uint8)

    @staticmethod
    def _clouds(rng, W, H) -> _Layer:
        Wt, h = 2 * W, int(H * 0.42)
        alpha = np.zeros((h, Wt), np.float32)
        for _ in range(9):
            x, y = int(rng.integers(0, Wt)), int(rng.uniform(0.15, 0.75) * h)
            for _ in range(6):  # a cloud is a cluster of puffs
                px, py = x + int(rng.normal(0, W * 0.05)), y + int(rng.normal(0, h * 0.05))
                rx, ry = int(rng.uniform(0.03, 0.07) * W), int(rng.uniform(0.04, 0.09) * h)
                _wrap_draw(lambda xx: cv2.ellipse(alpha, (xx, py), (rx, ry), 0, 0, 360, 1.0, -1, cv2.LINE_AA), px, Wt)
        alpha = np.clip(alpha, 0, 1)
        wide = cv2.GaussianBlur(np.concatenate([alpha] * 3, axis=1), (0, 0), max(1.0, H / 90))
        alpha = np.clip(wide[:, Wt : 2 * Wt] * 1.1, 0, 0.92)
        shade = np.linspace(1.0, 0.82, h, dtype=np.float32)[:, None, None]
        rgb = np.array([255, 252, 248], np.float32) * shade + 6 * _periodic_noise(rng, h, Wt, 3)[:, :, None]
        return _layer(rgb, alpha, 0, 1, 0, W)

    @staticmethod
    def _mountains(rng, W, H) -> _Layer:
        y0, h = int(H * 0.25), int(H * 0.5)
        ridge = _periodic_profile(rng, W, h * 0.45, [(1, h * 0.12), (2, h * 0.10), (5, h * 0.06), (11, h * 0.03), (23, h * 0.015)])
        alpha = _mask_below(ridge, h)
        rows = np.arange(h, dtype=np.float32)[:, None]
        depth = np.clip((rows - ridge[None, :]) / (h * 0.5), 0, 1)[:, :, None]  # 0 at the ridge
        rock = np.array([96, 104, 150], np.float32) * (1 - depth) + np.array([150, 150, 182], np.float32) * depth
        tex = _periodic_noise(rng, h, W, 1.2)[:, :, None]
        rgb = rock + 16 * tex
        snow_line = ridge.min() + h * 0.16
        snow = np.clip((snow_line - rows + 6 * tex[:, :, 0]) / 4.0, 0, 1)[:, :, None]
        rgb = rgb * (1 - snow) + np.array([244, 246, 252], np.float32) * snow
        return _layer(rgb, alpha, y0, 1, 1, W)

    @staticmethod
    def _hills(rng, W, H) -> _Layer:
        y0 = int(H * 0.45)
        h = H - y0
        ridge = _periodic_profile(rng, W, h * 0.27, [(1, h * 0.08), (3, h * 0.055), (7, h * 0.025)])
        alpha = _mask_below(ridge, h)
        rows = np.arange(h, dtype=np.float32)[:, None]
        xs = np.arange(W, dtype=np.float32)[None, :]
        green = np.array([78, 150, 62], np.float32)
        rgb = np.broadcast_to(green, (h, W, 3)).copy()
        # patchwork fields: diagonal bands in yellow, light green and ochre
        band = ((xs * 0.9 + rows * 2.2) // (W / 9)).astype(np.int32) % 4
        palette = np.array([[78, 150, 62], [214, 190, 72], [128, 178, 70], [186, 140, 70]], np.float32)
        rgb = palette[band]
        rgb += 22 * _periodic_noise(rng, h, W, 1.0)[:, :, None]
        rgb *= (0.85 + 0.15 * np.clip((rows - ridge[None, :]) / 30, 0, 1))[:, :, None]
        # a farmhouse: white walls, red roof, dark windows
        hx = int(W * 0.3)
        base_y = int(ridge[hx] + h * 0.22)
        bw, bh = int(W * 0.06), int(H * 0.05)
        rgb_u = np.ascontiguousarray(rgb)

        def house(x):
            cv2.rectangle(rgb_u, (x, base_y - bh), (x + bw, base_y), (236, 230, 218), -1)
            roof = np.array([[x - 4, base_y - bh], [x + bw + 4, base_y - bh], [x + bw // 2, base_y - bh - int(bh * 0.8)]], np.int32)
            cv2.fillPoly(rgb_u, [roof], (178, 40, 34), cv2.LINE_AA)
            for wx in (x + bw // 5, x + 3 * bw // 5):
                cv2.rectangle(rgb_u, (wx, base_y - int(bh * 0.7)), (wx + bw // 6, base_y - int(bh * 0.35)), (52, 60, 86), -1)
            cv2.rectangle(rgb_u, (x + bw // 2 - 2, base_y - int(bh * 0.45)), (x + bw // 2 + 3, base_y), (92, 58, 34), -1)

        _wrap_draw(house, hx, W)
        alpha = np.maximum(alpha, np.any(np.abs(rgb_u - rgb) > 1, axis=2).astype(np.float32))
        return _layer(rgb_u, alpha, y0, 2, 3, W)

    @staticmethod
    def _trees(rng, W, H) -> _Layer:
        y0, h = int(H * 0.52), int(H * 0.40)
        ground = _periodic_profile(rng, W, h * 0.88, [(2, h * 0.03), (5, h * 0.015)])
        alpha = _mask_below(ground, h)
        rgb = np.empty((h, W, 3), np.float32)
        rgb[:] = np.array([54, 112, 44], np.float32)
        rgb += 14 * _periodic_noise(rng, h, W, 0.8)[:, :, None]
        rgb_u = np.ascontiguousarray(rgb)
        a_u = np.ascontiguousarray(alpha)
        x = 0.0
        while x < W - 10:
            tx = int(x)
            gy = int(ground[tx % W])
            height = int(rng.uniform(0.45, 0.8) * h)
            r = int(rng.uniform(0.06, 0.11) * h)
            crown = tuple(float(c) for c in rng.choice([[34, 96, 40], [48, 120, 46], [90, 130, 40], [196, 120, 40]], p=[0.35, 0.35, 0.2, 0.1]))

            def tree(xx, gy=gy, height=height, r=r, crown=crown):
                cv2.rectangle(rgb_u, (xx - 2, gy - height // 2), (xx + 2, gy), (92, 62, 38), -1)
                cv2.rectangle(a_u, (xx - 2, gy - height // 2), (xx + 2, gy), 1.0, -1)
                for k in range(4):  # crown of overlapping discs, lighter towards the top
                    cy = gy - height // 2 - k * r // 2
                    cr = int(r * (1.0 - 0.15 * k))
                    col = tuple(min(255.0, c * (0.85 + 0.12 * k)) for c in crown)
                    cv2.circle(rgb_u, (xx + (k % 2) * 3 - 1, cy), cr, col, -1, cv2.LINE_AA)
                    cv2.circle(a_u, (xx + (k % 2) * 3 - 1, cy), cr, 1.0, -1, cv2.LINE_AA)

            _wrap_draw(tree, tx, W)
            x += rng.uniform(0.05, 0.16) * W
        # leafy texture on the crowns
        rgb_u += 20 * _periodic_noise(rng, h, W, 0.7)[:, :, None] * (a_u[:, :, None] > 0)
        return _layer(rgb_u, a_u, y0, 4, 8, W)

    @staticmethod
    def _meadow(rng, W, H) -> _Layer:
        y0, h = int(H * 0.84), H - int(H * 0.84)
        rows = np.arange(h, dtype=np.float32)[:, None, None]
        rgb = np.array([96, 170, 52], np.float32) + (np.array([62, 128, 36], np.float32) - [96, 170, 52]) * rows / h
        rgb = np.broadcast_to(rgb, (h, W, 3)).copy()
        blades = _periodic_noise(rng, h, W, 0.6)
        rgb += 30 * blades[:, :, None]
        for _ in range(int(W * h / 220)):
            fx, fy = int(rng.integers(0, W)), int(rng.integers(2, h))
            col = [(236, 52, 60), (250, 214, 50), (170, 90, 220), (255, 255, 255), (255, 140, 40)][int(rng.integers(0, 5))]
            _wrap_draw(lambda xx: cv2.circle(rgb, (xx, fy), 1 + int(fy > h // 2), col, -1, cv2.LINE_AA), fx, W)
        return _layer(rgb, np.ones((h, W), np.float32), y0, 6, 14, W)

    # -- per frame ------------------------------------------------------------------
    def _balloon(self, out: np.ndarray, index: int, shift: int) -> None:
        W, H = self.width, self.height
        t = (index % self.period) / self.period
        x = int((t * (W + 120)) - 60) - shift
        y = int(H * (0.30 + 0.05 * np.sin(2 * np.pi * 3 * t)))
        rx, ry = max(6, W // 40), max(8, H // 18)
        stripes = [(220, 40, 48), (250, 200, 40), (40, 120, 210), (250, 250, 250)]
        for i in range(4):  # vertical stripes = narrower and narrower ellipses
            cv2.ellipse(out, (x, y), (int(rx * (1 - i / 4)), ry), 0, 0, 360, stripes[i % 4], -1, cv2.LINE_AA)
        cv2.line(out, (x - rx // 2, y + ry - 2), (x - 2, y + ry + 8), (70, 50, 30), 1, cv2.LINE_AA)
        cv2.line(out, (x + rx // 2, y + ry - 2), (x + 2, y + ry + 8), (70, 50, 30), 1, cv2.LINE_AA)
        cv2.rectangle(out, (x - 3, y + ry + 8), (x + 3, y + ry + 13), (120, 80, 40), -1)

    def _compose(self, index: int, eye: int) -> np.ndarray:
        W = self.width
        out16 = self._background.astype(np.uint16)
        f = index % self.period
        for n, layer in enumerate(self._layers):
            o = (layer.tiles_per_loop * layer.width * f) // self.period
            if eye == 1:
                o += layer.disparity
            o %= layer.width
            y1 = layer.y0 + layer.premul.shape[0]
            p, ia = layer.premul[:, o : o + W], layer.inv_alpha[:, o : o + W]
            region = out16[layer.y0 : y1]
            cv2.multiply(region, ia, dst=region, scale=1.0 / 256)
            cv2.add(region, p, dst=region)
            if n == self._balloon_after:
                self._balloon(out16, index, shift=4 if eye == 1 else 0)  # cv2 draws on uint16 too
        return out16.astype(np.uint8)

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` (any int; loops every :attr:`period`) → RGB uint8 (H, W or 2W, 3)."""
        left = self._compose(index, 0)
        if not self.sbs:
            return left
        return np.ascontiguousarray(np.concatenate([left, self._compose(index, 1)], axis=1))


class SampleSource(FrameSource):
    """The procedural sample as a source: ``sample`` (mono) or ``sample:sbs`` (stereo), paced at 30 fps.

    ``loop=False`` ends after one period (600 frames = 20 s).
    """

    name = "sample"

    def __init__(self, sbs: bool = False, loop: bool = True, width: int = 640, height: int = 360, fps: float = 30.0):
        super().__init__(stereo="sbs" if sbs else None)
        self.scene = SampleScene(width, height, sbs=sbs)
        self.loop = loop
        self.fps = float(fps)
        self.pace = 1.0 / self.fps
        self.label = "sample:sbs" if sbs else "sample"
        self._i = 0

    def _open(self) -> None:
        self._i = 0

    def _grab(self) -> np.ndarray | None:
        if not self.loop and self._i >= self.scene.period:
            return None
        img = self.scene.render(self._i)
        self._i += 1
        return img
