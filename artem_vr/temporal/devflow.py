"""Comfort maths in torch, on whatever device the frames live on (the CUDA path of the wrappers).

Pip's OpenCV has no CUDA, so on a GPU the OpenCV path (DIS flow, SGBM disparity) costs a
device → host copy of every frame and two CPU cores' worth of work. These functions do the same
jobs with torch ops only (pooling, convolutions, ``grid_sample``, ``cummax``): on a CUDA tensor
everything stays on the GPU, nothing is read back (no ``.item()``, no ``.cpu()``), and the
decisions that depend on the data (a scene cut, a failed check) are device tensors used as
weights, so the host never waits for the GPU. The same code runs on the CPU, which is how the
tests check it against the OpenCV path.

Conventions: gray images are float32 ``(N, 1, h, w)`` luma 0–1; flow is ``(N, 2, h, w)``
(dx, dy) pixels with ``a[y, x] ≈ b[y + dy, x + dx]`` (OpenCV's convention, so :func:`warp` of ``b``
lands it on ``a``); disparity here is the **right view's**: ``right[y, x] ≈ left[y, x + d[y, x]]``.

Constants (pixel grids, the border counts of :func:`box`) are kept by their owner, a
:class:`PixelGrids` that each comfort wrapper holds and hands in (``grids=``); called without
one, a function makes them for that call (what a compiled graph wants: they become index maths
inside its kernels). This module keeps no state of its own.

The wrappers run five steps per frame (:func:`frame_gray`, :func:`motion`, :func:`pair_gray`,
:func:`stereo_match`, :func:`blend_on_device`) through a :class:`DeviceMaths`: eager, or — with a network on the ``fused`` engine —
compiled by torch.compile, which turns each step's few hundred small ops into a few kernels
(eager, a stereo frame takes over a thousand kernel launches: docs/benchmarks.md, "Compiled comfort").

Reduced resolution — where and why:

* **Flow** runs on a gray copy ``flow_width`` pixels wide (320 by default: a quarter of a
  1280-px eye, 1/4.5 of a 1440-px one), the same size the OpenCV path uses. Head motion is
  smooth at that scale, the pyramid needs four levels instead of six, and the blend it drives is
  smoothed anyway; the flow is upsampled (bilinear, scaled) to the eye size only inside the
  final warp (:func:`blend_on_device`).
* **Disparity**: the cost volume (every disparity up to a quarter of the width, per pixel) is
  built at **half** of ``disp_width`` (320 px for the default 640), where it holds 8× fewer
  entries than at full width; the winner is checked left–right there, then doubled and refined
  at ``disp_width`` by a ±2 px search and Gauss–Newton steps to sub-pixel precision — so the
  result has the precision of the full-width match at an eighth of the volume's memory traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from artem_vr.style.fused import CompiledOrEager

_GRAY = (0.299, 0.587, 0.114)


# ---------------------------------------------------------------------------- images
def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) → (N, C, *size) by area averaging (``F.interpolate(mode="area")``), pooled as
    (N·C, H, W) planes. The 4-D CUDA kernel of ``adaptive_avg_pool2d`` steps from plane to plane by
    the stride of dimension 1; when C is 1 that stride is arbitrary, and a compiled graph (which
    calls that kernel for windows over 25 pixels) may lay the buffer out with any value there: on
    the H200 (torch 2.11) it read past the frame, an illegal memory access. The 3-D form has no
    such dimension."""
    n, c, h, w = x.shape
    return F.adaptive_avg_pool2d(x.reshape(n * c, h, w), size).reshape(n, c, *size)


def gray_small(x: torch.Tensor, width: int) -> torch.Tensor:
    """(N, 3, H, W) RGB 0–1 → (N, 1, h, w) float32 luma, area-downsampled to ``width`` pixels wide
    (never wider than the input; at least 8)."""
    n, _, h, w = x.shape
    sw = max(8, min(width, w))
    sh = max(8, round(h * sw / w))
    g = (x[:, 0:1] * _GRAY[0] + x[:, 1:2] * _GRAY[1] + x[:, 2:3] * _GRAY[2]).float()
    if (sh, sw) == (h, w):
        return g
    return area_resize(g, (sh, sw))


def gray_hist(g: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """(N, 1, h, w) luma 0–1 → (N, bins) normalized histograms (on g's device)."""
    n = g.shape[0]
    idx = (g.reshape(n, -1) * bins).long().clamp_(0, bins - 1)
    h = torch.zeros(n, bins, device=g.device, dtype=torch.float32)
    h.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
    return h / h.sum(1, keepdim=True).clamp_min(1.0)


def _stream_key(device) -> tuple:
    """A cached constant belongs to the stream it was made on (the worker's own on CUDA): another
    stream gets its own copy rather than racing the kernel that fills it."""
    device = torch.device(device)
    if device.type == "cuda":
        return (str(device), torch.cuda.current_stream(device).cuda_stream)
    return (str(device),)


class PixelGrids:
    """The constants a comfort wrapper's frames reuse, kept by that wrapper (one per stream of
    frames; never shared between wrappers): pixel-coordinate grids (x, y) per frame size — as
    torch tensors per device, CUDA stream and dtype, and as host arrays for OpenCV — and the
    border counts of :func:`box` per size and window. A frame of a size seen before costs no
    allocation; each table keeps at most ``keep`` entries (it starts afresh when full: a few
    sizes are in use at a time)."""

    def __init__(self, keep: int = 16):
        self.keep = keep
        self._torch: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._host: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._counts: dict[tuple, torch.Tensor] = {}

    def held(self) -> int:
        """Entries held, all tables together."""
        return len(self._torch) + len(self._host) + len(self._counts)

    def _room(self, table: dict) -> None:
        if len(table) >= self.keep:
            table.clear()

    def torch_grid(self, h: int, w: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(xs, ys), each ``(h, w)`` of ``dtype`` on ``device``."""
        key = (h, w, dtype) + _stream_key(device)
        if key not in self._torch:
            self._room(self._torch)
            ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                                    torch.arange(w, device=device, dtype=dtype), indexing="ij")
            self._torch[key] = (xs, ys)
        return self._torch[key]

    def host_grid(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(xs, ys), each float32 ``(h, w)``."""
        if (h, w) not in self._host:
            self._room(self._host)
            self._host[(h, w)] = tuple(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        return self._host[(h, w)]

    def box_counts(self, h: int, w: int, kh: int, kw: int, device) -> torch.Tensor:
        """(1, 1, h, w) float32: how many pixels of a ``kh``×``kw`` window centred at each pixel
        lie inside the image (the divisor of :func:`box`)."""
        key = (h, w, kh, kw) + _stream_key(device)
        if key not in self._counts:
            self._room(self._counts)
            ones = torch.ones(1, 1, h, w, device=device, dtype=torch.float32)
            self._counts[key] = _box_sum_1d(_box_sum_1d(ones, kw, -1), kh, -2)
        return self._counts[key]


def _grid(h: int, w: int, device, dtype, grids: PixelGrids | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(xs, ys) pixel coordinates: from ``grids`` (the caller's cache), or made for this call when
    None — index maths that a compiled graph folds into its kernels, nothing kept."""
    if grids is not None:
        return grids.torch_grid(h, w, device, dtype)
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype),
                            indexing="ij")
    return xs, ys


def warp(img: torch.Tensor, flow: torch.Tensor, grids: PixelGrids | None = None) -> torch.Tensor:
    """Sample ``img`` (N, C, H, W) at pixel (x, y) + ``flow`` (N, 2, H, W) (dx, dy): bilinear,
    border clamp (as OpenCV's ``remap`` with ``BORDER_REPLICATE``). ``grids``: the caller's
    constants (None: made for this call)."""
    n, _, h, w = img.shape
    xs, ys = _grid(h, w, img.device, flow.dtype, grids)
    gx = (xs + flow[:, 0]) * (2.0 / max(1, w - 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(1, h - 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).to(img.dtype)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _box_sum_1d(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Sum over a ``k``-wide window along ``dim`` (-1 or -2), zeros outside: a running sum,
    so the cost is the same for any ``k`` (pooling kernels cost k reads a pixel on the CPU)."""
    r = k // 2
    pad = (r + 1, r) if dim == -1 else (0, 0, r + 1, r)
    c = torch.cumsum(F.pad(x, pad), dim)  # c[j] = sum of x[.. j - r - 1]
    n = x.shape[dim]
    return c.narrow(dim, k, n) - c.narrow(dim, 0, n)


def box_pooled(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """:func:`box` by two 1-D average poolings (the CUDA way; the border counts multiply out to
    the 2-D window's)."""
    if kw > 1:
        x = F.avg_pool2d(x, (1, kw), stride=1, padding=(0, kw // 2), count_include_pad=False)
    if kh > 1:
        x = F.avg_pool2d(x, (kh, 1), stride=1, padding=(kh // 2, 0), count_include_pad=False)
    return x


def box(x: torch.Tensor, k: int | tuple[int, int], grids: PixelGrids | None = None) -> torch.Tensor:
    """Mean over a ``k`` (odd; or (kh, kw)) window, same size; at the border, the mean of the part
    of the window inside (``avg_pool2d`` with ``count_include_pad=False``), separably: on CUDA by
    pooling, on the CPU by running sums (its pooling reads k values a pixel, slowly). ``grids``:
    the caller's constants, where the border counts are kept (None: made for this call)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    if x.device.type == "cuda":  # one pooling kernel per direction (running sums would take ~7)
        return box_pooled(x, kh, kw)
    h, w = x.shape[-2:]
    if grids is None:
        ones = torch.ones(1, 1, h, w, device=x.device, dtype=torch.float32)
        counts = _box_sum_1d(_box_sum_1d(ones, kw, -1), kh, -2)
    else:
        counts = grids.box_counts(h, w, kh, kw, x.device)
    s = x
    if kw > 1:
        s = _box_sum_1d(s, kw, -1)
    if kh > 1:
        s = _box_sum_1d(s, kh, -2)
    return s / counts.to(s.dtype)


def erode3(m: torch.Tensor) -> torch.Tensor:
    """3×3 minimum (OpenCV ``erode`` with a 3×3 kernel)."""
    return -F.max_pool2d(-m, 3, stride=1, padding=1)


def upsample_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 2, h, w) flow in small-image pixels → (N, 2, H, W) in pixels of ``size`` = (H, W)."""
    h, w = flow.shape[-2:]
    H, W = size
    if (h, w) == (H, W):
        return flow
    f = F.interpolate(flow, size=(H, W), mode="bilinear", align_corners=False)
    return torch.stack((f[:, 0] * (W / w), f[:, 1] * (H / h)), dim=1)


def blend_on_device(y: torch.Tensor, prev: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor,
                    grids: PixelGrids | None = None) -> torch.Tensor:
    """``lerp(y, warp(prev, flow), weight)`` with small-size ``flow`` (N, 2, h, w) and ``weight``
    (N, 1, h, w) 0–1 upsampled to y's (N, 3, H, W); all on y's device, y's dtype out.
    ``grids``: the caller's constants (None: made for this call)."""
    H, W = y.shape[-2:]
    fl = upsample_flow(flow.float(), (H, W))
    m = F.interpolate(weight.float(), size=(H, W), mode="bilinear", align_corners=False)
    return torch.lerp(y.float(), warp(prev.float(), fl, grids), m).to(y.dtype)


# ---------------------------------------------------------------------------- flow
def _grad(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (N, 1, h, w) → (gx, gy), replicated at the border."""
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    return (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) * 0.5, (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) * 0.5


def pyramid_flow(a: torch.Tensor, b: torch.Tensor, *, levels: int = 5, iters: int = 2, window: int = 9,
                 reg: float = 2e-4, min_size: int = 12, still_test: bool = True,
                 grids: PixelGrids | None = None) -> torch.Tensor:
    """Dense optical flow ``a`` → ``b``, coarse to fine: ``a[y, x] ≈ b[(y, x) + flow]``.

    ``a``, ``b``: (N, 1, h, w) gray 0–1. Returns (N, 2, h, w) float32 pixels.

    Pyramidal Lucas–Kanade, dense: at each level (halved by 2×2 averaging, coarsest first) the
    flow from the level above is doubled, then ``iters`` times ``b`` is warped by it and the
    increment solved per pixel from the 2×2 structure tensor summed over a ``window`` box, with
    ``reg`` added to its diagonal (Tikhonov: flat regions move with their neighbours' flow
    instead of blowing up); each level ends with a 3×3 smoothing of the flow. Increments are
    clamped to ±1 px per iteration (a linearization is only good that far). ``still_test``: where
    the unwarped ``b`` matches ``a`` at least as well as the warped one (5×5 box of the absolute
    difference), the flow is set to exactly 0. ``grids``: the caller's constants (None: made for
    this call).
    """
    a, b = a.float(), b.float()
    pa, pb = [a], [b]
    while len(pa) < levels and min(pa[-1].shape[-2:]) >= 2 * min_size:
        pa.append(F.avg_pool2d(pa[-1], 2, ceil_mode=True))
        pb.append(F.avg_pool2d(pb[-1], 2, ceil_mode=True))
    flow = None
    for la, lb in zip(reversed(pa), reversed(pb)):
        h, w = la.shape[-2:]
        if flow is None:
            flow = torch.zeros(la.shape[0], 2, h, w, device=la.device, dtype=torch.float32)
        else:
            flow = upsample_flow(flow, (h, w))
        ax, ay = _grad(la)
        for _ in range(iters):
            bw = warp(lb, flow, grids)
            bx, by = _grad(bw)
            ix, iy, it = (ax + bx) * 0.5, (ay + by) * 0.5, bw - la
            s = box(torch.cat((ix * ix, ix * iy, iy * iy, ix * it, iy * it), dim=1), window, grids)
            sxx, sxy, syy, sxt, syt = s.unbind(1)
            sxx, syy = sxx + reg, syy + reg
            det = sxx * syy - sxy * sxy
            du = -(syy * sxt - sxy * syt) / det
            dv = -(sxx * syt - sxy * sxt) / det
            flow = flow + torch.stack((du, dv), dim=1).clamp_(-1.0, 1.0)
        flow = box(flow, 3, grids)
    if still_test:
        # where the scene keeps still, keep the flow exactly 0: a least-squares flow there is a
        # small fraction of a pixel of noise, and warping by it blurs what it carries forward
        moved = box((warp(b, flow, grids) - a).abs(), 5, grids)
        still = box((b - a).abs(), 5, grids)
        flow = torch.where(still <= moved, torch.zeros_like(flow), flow)
    return flow


def photo_check(g: torch.Tensor, gp: torch.Tensor, flow: torch.Tensor, threshold: float,
                grids: PixelGrids | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (N, 1, h, w), error (N, 1, h, w)): ``gp`` warped by ``flow`` must match ``g``;
    weight 1 where it does, falling to 0 at ``threshold`` gray, 0 where the flow leaves the frame,
    eroded 3×3 (off the edges of moving objects). Error: |difference| in gray 0–1. ``grids``: the
    caller's constants (None: made for this call)."""
    h, w = g.shape[-2:]
    err = (warp(gp, flow, grids) - g).abs()
    xs, ys = _grid(h, w, g.device, flow.dtype, grids)
    px, py = xs + flow[:, 0:1], ys + flow[:, 1:2]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    m = (1.0 - err / threshold).clamp_(0.0, 1.0) * inside
    return erode3(m), err


# ---------------------------------------------------------------------------- disparity
def _local_contrast(g: torch.Tensor, k: int, grids: PixelGrids | None) -> torch.Tensor:
    """Gray minus its local ``k``-box mean: the two cameras of a pair differ in exposure."""
    return g - box(g, k, grids)


def _volume_right(gl: torch.Tensor, gr: torch.Tensor, max_disp: int, trunc: float) -> torch.Tensor:
    """Matching cost of the right view at every disparity 0..max_disp-1: (N, D, h, w) with
    ``C[d, y, x] = min(|R(x) − L(x + d)|, trunc)`` summed over the channels of the features;
    pixels whose match falls off the left image cost ``trunc`` per channel."""
    n, c, h, w = gr.shape
    lp = F.pad(gl, (0, max_disp - 1), value=float("nan"))  # L(x + d) for x + d ≥ w: NaN, costed below
    shifted = lp.unfold(-1, max_disp, 1)  # (N, C, h, w, D): [..., x, d] = L(x + d)
    cost = (gr[..., None] - shifted).abs().clamp_(max=trunc).nan_to_num_(trunc).sum(1)  # (N, h, w, D)
    return cost.permute(0, 3, 1, 2)


def _shear_to_left(vol: torch.Tensor, fill: float) -> torch.Tensor:
    """Right-view volume ``C_R[d, y, x]`` → left-view ``C_L[d, y, x] = C_R[d, y, x − d]``
    (the same pixel pairs), ``fill`` where x − d < 0. A strided view of one padded copy."""
    n, d, h, w = vol.shape
    vp = F.pad(vol, (d, 0), value=fill).contiguous()  # (N, D, h, w + D)
    sn, sd, sy, _ = vp.stride()
    # out[n, k, y, x] = vp[n, k, y, x - k + d]; vp is a fresh tensor: its storage starts at element 0
    return vp.as_strided((n, d, h, w), (sn, sd - 1, sy, 1), d)


def _features(g: torch.Tensor, k: int, grids: PixelGrids | None) -> torch.Tensor:
    """Matching features of a gray (N, 1, h, w): local contrast and its horizontal gradient (×2)."""
    c = _local_contrast(g, k, grids)
    gx, _ = _grad(g)
    return torch.cat((c, 2.0 * gx), dim=1)


def fill_holes(d: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Fill invalid disparities along each row with the farther (smaller) of the nearest valid
    values to the left and right; rows without a valid pixel become 0. (N, 1, h, w) → same.
    The torch twin of :func:`artem_vr.temporal.stereo.fill_disparity_holes`."""
    w = d.shape[-1]
    ar = torch.arange(w, device=d.device).expand_as(d)
    left = torch.where(valid, ar, torch.full_like(ar, -1)).cummax(-1).values
    right = torch.where(valid, ar, torch.full_like(ar, w)).flip(-1).cummin(-1).values.flip(-1)
    inf = torch.full_like(d, float("inf"))
    dl = torch.where(left >= 0, d.gather(-1, left.clamp(0, w - 1)), inf)
    dr = torch.where(right < w, d.gather(-1, right.clamp(0, w - 1)), inf)
    fill = torch.minimum(dl, dr)
    fill = torch.where(torch.isfinite(fill), fill, torch.zeros_like(fill))
    return torch.where(valid, d, fill)


def right_disparity(gl: torch.Tensor, gr: torch.Tensor, *, coarse: float = 0.5, windows: tuple[int, ...] = (5, 13),
                    lr_tolerance: float = 1.0, trunc: float = 0.08,
                    grids: PixelGrids | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Disparity of the right view of a rectified pair: ``right[y, x] ≈ left[y, x + d]``.

    ``gl``, ``gr``: (N, 1, h, w) gray 0–1 (N pairs). Returns (d (N, 1, h, w) float32 pixels of
    this width, valid (N, 1, h, w) bool: passed the left–right check).

    1. Features: each image minus its local mean (exposure differences between the cameras)
       and its horizontal gradient; the cost of a match is their truncated absolute difference.
    2. Cost volume at ``coarse`` × the width for every disparity up to a quarter of that width,
       aggregated over boxes of each size in ``windows`` (summed: small boxes keep edges, large
       ones carry texture into flat regions — a cheap stand-in for semi-global aggregation).
    3. Winner per pixel for both views (the left view's volume is the same pairs sheared),
       left–right check: the left view's disparity at the matched pixel must agree within
       ``lr_tolerance`` (occlusions and mismatches fail).
    4. Upsampled to the full width (disparities doubled), refined there by a ±2 px search
       around it with the small box, then to sub-pixel by Gauss–Newton steps.

    ``grids``: the caller's constants (None: made for this call).
    """
    n, _, h, w = gl.shape
    k = max(3, w // 24) | 1
    fl, fr = _features(gl.float(), k, grids), _features(gr.float(), k, grids)
    if coarse < 1.0:
        ch, cw = max(8, round(h * coarse)), max(8, round(w * coarse))
        cl, cr = area_resize(gl.float(), (ch, cw)), area_resize(gr.float(), (ch, cw))
        cfl, cfr = _features(cl, max(3, cw // 24) | 1, grids), _features(cr, max(3, cw // 24) | 1, grids)
    else:
        ch, cw, cfl, cfr = h, w, fl, fr
    nd = max(4, -(-cw // 4))
    raw = _volume_right(cfl, cfr, nd, trunc)
    vol = sum(box(raw, kk, grids) for kk in windows)
    best_r = vol.argmin(1, keepdim=True)
    worst = float(2 * trunc * len(windows))
    best_l = _shear_to_left(vol, worst).argmin(1, keepdim=True)
    d_r = best_r.float()
    # left–right: the left pixel this right pixel matches must match back
    xs, _ = _grid(ch, cw, gl.device, torch.float32, grids)
    xl = (xs + best_r[:, 0].float()).round().long().clamp_(0, cw - 1)
    back = best_l[:, 0].float().gather(-1, xl)
    valid = ((back - best_r[:, 0].float()).abs() <= lr_tolerance)[:, None]
    valid &= (xs + d_r[:, 0] <= cw - 1)[:, None]
    if (ch, cw) != (h, w):
        d_r = F.interpolate(d_r, size=(h, w), mode="bilinear", align_corners=False) * (w / cw)
        valid = F.interpolate(valid.float(), size=(h, w), mode="nearest") > 0.5
        d_r = _refine(fl, fr, d_r, windows[0], trunc, grids)
    else:
        d_r = best_r.float()
    return _gauss_newton_1d(fl, fr, d_r, windows[0], grids), valid


def _refine(fl: torch.Tensor, fr: torch.Tensor, d: torch.Tensor, window: int, trunc: float, grids: PixelGrids | None,
            radius: int = 2) -> torch.Tensor:
    """Search ±``radius`` whole pixels around ``d`` (N, 1, h, w) at full width."""
    n, c, h, w = fr.shape
    base = d.round()
    xs, _ = _grid(h, w, fr.device, torch.float32, grids)
    costs = []
    for off in range(-radius, radius + 1):
        px = xs + base + off  # (N, 1, h, w)
        idx = px.clamp(0, w - 1).long().expand(n, c, h, w)
        cst = (fr - fl.gather(-1, idx)).abs().clamp_(max=trunc).sum(1, keepdim=True)
        cst = torch.where((px < 0) | (px > w - 1), torch.full_like(cst, trunc * c), cst)
        costs.append(box(cst, window, grids))
    vol = torch.cat(costs, 1)
    best = vol.argmin(1, keepdim=True)
    return (base + best.float() - radius).clamp_min(0)


def _gauss_newton_1d(fl: torch.Tensor, fr: torch.Tensor, d: torch.Tensor, window: int, grids: PixelGrids | None,
                     iters: int = 2) -> torch.Tensor:
    """Sub-pixel disparity: Gauss–Newton steps on the squared feature difference summed over a
    ``window`` box, ``δ = −Σ ∂L·(L(x + d) − R) / Σ ∂L²``. Unbiased where fitting a curve to
    three whole-pixel costs is not (those pull towards whichever neighbour matches worse)."""
    zero = torch.zeros_like(d)
    for _ in range(iters):
        lw = warp(fl, torch.cat((d, zero), dim=1), grids)
        gx, _ = _grad(lw)
        num = box((gx * (lw - fr)).sum(1, keepdim=True), window, grids)
        den = box((gx * gx).sum(1, keepdim=True), window, grids)
        d = d - (num / den.clamp_min(1e-8)).clamp_(-0.5, 0.5)
    return d.clamp_min(0)


def stereo_weight(gl: torch.Tensor, gr: torch.Tensor, d_r: torch.Tensor, threshold: float,
                  local_check: bool = True, valid: torch.Tensor | None = None,
                  grids: PixelGrids | None = None) -> torch.Tensor:
    """Where the left view warped into the right one by ``d_r`` can replace it: (N, 1, h, w) 0–1.

    Photometric check (the left gray warped must match the right gray, after removing the local
    mean when ``local_check``: the cameras differ in exposure; |difference| box-blurred 3×3),
    falling to 0 at ``threshold``; 0 where the match leaves the left image or ``valid`` is False;
    eroded 3×3. The torch twin of the OpenCV path's check. ``grids``: the caller's constants
    (None: made for this call)."""
    h, w = gl.shape[-2:]
    flow = torch.cat((d_r, torch.zeros_like(d_r)), dim=1)
    a, b = warp(gl.float(), flow, grids), gr.float()
    if local_check:
        k = max(3, w // 24) | 1
        a, b = a - box(a, k, grids), b - box(b, k, grids)
    err = box((a - b).abs(), 3, grids)
    xs, _ = _grid(h, w, gl.device, torch.float32, grids)
    m = (1.0 - err / threshold).clamp_(0, 1) * (xs + d_r <= w - 1)
    if valid is not None:
        m = m * valid
    return erode3(m)


# ---------------------------------------------------------------------------- the wrappers' steps
# Each is a pure function of tensors (and constants), the unit the wrappers run per frame and the
# unit :class:`DeviceMaths` compiles: one graph each, so Inductor fuses a step's hundreds of small
# ops into a few kernels (eager, every op is a kernel launch and a dispatch on the host).
def frame_gray(x: torch.Tensor, *, width: int, grids: PixelGrids | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A frame (N, 3, H, W) → its small gray (:func:`gray_small`) and histograms (:func:`gray_hist`).
    (``grids``: unused here; every step takes it.)"""
    small = gray_small(x, width)
    return small, gray_hist(small)


def pair_gray(x: torch.Tensor, *, width: int, grids: PixelGrids | None = None) -> torch.Tensor:
    """A stereo pair (2, 3, H, W) → its small grays (2, 1, h, w) (:func:`gray_small`), the input
    of :func:`stereo_match`. (``grids``: unused here; every step takes it.)"""
    return gray_small(x, width)


def motion(small: torch.Tensor, prev_small: torch.Tensor, hist: torch.Tensor, prev_hist: torch.Tensor, *,
           photo_threshold: float, cut_hist: float, cut_error: float, cut_fraction: float,
           grids: PixelGrids | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The temporal wrapper's work between this frame and the previous one (small grays, their
    histograms): ``(flow, weight, keep)`` — the flow this → previous frame (:func:`pyramid_flow`),
    its blend weight (:func:`photo_check`), and ``keep``, a float32 0-d tensor, 0 at a scene cut
    (the histograms differ by more than ``cut_hist``, or less than ``cut_fraction`` of some eye's
    pixels are within ``cut_error`` of the warped previous frame), else 1."""
    keep = (hist - prev_hist).abs().sum(1).max() <= cut_hist
    flow = pyramid_flow(small, prev_small, grids=grids)
    weight, err = photo_check(small, prev_small, flow, photo_threshold, grids)
    explained = (err < cut_error).float().mean((1, 2, 3)).min()
    return flow, weight, (keep & (explained >= cut_fraction)).float()


def stereo_match(g: torch.Tensor, *, photo_threshold: float, local_check: bool,
                 grids: PixelGrids | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The stereo wrapper's work on a pair's small grays (2, 1, h, w) (:func:`pair_gray`):
    ``(flow, weight)`` at that size, the flow (d, 0) that takes the left view onto the right one
    (:func:`right_disparity`, holes filled) and where it may replace the right view
    (:func:`stereo_weight`). The grays, not the frames, are its input so that its graph — the
    largest of the comfort steps — is the same for every eye size of one aspect ratio (2×1440×1600
    and 2×2016×2240 both give 640×711 at the default width): compiled once, not once per size."""
    gl, gr = g[0:1], g[1:2]
    d_r, valid = right_disparity(gl, gr, grids=grids)
    d_r = fill_holes(d_r, valid)
    m = stereo_weight(gl, gr, d_r, photo_threshold, local_check, grids=grids)
    return torch.cat((d_r, torch.zeros_like(d_r)), dim=1), m


class DeviceMaths:
    """How a comfort wrapper runs its steps: ``maths(step, *tensors, **constants)``.

    Eager (``compile=False``), each step runs op by op with the wrapper's cached constants
    (``grids``). Compiled (``compile=True``: the wrappers of a network on the ``fused`` engine),
    each step runs through :func:`artem_vr.style.fused.compiled` — the fused engine's compile
    machinery: one graph per step and input size, the kernels cached on disk in the user data
    folder — without the cache, whose constants the graph computes in its kernels. Same results
    within float rounding (tests/temporal/test_device_comfort.py compiles them on the CPU).

    A step whose compile fails (the compiler's error, raised before anything ran: a lowering one
    torch release or GPU lacks) turns compiling off for this wrapper with one warning, and every
    step runs eagerly from then on — the same frames, slower; ``compile_error`` says why, and the
    wrapper's stats say ``compiled: False`` (:class:`artem_vr.style.fused.CompiledOrEager`).

    ``on_step`` (None in the app; the comfort profile's timer, :func:`artem_vr.layer_profile.profile_comfort`):
    called as ``on_step(name, run, args)``; it must return ``run()``."""

    def __init__(self, grids: PixelGrids, compile: bool = False):
        self.grids = grids
        self._compile = compile
        self._run_maths = CompiledOrEager("comfort steps")
        self.on_step: Callable | None = None

    @property
    def compile(self) -> bool:
        """Whether the steps run compiled (asked for, and no compile failed)."""
        return self._compile and not self._run_maths.error

    @property
    def compile_error(self) -> str:
        return self._run_maths.error

    def __call__(self, step, *args, **kw):
        if self.on_step is not None:
            return self.on_step(step.__name__, lambda: self._run(step, args, kw), args)
        return self._run(step, args, kw)

    def _run(self, step, args: tuple, kw: dict):
        return self._run_maths(step, args, kw, eager_kw={"grids": self.grids}, compile=self._compile)


# ---------------------------------------------------------------------------- cost
def account_cost(stats: dict, count: str, own_ms: float, stylize_ms: float | None = None) -> None:
    """Fold one frame's own work (``own_ms``; and the network's, when given) into a wrapper's
    ``stats``: ``last_cost_ms``, running averages ``cost_ms`` (and ``stylize_ms``), ``count`` += 1."""
    k = 0.9 if stats[count] else 0.0
    stats["last_cost_ms"] = own_ms
    stats["cost_ms"] = k * stats["cost_ms"] + (1 - k) * own_ms
    if stylize_ms is not None:
        stats["stylize_ms"] = k * stats["stylize_ms"] + (1 - k) * stylize_ms
    stats[count] += 1


class FrameCost:
    """A wrapper's own time per frame, never waiting in the frame loop.

    ``mark(device)`` returns a time mark: the wall clock on the CPU, a CUDA event recorded on the
    current stream on a GPU (None while that stream captures a frame graph: a replay runs no
    Python, so such a frame's own work is not timed, and ``done`` drops it). ``done(marks, spans, on_ms)`` hands ``on_ms`` the milliseconds of
    each (i, j) span of the marks: at once on the CPU; on a GPU once the last event has completed
    (checked without blocking at the next ``done``; :meth:`flush` waits, for whoever reads stats).
    """

    def __init__(self):
        self._pending: list = []
        self._lock = threading.Lock()  # the worker adds frames while another thread reads stats

    @staticmethod
    def mark(device: torch.device):
        if device.type == "cuda":
            if torch.cuda.is_current_stream_capturing():  # inside a frame graph's capture: no timing
                return None
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def done(self, marks: list, spans: list[tuple[int, int]], on_ms) -> None:
        if any(m is None for m in marks):  # taken inside a graph capture: nothing was timed
            return
        with self._lock:
            self._pending.append((marks, spans, on_ms))
        self._resolve(block=False)

    def flush(self) -> None:
        self._resolve(block=True)

    def _resolve(self, block: bool) -> None:
        with self._lock:
            self._resolve_locked(block)

    def _resolve_locked(self, block: bool) -> None:
        keep = []
        for marks, spans, on_ms in self._pending:
            last = marks[-1]
            if isinstance(last, float):
                on_ms([(marks[j] - marks[i]) * 1000 for i, j in spans])
            elif last.query():  # done: reading it waits for nothing
                on_ms([marks[i].elapsed_time(marks[j]) for i, j in spans])
            elif block:
                last.synchronize()
                on_ms([marks[i].elapsed_time(marks[j]) for i, j in spans])
            else:
                keep.append((marks, spans, on_ms))
        self._pending = keep
