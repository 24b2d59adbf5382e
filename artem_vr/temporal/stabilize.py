"""Temporal stabilization for any stylizer: smoothed normalization statistics + flow-warped blending.

``TemporalStabilizer(stylizer)`` is itself a Stylizer (same ``stylize`` on (N, 3, H, W) RGB 0–1,
N = 1 mono or 2 stereo, each eye its own history). Per frame:

1. **Scene cut check** on a small gray copy of the input (``flow_width`` pixels wide):
   a large change of the gray histogram forgets everything before stylizing.
2. **Flow** (needs only the inputs, so it runs before the network): DIS optical flow (OpenCV,
   ultrafast preset) from this frame to the previous one on the small gray copies, and a
   photometric check of it (the previous small frame warped onto this one must match, within
   ``photo_threshold``; occluded or changed pixels fail). If fewer than ``cut_fraction`` of the
   pixels come within ``cut_error`` of the warped previous frame, the frame counts as a cut:
   statistics forgotten, no blend.
3. **Statistics smoothing** (networks with instance norm or AdaIN, see :mod:`.normstats`):
   every normalization uses an exponential moving average of its per-channel mean and
   variance instead of this frame's own (``stats_momentum`` is the weight of the past).
4. **Flow-warped blending**: the previous *output* is warped onto this frame and blended in with
   weight ``blend`` × the photometric check, so pixels that were occluded or changed keep the
   fresh stylization.

``reset()`` (= ``reset_temporal``) forgets all history; it runs on ``set_style``, on a
detected cut, when switched off and on, and when the frame size or batch size changes. The
first frame after a reset is exactly the plain stylization.

``stats`` holds the cost: ``cost_ms`` (smoothed wall time spent in the stabilizer's own work,
including its hooks, per frame), ``stylize_ms`` (the wrapped stylizer's time), ``scene_cuts``,
``blend_fraction`` (share of pixels that took the past), ``path`` (which flow ran), ``compiled``
(whether it ran compiled).

Where it runs (``backend``): with ``auto`` (the default) frames on a CUDA device take the torch
path of :mod:`.devflow` — the same steps on the stylizer's own tensors, a cut decided on the
device and applied as a weight, nothing copied to the host, the times taken by CUDA events;
frames on the CPU take the OpenCV path described above. ``torch`` / ``opencv`` force one.
``compile=True`` runs the torch path's steps compiled (:class:`.devflow.DeviceMaths`;
:func:`artem_vr.temporal.wrap_for_run` sets it for a network on the ``fused`` engine).
"""

from __future__ import annotations

import time
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from artem_vr.errors import UsageError
from artem_vr.frames import check_image
from artem_vr.style.base import Stylizer
from artem_vr.temporal import devflow
from artem_vr.temporal.devflow import PixelGrids
from artem_vr.temporal.wrapper import StatsWrappingStylizer, as_switch, check_backend, use_device_path

MODES = ("auto", "stats", "flow", "stats+flow", "off")

_GRAY = (0.299, 0.587, 0.114)


def small_gray(x: torch.Tensor, width: int) -> np.ndarray:
    """(N, 3, H, W) RGB 0–1 → host uint8 (N, h, w) luma with w = ``width`` (area-downsampled).

    On the GPU the reduction runs there and only the small image crosses to the host; on the
    CPU OpenCV's area resize is used (several times faster than torch's there).
    """
    n, _, h, w = x.shape
    sw = max(8, min(width, w))
    sh = max(8, round(h * sw / w))
    if x.device.type == "cpu":
        k = max(1, w // (2 * sw))  # subsample to about twice the target, then area-resize
        xs = x[..., ::k, ::k].float().numpy()  # numpy: torch's tiny CPU ops cost more in threading than maths
        a = xs[:, 0] * _GRAY[0] + xs[:, 1] * _GRAY[1] + xs[:, 2] * _GRAY[2]
        return np.stack([np.clip(np.rint(cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) * 255), 0, 255)
                         .astype(np.uint8) for f in a])
    g = x[:, 0] * _GRAY[0] + x[:, 1] * _GRAY[1] + x[:, 2] * _GRAY[2]  # (N, H, W)
    s = F.adaptive_avg_pool2d(g.float(), (sh, sw))  # area resize of the (N, H, W) planes
    return s.mul_(255).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()


def gray_hist(g: np.ndarray, bins: int = 32) -> np.ndarray:
    """Normalized histogram of a uint8 (h, w) image."""
    h = np.bincount((g >> (8 - int(np.log2(bins)))).ravel(), minlength=bins).astype(np.float32)
    return h / max(1.0, h.sum())


def upsample_flow(flow: np.ndarray, size: tuple[int, int], device, dtype=torch.float32) -> torch.Tensor:
    """(N, h, w, 2) host flow in small-image pixels → (N, 2, H, W) device flow in full-size pixels."""
    n, h, w, _ = flow.shape
    H, W = size
    f = torch.from_numpy(np.ascontiguousarray(flow)).to(device=device, dtype=dtype).permute(0, 3, 1, 2)
    f = F.interpolate(f, size=(H, W), mode="bilinear", align_corners=False)
    scale = torch.tensor([W / w, H / h], device=device, dtype=dtype)[None, :, None, None]
    return f * scale


def blend_warped(y: torch.Tensor, prev: torch.Tensor, flow: np.ndarray, weight: np.ndarray,
                 grids: PixelGrids | None = None) -> torch.Tensor:
    """``lerp(y, warp(prev, flow), weight)`` with small-size host ``flow`` (N, h, w, 2) and
    ``weight`` (N, h, w) in 0–1, upsampled to y's (N, 3, H, W). CPU: OpenCV remap; GPU: grid_sample.
    ``grids``: the caller's grid cache (None: made for this call)."""
    n, _, H, W = y.shape
    h, w = weight.shape[-2:]
    grids = PixelGrids(0) if grids is None else grids
    if y.device.type == "cpu":  # numpy + OpenCV: torch's small CPU ops cost more in threading than maths
        gx, gy = grids.host_grid(H, W)
        yn, pn = y.float().numpy(), prev.float().numpy()
        out = np.empty((n, 3, H, W), np.float32)
        for i in range(n):
            f = cv2.resize(flow[i], (W, H), interpolation=cv2.INTER_LINEAR)
            mx, my = gx + f[..., 0] * (W / w), gy + f[..., 1] * (H / h)
            p = cv2.remap(np.ascontiguousarray(pn[i].transpose(1, 2, 0)), mx, my, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).transpose(2, 0, 1)
            m = cv2.resize(weight[i], (W, H), interpolation=cv2.INTER_LINEAR)[None]
            out[i] = yn[i] + (p - yn[i]) * m
        return torch.from_numpy(out).to(y.dtype)
    fl = upsample_flow(flow, (H, W), y.device)
    m = F.interpolate(torch.from_numpy(weight).to(y.device, torch.float32)[:, None], size=(H, W),
                      mode="bilinear", align_corners=False)
    return torch.lerp(y.float(), devflow.warp(prev.float(), fl, grids), m).to(y.dtype)


class TemporalStabilizer(StatsWrappingStylizer):
    """Wrap ``stylizer`` so consecutive frames hold still. See the module docstring.

    mode: ``auto`` (stats smoothing where the network has instance norm, plus flow blending),
    ``stats``, ``flow``, ``stats+flow``, ``off``. ``enabled``: bool or callable read per frame.
    """

    def __init__(self, stylizer: Stylizer, mode: str = "auto", *, stats_momentum: float = 0.8,
                 blend: float = 0.7, flow_width: int = 320, photo_threshold: float = 0.2,
                 cut_hist: float = 0.6, cut_error: float = 0.04, cut_fraction: float = 0.6,
                 enabled: bool | Callable[[], bool] = True, backend: str = "auto", compile: bool = False):
        super().__init__(stylizer, MODES, mode, 20, self._ema_transform)
        self.backend = check_backend(backend)
        if not 0.0 <= stats_momentum < 1.0 or not 0.0 <= blend < 1.0:
            raise UsageError(f"stats_momentum {stats_momentum} and blend {blend} must be in [0, 1)",
                             "e.g. stats_momentum=0.8, blend=0.6")
        self.stats_momentum = stats_momentum
        self.blend = blend
        self.flow_width = flow_width
        self.photo_threshold = photo_threshold
        self.cut_hist = cut_hist
        self.cut_error = cut_error
        self.cut_fraction = cut_fraction
        self.enabled = as_switch(enabled)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grids = PixelGrids()
        #: how the device path runs its steps (eager or compiled; the comfort profile times them through it)
        self.maths = devflow.DeviceMaths(self._grids, compile)
        self._was_enabled = False
        self._hook_s = 0.0
        self._stats = {"cost_ms": 0.0, "last_cost_ms": 0.0, "stylize_ms": 0.0, "frames": 0, "scene_cuts": 0,
                       "blend_fraction": 0.0, "norm_layers": 0, "path": "opencv", "compiled": False}
        # the device path's figures, resolved when read (reading them there waits for the device)
        self._cost = devflow.FrameCost()
        self._dev_cuts: torch.Tensor | None = None
        self._dev_blend: torch.Tensor | None = None
        self._keep: torch.Tensor | None = None
        self._ema: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # norm point -> (mean, var) buffers
        self._ema_generation = 0  # new buffers (a new network or size): graphs that read the old ones are not reused
        self._keep_buf: torch.Tensor | None = None  # the device path's cut weight of this frame, in place
        self.reset()

    @property
    def stats(self) -> dict:
        """``cost_ms``, ``stylize_ms``, ``frames``, ``scene_cuts``, ``blend_fraction``,
        ``norm_layers``, ``path`` (``opencv`` or ``torch``: which flow ran last). On the device
        path, reading them waits for the frames in flight (so the frame loop never does)."""
        self._cost.flush()
        if self._stats.get("path") == "torch":  # a compile that failed mid-frame turned the steps eager
            self._stats["compiled"] = self.maths.compile
        if self.maths.compile_error:
            self._stats["compile_error"] = self.maths.compile_error
        if self._dev_cuts is not None:
            self._stats["scene_cuts"] += int(self._dev_cuts.item())
            self._dev_cuts = None
        if self._dev_blend is not None:
            self._stats["blend_fraction"] = float(self._dev_blend)
            self._dev_blend = None
        return self._stats

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every frame before: the next output is the plain stylization."""
        # The moving averages live in buffers kept across resets and updated in place (a frame
        # graph reads them where they are, :mod:`.graphed`); a reset only marks them unprimed.
        self._ema_primed = False
        self._prev_out: torch.Tensor | None = None
        self._prev_small: np.ndarray | torch.Tensor | None = None
        self._prev_hist: list[np.ndarray] | torch.Tensor | None = None
        self._keep = None

    def _cut(self) -> None:
        self._stats["scene_cuts"] += 1
        self.reset()

    def reset_temporal(self) -> None:
        self.reset()
        self.inner.reset_temporal()

    @property
    def uses_stats(self) -> bool:
        return self.mode in ("stats", "stats+flow") or (self.mode == "auto" and self._hooks.layers > 0)

    @property
    def uses_flow(self) -> bool:
        return self.mode in ("flow", "stats+flow", "auto")

    def stats_token(self) -> tuple:
        """What :meth:`_ema_transform` does on the next frame (a frame graph's key): whether it runs,
        whether the averages are primed, whether a device cut weight applies, and which buffers."""
        return ("ema", self._running and self.uses_stats, self._ema_primed, self._keep is not None,
                self.stats_momentum, self._ema_generation)

    def _ema_transform(self, key, mean, var):
        if not self._running or not self.uses_stats:
            return mean, var
        t0 = time.perf_counter()
        buf = self._ema.get(id(key))
        if buf is None or buf[0].shape != mean.shape or buf[0].device != mean.device:
            buf = self._ema[id(key)] = (torch.empty_like(mean), torch.empty_like(var))
            self._ema_generation += 1
            self._ema_primed = False
        if not self._ema_primed:  # the first frame since a reset: its own statistics, kept
            buf[0].copy_(mean)
            buf[1].copy_(var)
            out = (mean, var)  # the same objects: the hook leaves the output untouched
        else:
            # device path: a cut (decided on the device) weighs the past 0
            k = (self._keep_buf * self.stats_momentum).to(mean.dtype) if self._keep is not None else self.stats_momentum
            out = (torch.lerp(mean, buf[0], k), torch.lerp(var, buf[1], k))
            buf[0].copy_(out[0])
            buf[1].copy_(out[1])
        self._hook_s += time.perf_counter() - t0
        return out

    # -- the frame --------------------------------------------------------------------
    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "TemporalStabilizer input")
        on = self.mode != "off" and bool(self.enabled())
        if not on:
            if self._was_enabled:
                self.reset()
            self._was_enabled = False
            return self.inner.stylize(x)
        if not self._was_enabled:
            self.reset()
        self._was_enabled = True

        x = x.to(self.device)
        if use_device_path(self.backend, x.device):
            return self._stylize_on_device(x)
        self._stats["path"], self._stats["compiled"] = "opencv", False
        t0 = time.perf_counter()
        small = small_gray(x, self.flow_width)
        hists = [gray_hist(g) for g in small]
        if self._prev_small is not None and (self._prev_small.shape != small.shape or self._prev_out.shape != x.shape):
            self.reset()
        elif self._prev_hist is not None and max(
                float(np.abs(a - b).sum()) for a, b in zip(hists, self._prev_hist)) > self.cut_hist:
            self._cut()
        # Flow needs only the inputs. On the CPU it runs before the network, so a cut it reveals
        # (most of the frame unexplained by motion) resets the statistics before they are used.
        # On CUDA it runs on the CPU while the GPU computes the network (its cost is hidden); a
        # cut found there skips the blend at once and resets the statistics from the next frame.
        want_flow = self.uses_flow and self._prev_out is not None and self.blend > 0
        overlap = x.device.type == "cuda"
        flow = weight = None
        if want_flow and not overlap:
            flow, weight = self._flow(small)
        self._hooks.attach(self.inner)
        self._stats["norm_layers"] = self._hooks.layers

        t1 = time.perf_counter()
        self._hook_s = 0.0
        y = self._stylize_inner(x)
        self._primed_by_frame()
        if want_flow and overlap and self._prev_out is not None:
            tf = time.perf_counter()
            flow, weight = self._flow(small)
            self._hook_s += time.perf_counter() - tf  # own work inside the network's window
        t2 = time.perf_counter()

        blended = 0.0
        if flow is not None:
            y = blend_warped(y, self._prev_out, flow, weight, self._grids)
            blended = float(weight.mean())
        self._prev_out = y
        self._prev_small = small
        self._prev_hist = hists
        t3 = time.perf_counter()

        cost = ((t1 - t0) + (t3 - t2) + self._hook_s) * 1000
        st = self._stats
        k = 0.9 if st["frames"] else 0.0
        st["last_cost_ms"] = cost
        st["cost_ms"] = k * st["cost_ms"] + (1 - k) * cost
        st["stylize_ms"] = k * st["stylize_ms"] + (1 - k) * ((t2 - t1) * 1000 - self._hook_s * 1000)
        st["blend_fraction"] = blended
        st["frames"] += 1
        return y

    def _stylize_on_device(self, x: torch.Tensor) -> torch.Tensor:
        """The torch path (see :mod:`.devflow`): the same steps on x's device, nothing read back.

        A scene cut is a device flag here (``keep`` = 0), not a host decision: the statistics'
        moving average and the blend weigh the past by it, so a cut frame comes out as the plain
        stylization and starts the history afresh, exactly as a reset does on the OpenCV path."""
        dev = x.device
        marks = [devflow.FrameCost.mark(dev)]
        small, hist = self.maths(devflow.frame_gray, x, width=self.flow_width)
        if self._prev_small is not None and (not isinstance(self._prev_small, torch.Tensor)
                                             or self._prev_small.shape != small.shape
                                             or self._prev_out.shape != x.shape):
            self.reset()
        flow = weight = None
        self._keep = None
        if self._prev_small is not None:
            if self.uses_flow and self.blend > 0:  # this frame → previous frame
                flow, weight, keep = self.maths(
                    devflow.motion, small, self._prev_small, hist, self._prev_hist, photo_threshold=self.photo_threshold,
                    cut_hist=self.cut_hist, cut_error=self.cut_error, cut_fraction=self.cut_fraction)
            else:
                keep = ((hist - self._prev_hist).abs().sum(1).max() <= self.cut_hist).float()
            self._keep = keep
            if self._keep_buf is None or self._keep_buf.shape != keep.shape or self._keep_buf.device != keep.device:
                self._keep_buf = torch.empty_like(keep)
                self._ema_generation += 1
            self._keep_buf.copy_(keep)  # in place: the statistics' average reads it there
            cut = (keep < 0.5).long()
            self._dev_cuts = cut if self._dev_cuts is None else self._dev_cuts + cut
        self._hooks.attach(self.inner)
        self._stats["norm_layers"] = self._hooks.layers
        self._stats["path"], self._stats["compiled"] = "torch", self.maths.compile
        marks.append(devflow.FrameCost.mark(dev))
        y = self._stylize_inner(x)
        self._primed_by_frame()
        marks.append(devflow.FrameCost.mark(dev))
        if flow is not None:
            weight = weight * (self.blend * self._keep)
            y = self.maths(devflow.blend_on_device, y, self._prev_out, flow, weight)
            self._dev_blend = weight.mean()
        else:
            self._dev_blend = None
            self._stats["blend_fraction"] = 0.0
        self._prev_out = y
        self._prev_small = small
        self._prev_hist = hist
        marks.append(devflow.FrameCost.mark(dev))
        self._cost.done(marks, [(0, 1), (2, 3), (1, 2)], self._account)
        return y

    def _primed_by_frame(self) -> None:
        """After the network ran with the averages on: they hold a frame (decided from what ran
        in Python before the network, so a replayed graph, which runs none, primes them too)."""
        if self.uses_stats and self._hooks.layers > 0:
            self._ema_primed = True

    def _account(self, ms: list[float]) -> None:
        """One device-path frame's times: own work (before and after the network), the network."""
        devflow.account_cost(self._stats, "frames", ms[0] + ms[1], ms[2])

    def _flow(self, small: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Small-size flow this → previous frame per eye (N, h, w, 2) and blend weights (N, h, w);
        (None, None) after declaring a cut."""
        flows, masks, explained = [], [], []
        for g, gp in zip(small, self._prev_small):
            f = self._dis.calc(g, gp, None)  # this frame → previous frame
            m, err = self._photo_mask(g, gp, f)
            masks.append(m)
            flows.append(f)
            explained.append(float((err < self.cut_error).mean()))
        # Real motion leaves >85% of pixels within 4% gray of the warped previous frame (measured
        # on the shared videos); a new scene leaves far fewer, even where DIS finds matches.
        if min(explained) < self.cut_fraction:
            self._cut()
            return None, None
        return np.stack(flows), np.stack(masks) * self.blend

    def _photo_mask(self, g: np.ndarray, gp: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weight, error): weight 1 where the warped previous small frame matches this one,
        falling to 0 at ``photo_threshold``; error |difference| in gray 0–1."""
        h, w = g.shape
        xs = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
        ys = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
        pw = cv2.remap(gp, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.abs(pw.astype(np.float32) - g.astype(np.float32)) / 255.0
        m = np.clip(1.0 - err / self.photo_threshold, 0.0, 1.0)
        m *= (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
        return cv2.erode(m, np.ones((3, 3), np.uint8)), err  # erode: keep off the edges of moving objects
