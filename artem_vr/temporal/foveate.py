"""Foveated stylization: full resolution only where the eye looks.

``FoveatedStylizer(stylizer, region)`` is itself a Stylizer (float ``(N, 3, H, W)`` RGB 0–1,
N = 1 mono or 2 stereo, both eyes in one batch per pass). Per frame, two passes of the wrapped
network:

1. **Periphery**: the whole eye at ``periphery`` × its size (antialiased downscale), brought
   back with the guided upscale of :mod:`artem_vr.style.upscale`.
2. **Fovea**: a window of ``size`` × each side of the eye, around the region's centre for that
   eye (the view centre by default, the gaze where the headset tracks it), cut out with
   ``margin`` pixels of context on every side (the network's receptive field: without it the
   window's edge would see padding instead of the picture), at the network's own resolution.

The fovea replaces the periphery inside its window, through a feathered mask (1 in the core,
a smoothstep to 0 over the outer ``feather`` of the window's half-size), so no edge shows.

**Normalization statistics.** Instance norm (generator, XNOR) and AdaIN normalize by the
statistics of the whole picture; a window alone would have its own, and its tone would differ.
What the window needs are the whole eye's statistics *at full resolution*, which neither pass
computes. The periphery pass records, for every normalization, the statistics it used (after any
comfort wrapper's smoothing/pooling) and those of the window's part of its feature map
(:func:`~artem_vr.style.norm.current_features`); the fovea pass (with
:func:`~artem_vr.style.norm.only_stats_filter`: the outer filters do not run twice) estimates
them (``stats``):

- ``"calibrated"`` (default): the window's own statistics in the fovea pass (full resolution)
  mixed by area with the outside's — the periphery's whole-eye statistics less its window part —
  shifted per normalization and channel by the network's :class:`FoveaCalibration`, fitted on
  real photos (:mod:`artem_vr.temporal.fovea_fit`) and shipped beside the network
  (:func:`calibration_path`). A network without one (a user's model) gets the mix uncalibrated,
  and :attr:`FoveatedStylizer.stats_source` (and one log warning per network) says so.
- ``"mixed"``: that mix, uncalibrated (the outside as the periphery saw it).
- ``"corrected"``: the periphery's statistics shifted by how the window's differ between the
  two passes, shrunk by ``correction`` (the estimate before the calibration).
- ``"shared"``: the periphery's as they are.

Measured against the full-resolution stylization: docs/benchmarks.md, "Foveation". On an engine
that runs outside torch (ONNX Runtime) no statistics hook fires and the window keeps its own.

Window geometry: its origin and size are multiples of :data:`ALIGN` pixels so the network's
strided layers see the same pixel grid as on the whole frame. Network pixels per frame:
:meth:`FoveatedStylizer.network_pixels` (:func:`foveated_pixels`); at the defaults (a window of
27 % of each side, the periphery at 0.55 — chosen over 33 % and 0.5: the outside's statistics,
which bind the window's accuracy, come out closer to full resolution; docs/benchmarks.md) and
2 × 2016 × 2240 they are 38.8 % of the full-resolution count (39.4 % at 2 × 1440 × 1600).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from artem_vr.errors import UsageError, WeightsError, shown
from artem_vr.frames import check_image
from artem_vr.paths import MODELS_DIR
from artem_vr.style.base import Stylizer
from artem_vr.style.fused import CompiledOrEager
from artem_vr.style.norm import current_features, only_stats_filter, stats_filter
from artem_vr.style.upscale import downscale, internal_size, upscale
from artem_vr.style.weights import read_header
from artem_vr.temporal.wrapper import WrappingStylizer, as_switch, find_wrapper

log = logging.getLogger(__name__)

#: window origin and size are multiples of this (the networks' total stride: generator 4, AdaIN 8)
ALIGN = 8
FOVEATE_MODES = ("auto", "on", "off")
#: how the fovea pass gets its normalization statistics (see the module docstring)
STATS_MODES = ("calibrated", "mixed", "corrected", "shared")


@dataclass(frozen=True)
class FoveaSpec:
    """The foveation's shape. ``size``: the window's side as a fraction of the eye's (0.1–0.9);
    ``periphery``: the whole eye's scale (0.2–0.8; the shipped calibrations are fitted at 0.55); ``margin``: context pixels around the window
    at the network's resolution (the receptive field it needs; 24 measured enough, see the tests);
    ``feather``: the share of the window's half-size over which it fades into the periphery."""

    size: float = 0.27
    periphery: float = 0.55
    margin: int = 24
    feather: float = 0.3

    def __post_init__(self):
        if not 0.1 <= self.size <= 0.9:
            raise UsageError(f"fovea size {shown(self.size)} is outside 0.1–0.9", "e.g. --fovea-size 0.27 (about a quarter of each side)")
        if not 0.2 <= self.periphery <= 0.8:
            raise UsageError(f"periphery scale {shown(self.periphery)} is outside 0.2–0.8", "e.g. 0.55")
        if not 0 <= self.margin <= 256:
            raise UsageError(f"fovea margin {shown(self.margin)} is outside 0–256 pixels", "e.g. 24")
        if not 0.0 < self.feather < 1.0:
            raise UsageError(f"fovea feather {shown(self.feather)} must be in (0, 1)", "e.g. 0.3")


# ---------------------------------------------------------------------------- where it looks
class FoveaRegion:
    """Where the fovea is, per eye, as image coordinates ``(u, v)`` in 0–1 (u right, v down;
    (0.5, 0.5) is the view centre). Thread-safe: the XR output writes the gaze, the stylizer
    thread reads it. ``tracked`` says whether a gaze feeds it (else it stays at the centre)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._centres: list[tuple[float, float]] = [(0.5, 0.5), (0.5, 0.5)]
        self.tracked = False

    def set_centres(self, centres) -> None:
        """One ``(u, v)`` per eye (values clamped to 0–1)."""
        c = [(min(1.0, max(0.0, float(u))), min(1.0, max(0.0, float(v)))) for u, v in centres]
        with self._lock:
            self._centres = c + self._centres[len(c):]
            self.tracked = True

    def recentre(self) -> None:
        with self._lock:
            self._centres = [(0.5, 0.5), (0.5, 0.5)]
            self.tracked = False

    def centres(self, n: int) -> list[tuple[float, float]]:
        with self._lock:
            c = list(self._centres)
        return [c[min(i, len(c) - 1)] for i in range(n)]


def gaze_to_uv(direction, tangents) -> tuple[float, float] | None:
    """Where a gaze ray falls on a picture, as image ``(u, v)`` in 0–1.

    ``direction``: the gaze in the eye's view space (OpenXR: +x right, +y up, looking down −z),
    any length. ``tangents``: the picture's extent seen from that eye as tangents of angles
    ``(left, right, up, down)`` (left/down usually negative) — for a picture filling the eye,
    the tangents of its FOV angles. None when the ray looks away from the picture's plane
    (backwards or sideways); points off the picture are clamped to its edge."""
    x, y, z = (float(v) for v in direction)
    if z >= -1e-6:
        return None
    tx, ty = x / -z, y / -z
    left, right, up, down = tangents
    if right <= left or up <= down:
        raise ValueError(f"picture tangents must have left < right and down < up, got {tangents}")
    u = (tx - left) / (right - left)
    v = (up - ty) / (up - down)
    return min(1.0, max(0.0, u)), min(1.0, max(0.0, v))


def fov_tangents(fov) -> tuple[float, float, float, float]:
    """An OpenXR FOV ``(angleLeft, angleRight, angleUp, angleDown)`` in radians → tangents."""
    return tuple(math.tan(a) for a in fov)


# ---------------------------------------------------------------------------- geometry
def _aligned(v: float, lo: int = ALIGN) -> int:
    return max(lo, int(round(v / ALIGN)) * ALIGN)


def window_size(h: int, w: int, spec: FoveaSpec) -> tuple[int, int]:
    """The fovea window's ``(height, width)`` for an ``h × w`` eye (multiples of ALIGN, ≤ the eye)."""
    return min(h // ALIGN * ALIGN or h, _aligned(h * spec.size)), min(w // ALIGN * ALIGN or w, _aligned(w * spec.size))


def crop_size(h: int, w: int, spec: FoveaSpec, scale: float = 1.0) -> tuple[int, int]:
    """The fovea pass's input ``(height, width)``: the window plus the margin (in frame pixels:
    ``margin / scale`` where the network runs at ``scale``), at most the eye."""
    fh, fw = window_size(h, w, spec)
    m = _aligned(spec.margin / scale, 0)
    return min(h, fh + 2 * m), min(w, fw + 2 * m)


def place(h: int, w: int, centre: tuple[float, float], spec: FoveaSpec, scale: float = 1.0):
    """Where the window and its crop sit for an eye looking at ``centre`` (u, v):
    ``(wy, wx, fh, fw)`` the window, ``(cy, cx, ch, cw)`` the crop; origins multiples of ALIGN
    (or at the eye's far edge), the window inside the crop, both inside the eye."""
    fh, fw = window_size(h, w, spec)
    ch, cw = crop_size(h, w, spec, scale)

    def axis(n, f, c, t):
        co_max = (n - c) // ALIGN * ALIGN  # the crop's last aligned origin
        o = min(max(0, int(round(t * n - f / 2))), co_max + c - f) // ALIGN * ALIGN
        co = min(max(0, o - (c - f) // 2 // ALIGN * ALIGN), co_max)
        return o, co

    wy, cy = axis(h, fh, ch, centre[1])
    wx, cx = axis(w, fw, cw, centre[0])
    return (wy, wx, fh, fw), (cy, cx, ch, cw)


def feather_mask(fh: int, fw: int, feather: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(1, 1, fh, fw)`` weights: 1 in the core, smoothstep down to 0 at the window's edge over
    ``feather`` × the half-size (the same ramp width on both axes: the smaller half-size's)."""
    ramp = max(1.0, feather * min(fh, fw) / 2)

    def profile(n):
        i = torch.arange(n, device=device, dtype=torch.float32) + 0.5
        d = torch.minimum(i, n - i) / ramp  # distance to the nearest edge, in ramps
        t = d.clamp(0, 1)
        return t * t * (3 - 2 * t)

    return (profile(fh)[:, None] * profile(fw)[None, :])[None, None].to(dtype)


def core_box(fh: int, fw: int, feather: float) -> tuple[int, int, int, int]:
    """The window's core (mask exactly 1) as ``(y0, x0, y1, x1)`` inside the window."""
    r = math.ceil(max(1.0, feather * min(fh, fw) / 2))
    return r, r, fh - r, fw - r


def foveated_pixels(n: int, h: int, w: int, spec: FoveaSpec, scale: float = 1.0) -> int:
    """Network pixels of one foveated batch of ``n`` eyes of ``h × w`` whose network runs at
    ``scale`` (the wrapped stylizer's internal scale): the periphery pass plus the fovea pass."""
    ph, pw = internal_size(h, w, spec.periphery)
    if scale < 1.0:
        ph, pw = internal_size(ph, pw, scale)
    ch, cw = crop_size(h, w, spec, scale)
    if scale < 1.0:
        ch, cw = internal_size(ch, cw, scale)
    return n * (ph * pw + ch * cw)


# ---------------------------------------------------------------------------- statistics calibration
#: the calibrations of the shipped networks: ``fovea/<model file stem>.safetensors`` beside a
#: generator/XNOR model (+ its card ``.md``); AdaIN's belongs to its VGG19 encoder, shared by every
#: decoder and style: ``fovea/vgg19_<layer>.safetensors`` under the shipped models
CALIBRATION_DIR = "fovea"
CALIBRATION_KIND = "fovea-calibration"
#: the predictors, in order, of each normalization's per-channel estimate (see FoveaCalibration)
PREDICTORS = ("1", "window mean shift / sd", "window log variance ratio")
_EPS = 1e-5
_LOG_RATIO_MAX = 3.0  # an estimated variance stays within e^±3 of the periphery's


def predictors(whole, low, high) -> torch.Tensor:
    """``(N, C, 3)``: :data:`PREDICTORS` from the periphery's whole-eye statistics ``whole``, its
    window's ``low`` and the fovea pass's window ``high`` (each ``(mean, var)``, ``(N, C)``)."""
    (m, v), (ml, vl), (mh, vh) = whole, low, high
    sd = (v + _EPS).sqrt()
    return torch.stack([torch.ones_like(m), (mh - ml) / sd, ((vh + _EPS) / (vl + _EPS)).log()], -1)


def outside_stats(whole, low, share):
    """The periphery's statistics outside the window: ``whole`` minus the window's ``low`` part
    (each ``(mean, var)`` ``(N, C)``), the window being ``share`` ``(N, 1)`` of the eye."""
    (m, v), (ml, vl) = whole, low
    mo = (m - share * ml) / (1 - share)
    e2 = (v + m * m - share * (vl + ml * ml)) / (1 - share)
    return mo, (e2 - mo * mo).clamp_min(0)


def mixed_stats(window, outside, share):
    """The whole eye's ``(mean, var)`` from the window's and the outside's, the window ``share`` of it."""
    (mw, vw), (mo, vo) = window, outside
    m = share * mw + (1 - share) * mo
    e2 = share * (vw + mw * mw) + (1 - share) * (vo + mo * mo)
    return m, (e2 - m * m).clamp_min(0)


def calibrated_stats(whole, low, high, share, mean_w: torch.Tensor, var_w: torch.Tensor):
    """One normalization's calibrated estimate (see :class:`FoveaCalibration`): the periphery's
    statistics outside the window shifted by the coefficients ``mean_w``/``var_w`` ``(C, 3)`` over
    the :func:`predictors`, then mixed with the window's (``high``) by area."""
    mo, vo = outside_stats(whole, low, share)
    p = predictors(whole, low, high)
    tm, tv = (p * mean_w).sum(-1), (p * var_w).sum(-1).clamp(-_LOG_RATIO_MAX, _LOG_RATIO_MAX)
    outside = (mo + (whole[1] + _EPS).sqrt() * tm, ((vo + _EPS) * tv.exp() - _EPS).clamp_min(0))
    return mixed_stats(high, outside, share)


@dataclass
class FoveaCalibration:
    """How one network's full-resolution normalization statistics follow from what the foveated
    passes have, fitted on real photos (:mod:`artem_vr.temporal.fovea_fit`).

    The whole eye's statistics at full resolution mix the window's — which the fovea pass has, at
    full resolution — with the outside's, which only the periphery pass saw (at its reduced scale).
    For normalization ``i`` (in the order the network runs them) and channel ``c`` the outside's
    are shifted: mean ``μo + σ·(P·mean_w[i][c])``, variance ``σo²·exp(P·var_w[i][c])``, with
    ``μo, σo²`` the periphery's outside the window, ``σ`` its whole-eye deviation and ``P`` the
    :func:`predictors`; then mixed with the window's by area. All-zero coefficients
    (:meth:`uncalibrated`) take the outside as the periphery saw it."""

    mean_w: list[torch.Tensor]  # per normalization (C, 3)
    var_w: list[torch.Tensor]
    meta: dict = field(default_factory=dict)
    periphery: float = 0.5
    path: Path | None = None
    #: the coefficients on each device they were used on (a copy to a GPU waits for it: made once)
    _on: dict = field(default_factory=dict, repr=False, compare=False)

    def weights_on(self, device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(mean_w, var_w)`` on ``device``, copied there on first use only (and again for the
        normalizations a fit has added since)."""
        device = torch.device(device)
        mean_w, var_w = self._on.setdefault(str(device), ([], []))
        for i in range(len(mean_w), len(self.mean_w)):
            mean_w.append(self.mean_w[i].to(device))
            var_w.append(self.var_w[i].to(device))
        return mean_w, var_w

    @classmethod
    def uncalibrated(cls, periphery: float = 0.5) -> "FoveaCalibration":
        """Zero coefficients for every normalization: the outside as the periphery saw it."""
        return cls([], [], {"uncalibrated": True}, periphery)

    def estimate(self, i: int, whole, low, high, share, run: CompiledOrEager | None = None):
        """Normalization ``i``'s full-resolution ``(mean, var)`` estimate, ``(N, C)`` float32;
        ``whole``/``low``: the periphery's whole-eye and window statistics, ``high`` the fovea
        pass's window ones, ``share`` the window's part of the eye (a number, or ``(N, 1)``).
        ``run``: the maths (:func:`calibrated_stats`) as one compiled graph through it — some forty
        small ops a normalization otherwise, each a kernel launch on a GPU (the fused engine's
        choice); eager where it is None (or its compile failed)."""
        if self.meta.get("uncalibrated"):
            return mixed_stats(high, outside_stats(whole, low, share), share)
        if i >= len(self.mean_w) or self.mean_w[i].shape[0] != whole[0].shape[1]:
            raise WeightsError(f"fovea calibration {self.path} does not fit this network (normalization {i}, "
                               f"{whole[0].shape[1]} channels)", "refit it: python -m artem_vr.temporal.fovea_fit --help")
        mean_w, var_w = self.weights_on(whole[0].device)
        if run is None:
            return calibrated_stats(whole, low, high, share, mean_w[i], var_w[i])
        return run(calibrated_stats, (whole, low, high, share, mean_w[i], var_w[i]), {})

    @classmethod
    def load(cls, path) -> "FoveaCalibration":
        """Read a calibration file (WeightsError when it is not one or is damaged)."""
        path = Path(path)
        arch, meta = read_header(path)
        if arch.get("kind") != CALIBRATION_KIND or list(arch.get("predictors", ())) != list(PREDICTORS):
            raise WeightsError(f"{path} is not a fovea statistics calibration", "refit it: python -m artem_vr.temporal.fovea_fit --help")
        t = load_file(str(path))
        n = int(arch.get("norms", -1))
        try:
            mw = [t[f"mean.{i}"].float() for i in range(n)]
            vw = [t[f"var.{i}"].float() for i in range(n)]
        except KeyError as e:
            raise WeightsError(f"{path}: missing tensor {e}", "refit it: python -m artem_vr.temporal.fovea_fit --help") from None
        for w in mw + vw:
            if w.ndim != 2 or w.shape[1] != len(PREDICTORS) or not torch.isfinite(w).all():
                raise WeightsError(f"{path}: a damaged weight tensor {tuple(w.shape)}", "refit it: python -m artem_vr.temporal.fovea_fit --help")
        return cls(mw, vw, meta, float(arch.get("periphery", 0.5)), path)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"mean.{i}": w.contiguous() for i, w in enumerate(self.mean_w)}
        out.update({f"var.{i}": w.contiguous() for i, w in enumerate(self.var_w)})
        return out

    def arch(self) -> dict:
        return {"kind": CALIBRATION_KIND, "norms": len(self.mean_w), "channels": [int(w.shape[0]) for w in self.mean_w],
                "predictors": list(PREDICTORS), "periphery": self.periphery}


def base_stylizer(stylizer):
    """The innermost stylizer of a chain of wrappers."""
    s = stylizer
    while isinstance(s, WrappingStylizer):
        s = s.inner
    return s


def calibration_path(stylizer) -> Path | None:
    """Where the fovea calibration of ``stylizer``'s current network is (whether or not it exists);
    None for a method without normalization statistics (identity)."""
    s = base_stylizer(stylizer)
    if s.method == "adain":
        return MODELS_DIR / CALIBRATION_DIR / f"vgg19_{s.model.variant.layer}.safetensors"
    if s.method in ("generator", "xnor") and getattr(s, "style", None):
        model = s.library.model(s.style, s.method, getattr(s, "arch", None))
        return None if model is None else Path(model).parent / CALIBRATION_DIR / f"{Path(model).stem}.safetensors"
    return None


# ---------------------------------------------------------------------------- the wrapper
class FoveatedStylizer(WrappingStylizer):
    """Wrap ``stylizer`` (any method) so it runs at full resolution only in a window. See the
    module docstring. ``enabled``: bool or callable read per frame (off: the wrapped stylizer as is).
    ``last_windows``: the windows of the last frame, per eye ``(y, x, h, w)`` in pixels."""

    def __init__(self, stylizer: Stylizer, region: FoveaRegion | None = None, spec: FoveaSpec = FoveaSpec(),
                 enabled=True, stats: str = "calibrated", correction: float = 0.5,
                 calibration: FoveaCalibration | None = None):
        super().__init__(stylizer, ("on",), "on")
        self.region = region or FoveaRegion()
        self.spec = spec
        self.enabled = as_switch(enabled)
        self._stats: dict = {}
        self._boxes: list | None = None
        if stats not in STATS_MODES:
            raise UsageError(f"unknown fovea statistics mode {stats!r}", f"choose one of: {', '.join(STATS_MODES)}")
        self.stats_mode = stats
        self.correction = float(correction)
        self.last_windows: list[tuple[int, int, int, int]] = []
        self.last_pixels: int | None = None
        self._calibrations: dict[Path, FoveaCalibration] = {}
        #: the statistics estimate of the last frame: "calibrated (<file>)", "window shift k=…: …" or "shared"
        self.stats_source = ""
        self._calibration: FoveaCalibration | None = None
        self._given = calibration  # used instead of the network's file (a fit, a test)
        self._graph_frame: tuple | None = None  # (places, n, h, w) of the frame a graph key was made for
        #: the estimate compiled with a compiled network (eager after a compile that failed, said once)
        self._estimate_maths = CompiledOrEager("foveation's statistics estimate")

    @property
    def estimate_compiled(self) -> bool:
        """Whether the statistics estimate runs compiled: the network does, and no compile failed."""
        return self.compiles and not self._estimate_maths.error

    def estimate_note(self) -> str:
        """How the statistics estimate runs, for the bench records: ``compiled``, ``eager`` or
        ``eager (compile failed: …)``."""
        if self._estimate_maths.error:
            return f"eager (compile failed: {self._estimate_maths.error})"
        return "compiled" if self.estimate_compiled else "eager"

    # -- statistics shared between the two passes -----------------------------------
    def _pick_estimate(self) -> None:
        """The current network's calibration (``stats="calibrated"``), loaded once per file; a network
        without one gets the uncalibrated mix, and ``stats_source`` (and the log, once per network) says so."""
        self._calibration = None
        if self.stats_mode in ("shared", "corrected"):
            self.stats_source = "shared" if self.stats_mode == "shared" else f"window shift k={self.correction:g}"
            return
        if self.stats_mode == "mixed":
            self._calibration, self.stats_source = FoveaCalibration.uncalibrated(self.spec.periphery), "mixed, uncalibrated"
            return
        if self._given is not None:
            self._calibration, self.stats_source = self._given, "calibrated (given)"
            return
        path = calibration_path(self.inner)
        if path is not None and path.is_file():
            if path not in self._calibrations:
                self._calibrations[path] = FoveaCalibration.load(path)
            cal = self._calibrations[path]
            if abs(cal.periphery - self.spec.periphery) < 1e-6:
                self._calibration = cal
                self.stats_source = f"calibrated ({path.name})"
                return
            why = f"its calibration {path.name} is for periphery {cal.periphery:g}, not {self.spec.periphery:g}"
        elif path is None:  # a method without normalization statistics (identity): nothing to say
            self._calibration = FoveaCalibration.uncalibrated(self.spec.periphery)
            self.stats_source = f"mixed, uncalibrated: no calibration for method {base_stylizer(self.inner).method}"
            return
        else:
            why = f"no calibration {path.parent.name}/{path.name} for this network"
        source = f"mixed, uncalibrated: {why} (fit one: python -m artem_vr.temporal.fovea_fit --help)"
        if source != self.stats_source:
            log.warning("foveation: %s", source)
        self._calibration, self.stats_source = FoveaCalibration.uncalibrated(self.spec.periphery), source

    def _record(self, key, mean, var):
        """Periphery pass: keep the statistics used (after any outer filter), the order of the
        normalization and the statistics of the windows' part of the feature map."""
        self._stats[key] = (len(self._stats), mean, var, _box_stats(current_features(), self._boxes))
        return mean, var

    def _replay(self, key, mean, var):
        """Fovea pass: the estimate of the full-resolution statistics (``stats``; see the module docstring)."""
        got = self._stats.get(key)
        if got is None or got[1].shape != mean.shape:
            return mean, var
        i, m, v, low = got
        if self.stats_mode == "shared" or low is None:
            return m, v
        high = _box_stats(current_features(), self._boxes)
        if high is None:
            return m, v
        if self._calibration is not None:
            return self._calibration.estimate(i, (m, v), low, high, self._share,
                                              run=self._estimate_maths if self.estimate_compiled else None)
        (ml, vl), (mh, vh) = low, high
        k = self.correction  # the window's difference is a noisy estimate of the whole picture's: shrunk
        ratio = ((vh + 1e-5) / (vl + 1e-5)).clamp(0.25, 4.0)
        return m + k * (mh - ml), v * ratio ** k

    # -- replay as one CUDA graph (artem_vr.temporal.graphed) -------------------------
    def graph_prepare(self) -> None:
        self.inner.graph_prepare()
        if self.enabled() and self.strength > 0.0:
            self._pick_estimate()  # a new network's calibration: part of the key

    def graph_key(self, x: torch.Tensor) -> tuple | None:
        """Replayable when the stylizer under it is: the windows' places (where the region is now),
        the spec and the statistics estimate in use are the rest of the key (a gaze that moves the
        window every frame makes every frame a new key: those frames run as they are)."""
        inner = self.inner.graph_key(x)
        self._graph_frame = None
        if inner is None:
            return None
        n, _, h, w = x.shape
        if not self.enabled() or self.strength <= 0.0:
            self._graph_frame = (None, n, h, w)
            return ("fovea off", inner)
        places = tuple(place(h, w, c, self.spec, self.inner.internal_scale) for c in self.region.centres(n))
        self._graph_frame = (places, n, h, w)
        cal = self._calibration
        return ("fovea", places, self.spec, self.stats_mode, self.correction, self.stats_source,
                None if cal is None else id(cal), self.estimate_compiled, inner)

    def graph_replayed(self) -> None:
        self.inner.graph_replayed()
        if self._graph_frame is not None:  # what stylize records of the frame
            places, n, h, w = self._graph_frame
            if places is None:
                self.last_windows, self.last_pixels = [], self.inner.network_pixels(n, h, w)
            else:
                self.last_windows = [p[0] for p in places]
                self.last_pixels = foveated_pixels(n, h, w, self.spec, self.inner.internal_scale)

    def network_pixels(self, n: int, h: int, w: int) -> int:
        if not self.enabled():
            return self.inner.network_pixels(n, h, w)
        return foveated_pixels(n, h, w, self.spec, self.inner.internal_scale)

    @torch.inference_mode()
    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "FoveatedStylizer input")
        n, _, h, w = x.shape
        if not self.enabled() or self.strength <= 0.0:
            self.last_windows = []
            self.last_pixels = self.inner.network_pixels(n, h, w)
            return self.inner.stylize(x)
        x = x.to(self.device)
        spec, scale = self.spec, self.inner.internal_scale
        xf = x.float()
        places = [place(h, w, c, spec, scale) for c in self.region.centres(n)]
        # 1. the periphery: the whole eye at a reduced scale; its normalization statistics recorded
        size = internal_size(h, w, spec.periphery)
        xs = downscale(xf, size)
        self._stats = {}
        self._pick_estimate()
        self._boxes = [(wy / h, wx / w, (wy + fh) / h, (wx + fw) / w) for (wy, wx, fh, fw), _ in places]
        (_, _, fh, fw), _ = places[0]  # every eye's window has the same size (not the same place)
        self._share = fh * fw / (h * w)  # a number: a tensor made from it would be a copy to the GPU, which waits
        with stats_filter(self._record):
            ys = self.inner.stylize(xs.to(x.dtype)).float()
        y = upscale(self.inner.upscale if self.inner.upscale else "guided", ys, xs, xf)
        # 2. the fovea: each eye's window with its margin of context, the statistics of pass 1
        crops = torch.cat([xf[i:i + 1, :, cy:cy + ch, cx:cx + cw] for i, (_, (cy, cx, ch, cw)) in enumerate(places)])
        self._boxes = [((wy - cy) / ch, (wx - cx) / cw, (wy - cy + fh) / ch, (wx - cx + fw) / cw)
                       for (wy, wx, fh, fw), (cy, cx, ch, cw) in places]
        try:
            with only_stats_filter(self._replay):
                yc = self.inner.stylize(crops.to(x.dtype)).float()
        finally:
            self._stats, self._boxes = {}, None
        mask = feather_mask(fh, fw, spec.feather, device=y.device)
        for i, ((wy, wx, _, _), (cy, cx, _, _)) in enumerate(places):
            fov = yc[i:i + 1, :, wy - cy:wy - cy + fh, wx - cx:wx - cx + fw]
            per = y[i:i + 1, :, wy:wy + fh, wx:wx + fw]
            y[i:i + 1, :, wy:wy + fh, wx:wx + fw] = torch.lerp(per, fov, mask)
        self.last_windows = [p[0] for p in places]
        self.last_pixels = foveated_pixels(n, h, w, spec, scale)
        return check_image(y.clamp(0, 1).to(x.dtype), "FoveatedStylizer output")


def _box_stats(f: torch.Tensor | None, boxes) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-image, per-channel mean and variance (float32 ``(N, C)``) of ``f`` ``(N, C, H, W)`` over
    each image's box ``(y0, x0, y1, x1)`` given as fractions of the map; None without a map.

    Called at every normalization of both passes (thirty times a frame for the full generator), so
    its op count is the foveated frame's launch count on a GPU: when every image's box has the
    same size (both eyes' windows are the same size; in the fovea pass they always map to the same
    size, in the periphery pass unless rounding makes one a row or column longer) the boxes are
    stacked into one (N, C, h, w) tensor and reduced together — three kernels on CUDA (stack,
    float, ``var_mean``) where one image at a time took sixteen; otherwise one box at a time."""
    if f is None or boxes is None or f.ndim != 4 or f.shape[0] != len(boxes):
        return None
    hh, ww = f.shape[-2:]
    spans = []
    for y0, x0, y1, x1 in boxes:
        a, b = int(y0 * hh), int(x0 * ww)
        spans.append((a, b, max(a + 1, math.ceil(y1 * hh)), max(b + 1, math.ceil(x1 * ww))))
    if len({(c - a, d - b) for a, b, c, d in spans}) == 1:
        return _moments(torch.stack([f[i, :, a:c, b:d] for i, (a, b, c, d) in enumerate(spans)]).float())
    pairs = [_moments(f[i:i + 1, :, a:c, b:d].float()) for i, (a, b, c, d) in enumerate(spans)]
    return torch.cat([m for m, _ in pairs]), torch.cat([v for _, v in pairs])


def _moments(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance over the last two dimensions of float32 ``(N, C, h, w)``:
    ``torch.var_mean`` on CUDA (one kernel), ``E[x²] − E[x]²`` on the CPU (there ``var_mean`` is
    ten times slower than the two plain reductions)."""
    if r.is_cuda:
        var, mean = torch.var_mean(r, dim=(2, 3), correction=0)
        return mean, var
    m = r.mean(dim=(2, 3))
    return m, ((r * r).mean(dim=(2, 3)) - m * m).clamp_min(0)


def find_foveated(stylizer) -> FoveatedStylizer | None:
    """The FoveatedStylizer in a chain of wrappers (``.inner``), or None."""
    return find_wrapper(stylizer, FoveatedStylizer)


def draw_outline(y: torch.Tensor, windows, thickness: int = 2, colour=(1.0, 0.85, 0.1)) -> torch.Tensor:
    """The fovea windows ``(y, x, h, w)`` per eye drawn as rectangles into ``y`` (N, 3, H, W) in place."""
    c = y.new_empty(3, 1, 1)
    for k, v in enumerate(colour):  # filled on the device (a tensor made from the tuple is a copy that waits)
        c[k] = v
    t = thickness
    for i, (wy, wx, fh, fw) in enumerate(windows[:y.shape[0]]):
        img = y[i]
        img[:, wy:wy + t, wx:wx + fw] = c
        img[:, wy + fh - t:wy + fh, wx:wx + fw] = c
        img[:, wy:wy + fh, wx:wx + t] = c
        img[:, wy:wy + fh, wx + fw - t:wx + fw] = c
    return y
