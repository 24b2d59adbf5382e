"""Pose maths as pure functions (no XR calls): quaternions (x, y, z, w), positions (x, y, z) in metres.

OpenXR poses map a space's local coordinates into the reference space: ``p_ref = q * p_local + t``.
"""

from __future__ import annotations

import math
from typing import Sequence

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]  # x, y, z, w


def quat_conj(q: Quat) -> Quat:
    x, y, z, w = q
    return (-x, -y, -z, w)


def quat_rotate(q: Quat, v: Vec3) -> Vec3:
    """Rotate vector v by unit quaternion q (x, y, z, w)."""
    x, y, z, w = q
    vx, vy, vz = v
    # t = 2 * cross(q.xyz, v); v' = v + w * t + cross(q.xyz, t)
    tx, ty, tz = 2 * (y * vz - z * vy), 2 * (z * vx - x * vz), 2 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


def relative_position(head_q: Quat, head_p: Vec3, eye_p: Vec3) -> Vec3:
    """Where ``eye_p`` (reference space) is in the head's own frame: q_head⁻¹ (eye − head)."""
    d = (eye_p[0] - head_p[0], eye_p[1] - head_p[1], eye_p[2] - head_p[2])
    return quat_rotate(quat_conj(head_q), d)


def pose_tuple(pose) -> tuple[Quat, Vec3]:
    """An xr.Posef → ((x, y, z, w), (x, y, z))."""
    o, p = pose.orientation, pose.position
    return (o.x, o.y, o.z, o.w), (p.x, p.y, p.z)


def eye_offsets(head_pose, eye_poses: Sequence) -> list[Vec3]:
    """Each eye's position in head space (m), from xr.Posef values located in one space."""
    hq, hp = pose_tuple(head_pose)
    return [relative_position(hq, hp, pose_tuple(e)[1]) for e in eye_poses]


def fov_tuple(fov) -> tuple[float, float, float, float]:
    """An xr.Fovf → (angleLeft, angleRight, angleUp, angleDown) in radians (OpenXR signs)."""
    return (float(fov.angle_left), float(fov.angle_right), float(fov.angle_up), float(fov.angle_down))


def is_unit(q: Quat, tol: float = 1e-3) -> bool:
    return abs(math.sqrt(sum(c * c for c in q)) - 1.0) < tol
