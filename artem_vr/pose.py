"""Head pose history: where the head was at a past moment (a leaf module: numpy-free, no XR).

The XR output records the head's pose every frame (:meth:`PoseHistory.record`, located at the
*current* time, so the label is right on every runtime — whether or not it honours past or
future times in ``xrLocateSpace``); a source (the simulated head-mounted camera) and the
passthrough view read it back at a frame's capture time (:meth:`PoseHistory.at`).

Times are ``time.monotonic()`` seconds — the clock :class:`~artem_vr.frames.Frame` stamps
frames with. Orientations are unit quaternions ``(x, y, z, w)`` (OpenXR's order), positions
``(x, y, z)`` metres in the XR reference space. Between two samples the orientation is
slerped and the position lerped; after the newest sample both are extrapolated at the last
angular / linear velocity for up to ``max_extrapolate`` seconds (then held); before the oldest
kept sample the oldest is held.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass

Quat = tuple[float, float, float, float]
Vec3 = tuple[float, float, float]
IDENTITY: Quat = (0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PoseSample:
    t: float  # time.monotonic() seconds
    orientation: Quat
    position: Vec3 = (0.0, 0.0, 0.0)


def normalize(q: Quat) -> Quat:
    n = math.sqrt(sum(c * c for c in q))
    if n < 1e-12:
        return IDENTITY
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


def quat_mul(a: Quat, b: Quat) -> Quat:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def slerp(a: Quat, b: Quat, s: float) -> Quat:
    """Spherical interpolation from ``a`` (s = 0) to ``b`` (s = 1) along the shorter arc; s outside
    0–1 extrapolates along the same great circle."""
    a, b = normalize(a), normalize(b)
    dot = sum(x * y for x, y in zip(a, b))
    if dot < 0.0:  # q and -q are the same rotation: take the short way
        b, dot = tuple(-c for c in b), -dot
    dot = min(1.0, dot)
    theta = math.acos(dot)
    if theta < 1e-6:
        return normalize(tuple(x + (y - x) * s for x, y in zip(a, b)))
    sin_t = math.sin(theta)
    wa, wb = math.sin((1.0 - s) * theta) / sin_t, math.sin(s * theta) / sin_t
    return normalize(tuple(wa * x + wb * y for x, y in zip(a, b)))


def yaw_quat(degrees: float) -> Quat:
    """A turn of ``degrees`` about +y (positive: to the left, OpenXR's right-handed y-up)."""
    a = math.radians(degrees) / 2
    return (0.0, math.sin(a), 0.0, math.cos(a))


def yaw_degrees(q: Quat) -> float:
    """The heading of ``q`` in degrees (positive: left): where its -z looks on the floor plane."""
    x, y, z, w = normalize(q)
    fx, fz = -2 * (x * z + y * w), -(1 - 2 * (x * x + y * y))  # R @ (0, 0, -1), x and z parts
    return math.degrees(math.atan2(-fx, -fz))


class PoseHistory:
    """A thread-safe ring buffer of head poses (newest ``capacity`` samples, times increasing).

    ``max_extrapolate``: how far past the newest sample :meth:`at` predicts (seconds).
    """

    def __init__(self, capacity: int = 512, max_extrapolate: float = 0.1):
        if capacity < 2:
            raise ValueError(f"capacity {capacity} must be at least 2")
        self.max_extrapolate = float(max_extrapolate)
        self._samples: deque[PoseSample] = deque(maxlen=capacity)
        self._times: deque[float] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, t: float, orientation, position=(0.0, 0.0, 0.0)) -> None:
        """Add the pose at monotonic time ``t``. A time not after the newest replaces it."""
        s = PoseSample(float(t), normalize(tuple(float(c) for c in orientation)),
                       tuple(float(c) for c in position))
        with self._lock:
            while self._times and self._times[-1] >= s.t:
                self._times.pop()
                self._samples.pop()
            self._samples.append(s)
            self._times.append(s.t)

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)

    def newest(self) -> PoseSample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def span(self) -> tuple[float, float] | None:
        """(oldest, newest) sample times, or None when empty."""
        with self._lock:
            return (self._times[0], self._times[-1]) if self._times else None

    def at(self, t: float) -> PoseSample | None:
        """The pose at monotonic time ``t`` (interpolated / extrapolated, see the module doc), or
        None when nothing was recorded yet."""
        with self._lock:
            n = len(self._samples)
            if n == 0:
                return None
            if n == 1 or t <= self._times[0]:
                s = self._samples[0] if t <= self._times[0] else self._samples[-1]
                return PoseSample(t, s.orientation, s.position)
            i = bisect.bisect_right(self._times, t)
            if i >= n:  # after the newest: extrapolate from the last two samples
                a, b = self._samples[-2], self._samples[-1]
                t = min(t, b.t + self.max_extrapolate)
            else:
                a, b = self._samples[i - 1], self._samples[i]
        s = (t - a.t) / (b.t - a.t)
        pos = tuple(pa + (pb - pa) * s for pa, pb in zip(a.position, b.position))
        return PoseSample(t, slerp(a.orientation, b.orientation, s), pos)
