"""Stereo-consistent stylization: the two eyes agree on what was painted where.

``StereoConsistentStylizer(stylizer, mode)`` is itself a Stylizer. On a batch of 2 (left,
right eye of one frame; anything else passes through untouched):

* ``shared-stats``: both eyes in one batch, and every instance-norm layer normalizes both with
  the statistics of the pair taken together (:func:`.normstats.pooled_pair_stats`), so neither
  eye is brighter, more saturated or differently toned than the other.
* ``warp`` (default): shared statistics, plus the disparity of the pair estimated online
  (OpenCV semi-global matching on small gray copies, ``disp_width`` pixels wide); the stylized
  left view is warped into the right view wherever the warp is trustworthy (visible in both
  views and photometrically consistent); the right eye keeps its own stylization only where
  it sees what the left eye cannot (disocclusions) — so the strokes match between the eyes.
* ``off``: the wrapped stylizer as is (each eye on its own statistics).

``stats``: ``cost_ms`` (smoothed per-pair wall time of this wrapper's own work),
``warped_fraction`` (share of right-eye pixels taken from the left), ``disparity_runs``,
``path``, ``compiled`` (whether it ran compiled).

``backend="auto"`` (the default): on CUDA frames the disparity, the check and the warp run in
torch on the stylizer's own tensors (:func:`.devflow.right_disparity`: the right view's disparity
from a cost volume at half of ``disp_width``, refined at ``disp_width``); on CPU frames, OpenCV
as above. A batch of 1 (a mono source) passes through: no disparity is searched for it.
``compile=True``: the torch path's steps run compiled (:class:`.devflow.DeviceMaths`).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch

from artem_vr.frames import check_image
from artem_vr.style.base import Stylizer
from artem_vr.temporal import devflow
from artem_vr.temporal.disparity import right_view_disparity
from artem_vr.temporal.devflow import PixelGrids
from artem_vr.temporal.normstats import pooled_pair_stats
from artem_vr.temporal.stabilize import blend_warped, small_gray
from artem_vr.temporal.wrapper import StatsWrappingStylizer, as_switch, check_backend, use_device_path

MODES = ("shared-stats", "warp", "off")


def fill_disparity_holes(d: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid disparities along each row with the farther (smaller) of the nearest valid
    values to the left and right — holes in matching are mostly background next to an edge.
    Rows with no valid pixel become 0. float32 (h, w) → float32 (h, w)."""
    h, w = d.shape
    idx = np.where(valid, np.arange(w)[None, :], -1)
    left = np.maximum.accumulate(idx, axis=1)
    idx_r = np.where(valid, np.arange(w)[None, :], w)
    right = np.minimum.accumulate(idx_r[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    dl = np.where(left >= 0, d[rows, np.clip(left, 0, w - 1)], np.inf)
    dr = np.where(right < w, d[rows, np.clip(right, 0, w - 1)], np.inf)
    fill = np.minimum(dl, dr)
    fill = np.where(np.isfinite(fill), fill, 0.0)
    return np.where(valid, d, fill).astype(np.float32)


class DisparityEstimator:
    """Left-view disparity of a rectified pair of small uint8 gray images (OpenCV SGBM)."""

    def __init__(self, width: int, block: int = 5):
        self.width = width
        nd = max(16, int(np.ceil(width / 4 / 16)) * 16)  # up to a quarter of the width
        self.num_disparities = nd
        self._sgbm = cv2.StereoSGBM_create(minDisparity=0, numDisparities=nd, blockSize=block,
                                           P1=8 * block * block, P2=32 * block * block, uniquenessRatio=5,
                                           speckleWindowSize=50, speckleRange=2,
                                           mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)

    def __call__(self, gl: np.ndarray, gr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(h, w) uint8 ×2 → (disparity float32 (h, w) in small pixels, valid bool (h, w))."""
        d = self._sgbm.compute(gl, gr).astype(np.float32) / 16.0
        valid = d > 0
        return fill_disparity_holes(d, valid), valid


class StereoConsistentStylizer(StatsWrappingStylizer):
    """Wrap ``stylizer`` so a stereo pair (batch of 2) is stylized consistently. See the module docstring."""

    def __init__(self, stylizer: Stylizer, mode: str = "warp", *, disp_width: int = 640,
                 photo_threshold: float = 0.3, local_check: bool = True, enabled: bool | Callable[[], bool] = True,
                 backend: str = "auto", compile: bool = False):
        super().__init__(stylizer, MODES, mode, 10, self._pool_transform)
        self.backend = check_backend(backend)
        self.enabled = as_switch(enabled)
        self.disp_width = disp_width
        self.photo_threshold = photo_threshold
        self.local_check = local_check
        self._disp: DisparityEstimator | None = None
        self._stats = {"cost_ms": 0.0, "last_cost_ms": 0.0, "pairs": 0, "warped_fraction": 0.0,
                       "disparity_runs": 0, "path": "opencv", "compiled": False}
        self._cost = devflow.FrameCost()
        self._dev_warped: torch.Tensor | None = None
        self._warped_buf: torch.Tensor | None = None  # the device path's warped share, in place (a frame graph refreshes it)
        self._graph_on = False  # the last frame graph key: this wrapper warped the pair
        self._grids = PixelGrids()
        #: how the device path runs its steps (eager or compiled; the comfort profile times them through it)
        self.maths = devflow.DeviceMaths(self._grids, compile)

    @property
    def stats(self) -> dict:
        """``cost_ms``, ``pairs``, ``warped_fraction``, ``disparity_runs`` (disparity searches
        done: none for a mono frame), ``path`` (``opencv`` / ``torch``). On the device path,
        reading them waits for the frames in flight (so the frame loop never does)."""
        self._cost.flush()
        if self._stats.get("path") == "torch":  # a compile that failed mid-frame turned the steps eager
            self._stats["compiled"] = self.maths.compile
        if self.maths.compile_error:
            self._stats["compile_error"] = self.maths.compile_error
        if self._dev_warped is not None:
            self._stats["warped_fraction"] = float(self._dev_warped)
            self._dev_warped = None
        return self._stats

    def stats_token(self) -> tuple:
        """:meth:`_pool_transform` depends on nothing decided in Python outside :meth:`stylize`."""
        return ("pool",)

    def graph_key(self, x: torch.Tensor) -> tuple | None:
        """Replayable when the stylizer under it is and the pair (if warped) takes the device path."""
        inner = self.inner.graph_key(x)
        self._graph_on = False
        if inner is None:
            return None
        if x.shape[0] != 2 or self.mode == "off" or not self.enabled():
            return ("stereo off", inner)
        if self.mode == "warp" and not use_device_path(self.backend, x.device):
            return None  # OpenCV on the host
        self._graph_on = True
        return ("stereo", self.mode, self.disp_width, self.photo_threshold, self.local_check, self.maths.compile, inner)

    def graph_replayed(self) -> None:
        self.inner.graph_replayed()
        if self._graph_on:  # what stylize counts; its warped share is in place already
            self._stats["pairs"] += 1
            if self.mode == "warp":
                self._stats["disparity_runs"] += 1
                self._dev_warped = self._warped_buf

    def _pool_transform(self, key, mean, var):
        if not self._running or mean.shape[0] != 2:
            return mean, var
        return pooled_pair_stats(mean, var)

    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "StereoConsistentStylizer input")
        if x.shape[0] != 2 or self.mode == "off" or not self.enabled():
            return self.inner.stylize(x)
        x = x.to(self.device)
        dev = x.device
        marks = [devflow.FrameCost.mark(dev)]
        self._hooks.attach(self.inner)
        marks.append(devflow.FrameCost.mark(dev))
        y = self._stylize_inner(x)
        marks.append(devflow.FrameCost.mark(dev))
        if self.mode == "warp":
            if use_device_path(self.backend, dev):
                y = self._warp_right_on_device(x, y)
            else:
                y = self._warp_right(x, y)
        marks.append(devflow.FrameCost.mark(dev))
        self._cost.done(marks, [(0, 1), (2, 3)], self._account)
        return y

    def _account(self, ms: list[float]) -> None:
        """One device-path pair's own work (before and after the network)."""
        devflow.account_cost(self._stats, "pairs", ms[0] + ms[1])

    def _warp_right_on_device(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The torch path of :meth:`_warp_right` (see :mod:`.devflow`): disparity of the right
        view on x's device, the left stylization warped into it where the check passes."""
        self._stats["path"], self._stats["compiled"] = "torch", self.maths.compile
        self._stats["disparity_runs"] += 1
        g = self.maths(devflow.pair_gray, x, width=self.disp_width)
        flow, m = self.maths(devflow.stereo_match, g, photo_threshold=self.photo_threshold, local_check=self.local_check)
        warped = m.mean()
        if self._warped_buf is None or self._warped_buf.device != warped.device:
            self._warped_buf = torch.empty_like(warped)
        self._warped_buf.copy_(warped)  # in place: a replayed frame refreshes it there
        self._dev_warped = self._warped_buf
        right = self.maths(devflow.blend_on_device, y[1:], y[:1], flow, m)
        return torch.cat([y[:1], right], dim=0)

    def _warp_right(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Replace the right eye by the left eye's stylization warped by the estimated disparity."""
        self._stats["path"], self._stats["compiled"] = "opencv", False
        self._stats["disparity_runs"] += 1
        g = small_gray(x, self.disp_width)
        gl, gr = g[0], g[1]
        h, w = gl.shape
        if self._disp is None or self._disp.width != w:
            self._disp = DisparityEstimator(w)
        d_left, _ = self._disp(gl, gr)
        d_r, v_r = right_view_disparity(d_left)
        # Photometric check: the left gray warped into the right view must match the right gray.
        xs = np.arange(w, dtype=np.float32)[None, :] + d_r
        ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
        est = cv2.remap(gl, xs, np.ascontiguousarray(ys), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a, b = est.astype(np.float32) / 255.0, gr.astype(np.float32) / 255.0
        if self.local_check:  # the two cameras differ in exposure: compare after removing the local mean
            k = (max(3, w // 24) | 1,) * 2
            a, b = a - cv2.blur(a, k), b - cv2.blur(b, k)
        err = cv2.blur(np.abs(a - b), (3, 3))
        m = np.clip(1.0 - err / self.photo_threshold, 0, 1) * v_r * (xs <= w - 1)
        m = cv2.erode(m.astype(np.float32), np.ones((3, 3), np.uint8))
        self._stats["warped_fraction"] = float(m.mean())
        flow = np.zeros((1, h, w, 2), np.float32)
        flow[0, ..., 0] = d_r
        right = blend_warped(y[1:], y[:1], flow, m[None], self._grids)
        if y.device.type == "cpu":
            return torch.from_numpy(np.concatenate([y[:1].numpy(), right.numpy()]))
        return torch.cat([y[:1], right], dim=0)
