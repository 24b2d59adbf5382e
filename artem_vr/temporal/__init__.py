"""Comfort: temporal stabilization, stereo consistency, and the metrics that measure them.

* :class:`~artem_vr.temporal.stabilize.TemporalStabilizer` — wraps any Stylizer; smoothed
  instance-norm statistics + flow-warped blending; ``reset()`` on style change / cut.
* :class:`~artem_vr.temporal.stereo.StereoConsistentStylizer` — wraps any Stylizer; both eyes
  with shared statistics, optionally the left eye warped into the right by online disparity.
* :mod:`artem_vr.temporal.devflow` — the same flow, disparity, warps and checks in torch, run on
  the frames' own device (the CUDA path: ``backend="auto"`` picks it for GPU frames).
* :mod:`artem_vr.temporal.flicker` — flicker (flow-warped error on real video, occlusion-masked)
  and stereo error (ground-truth disparity); :mod:`~artem_vr.temporal.readers` reads the videos and
  pairs; :mod:`~artem_vr.temporal.metrics` is the ``artem-vr eval`` half that runs them
  (:mod:`~artem_vr.temporal.strips` draws its side-by-side images).

The wrappers are Stylizers themselves, so they stack:
``TemporalStabilizer(FrameGraphStylizer(StereoConsistentStylizer(stylizer)))`` is what
:func:`wrap_for_run` builds (:mod:`~artem_vr.temporal.graphed`: frames on CUDA replayed as CUDA graphs).
"""

from __future__ import annotations

from artem_vr.temporal.graphed import FrameGraphStylizer
from artem_vr.temporal.stabilize import TemporalStabilizer
from artem_vr.temporal.stereo import StereoConsistentStylizer

__all__ = ["TemporalStabilizer", "StereoConsistentStylizer", "FrameGraphStylizer", "wrap_for_run", "stabilize_for_video", "comfort_stats",
           "comfort_wrappers"]


def wrap_for_run(stylizer, state, backend: str = "auto") -> TemporalStabilizer:
    """For `artem-vr run`: stereo consistency and temporal stabilization, each switched live by
    ``state.stereo_consistency`` / ``state.temporal`` (read every frame; a temporal toggle resets).

    ``backend="auto"``: flow and disparity in torch on the stylizer's own tensors when it runs on
    CUDA (nothing crosses to the host), OpenCV when it runs on the CPU. A network that runs
    compiled (``stylizer.compiles``: the ``fused`` engine) has the torch path's steps compiled too."""
    compile = stylizer.compiles
    stereo = StereoConsistentStylizer(stylizer, mode="warp", backend=backend, compile=compile,
                                      enabled=lambda: bool(getattr(state, "stereo_consistency", True)))
    # frames on CUDA replay as CUDA graphs below the temporal stabilizer (its per-frame flow stays out)
    return TemporalStabilizer(FrameGraphStylizer(stereo), mode="auto", backend=backend, compile=compile,
                              enabled=lambda: bool(getattr(state, "temporal", True)))


def stabilize_for_video(stylizer) -> TemporalStabilizer:
    """For `artem-vr stylize` on a video: temporal stabilization (frames in order, batch of 1)."""
    return TemporalStabilizer(stylizer, mode="auto")


def comfort_wrappers(stylizer) -> dict:
    """The comfort wrappers in a chain of them (``.inner``): ``{"temporal": TemporalStabilizer,
    "stereo": StereoConsistentStylizer}`` for those present."""
    out = {}
    s = stylizer
    while s is not None:
        if isinstance(s, TemporalStabilizer):
            out["temporal"] = s
        elif isinstance(s, StereoConsistentStylizer):
            out["stereo"] = s
        s = getattr(s, "inner", None) if isinstance(s, (TemporalStabilizer, StereoConsistentStylizer, FrameGraphStylizer)) else None
    return out


def comfort_stats(stylizer) -> dict:
    """The ``stats`` of every comfort wrapper around ``stylizer`` (for `artem-vr bench`):
    ``{"temporal": {...cost_ms...}, "stereo": {...cost_ms...}}`` for those present."""
    return {name: dict(w.stats) for name, w in comfort_wrappers(stylizer).items()}
