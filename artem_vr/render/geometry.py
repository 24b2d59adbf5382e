"""The eye view geometry as pure functions (numpy), and a CPU reference of what the renderer draws.

Conventions (OpenXR's): head space is metres, +x right, +y up, looking down -z. A field of
view is ``(angleLeft, angleRight, angleUp, angleDown)`` in radians; left and down are usually
negative. Images are host frames: uint8 (H, W, 3) RGB, top row first, sRGB-encoded.

* ``screen`` mode: a head-locked virtual screen, a flat rectangle centred at
  ``(0, 0, -screen_distance)``, ``screen_width`` wide, as high as the image's aspect asks, seen
  from the eye at ``eye_offset`` with the eye's (possibly asymmetric) FOV; dark grey around it.
* ``world`` mode: the same screen, but placed in the room (the XR reference space) in front
  of the head when the run starts and on each recenter, so it stays put as the head turns. The
  renderer takes the screen → eye transform (:func:`screen_to_eye`); on the desk outputs, which
  have no head to follow, it is the ``screen`` view.
* ``full`` mode: the image fills the eye's viewport (scaled to cover it, centred, the overflow
  cropped, aspect kept). FOV and eye offset do not apply.
* ``passthrough`` mode: a camera image (a head-mounted camera) fills the camera's own field of
  view — ``camera_fov_deg`` across with square pixels, or the pinhole intrinsics of a
  calibration file (:class:`CameraIntrinsics`, :func:`load_calibration`) — on a plane
  :data:`PASSTHROUGH_DISTANCE` metres away. The XR output turns that plane with the head
  orientation *at the frame's capture time* (:func:`passthrough_to_eye`), so the picture stays
  where the world is whatever the stylizer's delay (rotational reprojection). Translation is
  ignored: the plane is centred on each eye, i.e. the scene is treated as far away (at
  infinity) — head *movement* during the delay (centimetres) shifts near objects by less than
  the camera–eye offset does anyway, and a depth-less image cannot be reprojected for it
  correctly. Lens distortion is not undone (calibrate an undistorted stream). On the desk
  outputs (no head) it is a head-locked view of the camera's field of view.

Sampling is bilinear in linear light (the renderer samples an sRGB texture), clamped to the
edge, texel centres at ``(i + 0.5) / size``; no mipmaps (the screen spans roughly as many
pixels as the image has, so minification is mild).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from artem_vr.errors import UsageError, shown
from artem_vr.frames import check_rgb8

Fov = tuple[float, float, float, float]
MODES = ("screen", "world", "full", "passthrough")
#: around the virtual screen; sRGB-encoded display value
BACKGROUND_RGB8 = (26, 26, 26)
NEAR, FAR = 0.05, 100.0
#: how far (m) the passthrough image plane is; any distance inside NEAR–FAR draws the same picture
#: (the plane is centred on the eye), this one keeps depth precision for anything drawn over it
PASSTHROUGH_DISTANCE = 10.0


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of a camera for a ``width`` × ``height`` image, in pixels, OpenCV's
    convention (the top-left pixel's centre is (0, 0); x right, y down): ``fx``, ``fy`` focal
    lengths, ``cx``, ``cy`` the principal point. Frames of another size scale them (:meth:`scaled`)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        if not (self.width >= 1 and self.height >= 1):
            raise UsageError(f"camera calibration size {self.width}x{self.height} is not positive",
                             "give width and height of the calibrated image in pixels")
        if not (self.fx > 0 and self.fy > 0):
            raise UsageError(f"camera focal lengths fx={shown(self.fx)}, fy={shown(self.fy)} must be positive",
                             "give fx, fy in pixels (e.g. 500 for a 90° lens on a 1000-pixel-wide image)")
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise UsageError(f"camera principal point ({shown(self.cx)}, {shown(self.cy)}) is outside the "
                             f"{self.width}x{self.height} image", "cx, cy are pixels, near the image centre")

    @classmethod
    def from_fov(cls, fov_deg: float, width: int, height: int) -> "CameraIntrinsics":
        """A centred pinhole camera ``fov_deg`` across, square pixels."""
        f = (width / 2) / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    def scaled(self, width: int, height: int) -> "CameraIntrinsics":
        """The same camera for frames resized to ``width`` × ``height``."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                                width, height)

    def horizontal_fov_deg(self) -> float:
        return math.degrees(math.atan((self.cx + 0.5) / self.fx) + math.atan((self.width - 0.5 - self.cx) / self.fx))


CALIBRATION_KEYS = ("width", "height", "fx", "fy", "cx", "cy")


def load_calibration(path) -> CameraIntrinsics:
    """A camera calibration file → :class:`CameraIntrinsics`. The file is JSON:
    ``{"width": 1280, "height": 720, "fx": 640.0, "fy": 640.0, "cx": 639.5, "cy": 359.5}``
    (pixels, OpenCV's convention; extra keys such as ``"distortion"`` are ignored).
    Any problem is one UsageError line naming the file."""
    import json
    from pathlib import Path

    p = Path(path)
    fix = ('write JSON like {"width": 1280, "height": 720, "fx": 640, "fy": 640, "cx": 639.5, "cy": 359.5} '
           "(see docs/passthrough.md)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--camera-calibration {path}: no such file", fix) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--camera-calibration {path}: cannot read it ({e})", fix) from None
    except json.JSONDecodeError as e:
        raise UsageError(f"--camera-calibration {path}: not JSON ({e.msg} at line {e.lineno})", fix) from None
    if not isinstance(data, dict):
        raise UsageError(f"--camera-calibration {path}: expected a JSON object, got {type(data).__name__}", fix)
    missing = [k for k in CALIBRATION_KEYS if k not in data]
    if missing:
        raise UsageError(f"--camera-calibration {path}: missing {', '.join(missing)}", fix)
    try:
        vals = {k: float(data[k]) for k in CALIBRATION_KEYS}
    except (TypeError, ValueError):
        raise UsageError(f"--camera-calibration {path}: width, height, fx, fy, cx, cy must be numbers", fix) from None
    if not all(math.isfinite(v) for v in vals.values()):
        raise UsageError(f"--camera-calibration {path}: values must be finite numbers", fix)
    if vals["width"] != int(vals["width"]) or vals["height"] != int(vals["height"]):
        raise UsageError(f"--camera-calibration {path}: width and height must be whole pixels", fix)
    try:
        return CameraIntrinsics(vals["fx"], vals["fy"], vals["cx"], vals["cy"], int(vals["width"]), int(vals["height"]))
    except UsageError as e:
        raise UsageError(f"--camera-calibration {path}: {e.what}", e.fix or fix) from None


@dataclass(frozen=True)
class ViewConfig:
    """How the stylized image is placed in each eye (see the module docstring).

    mode: "screen" | "world" | "full"; screen_distance, screen_width in metres (> 0);
    default_fov_deg: horizontal FOV used when the caller gives none (the vertical follows the
    target's aspect, square pixels), 1–179 degrees.
    desk_ipd: eye separation in metres (0–0.1) that the desk outputs (mirror window, headless)
    place the two eyes at, since no headset reports eye poses there; the XR output uses the
    runtime's own eye poses instead. 0 renders both eyes from the head's centre.
    """

    mode: str = "screen"
    screen_distance: float = 2.0
    screen_width: float = 2.4
    default_fov_deg: float = 90.0
    desk_ipd: float = 0.063
    #: passthrough: the camera's horizontal FOV (degrees), used when ``camera`` is None
    camera_fov_deg: float = 90.0
    #: passthrough: the camera's calibrated intrinsics (overrides ``camera_fov_deg``)
    camera: CameraIntrinsics | None = None
    #: passthrough in a headset: place each frame at the head orientation of its capture time
    #: (True), or head-locked at the current one (False: what the stylizer's delay costs)
    reproject: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise UsageError(f"unknown view mode {self.mode!r}", f"choose one of: {', '.join(MODES)}")
        if not self.screen_distance > NEAR:
            raise UsageError(f"screen_distance {self.screen_distance} m is too near", f"use more than {NEAR} m")
        if not self.screen_width > 0:
            raise UsageError(f"screen_width {shown(self.screen_width)} m must be positive", "e.g. 2.4")
        if not 1.0 <= self.default_fov_deg <= 179.0:
            raise UsageError(f"default_fov_deg {shown(self.default_fov_deg)} is outside 1–179", "e.g. 90")
        if not 0.0 <= self.desk_ipd <= 0.1:
            raise UsageError(f"IPD {self.desk_ipd * 1000:g} mm is outside 0–100 mm", "e.g. --ipd 63 (the adult average)")
        if not 10.0 <= self.camera_fov_deg <= 170.0:
            raise UsageError(f"--camera-fov {self.camera_fov_deg:g} is outside 10–170 degrees",
                             "give the camera's horizontal field of view, e.g. --camera-fov 90")
        if self.camera is not None and not isinstance(self.camera, CameraIntrinsics):
            raise UsageError(f"camera must be CameraIntrinsics, got {type(self.camera).__name__}")

    def intrinsics(self, image_w: int, image_h: int) -> CameraIntrinsics:
        """The passthrough camera for an image_w × image_h frame."""
        if self.camera is not None:
            return self.camera.scaled(image_w, image_h)
        return CameraIntrinsics.from_fov(self.camera_fov_deg, image_w, image_h)


def desk_eye_offset(view: ViewConfig, eye: int) -> tuple[float, float, float]:
    """Where eye 0 (left) / 1 (right) sits in head space on the desk outputs: ±desk_ipd/2 on x."""
    if eye not in (0, 1):
        raise UsageError(f"eye must be 0 (left) or 1 (right), got {eye!r}")
    half = view.desk_ipd / 2
    return (-half if eye == 0 else half, 0.0, 0.0)


def default_fov(view: ViewConfig, width: int, height: int) -> Fov:
    """Symmetric FOV: ``view.default_fov_deg`` across, the vertical from the aspect width:height."""
    half = math.radians(view.default_fov_deg) / 2
    half_v = math.atan(math.tan(half) * height / width)
    return (-half, half, half_v, -half_v)


def check_fov(fov: Sequence[float]) -> Fov:
    """(angleLeft, angleRight, angleUp, angleDown) in radians, each within ±90°, left < right, down < up."""
    try:
        left, right, up, down = (float(a) for a in fov)
    except (TypeError, ValueError):
        raise UsageError(f"fov must be 4 angles (left, right, up, down) in radians, got {fov!r}") from None
    lim = math.pi / 2 - 1e-4
    if not (-lim < left < right < lim and -lim < down < up < lim):
        raise UsageError(f"fov {tuple(fov)} is not a valid OpenXR FOV",
                         "need -pi/2 < angleLeft < angleRight < pi/2 and -pi/2 < angleDown < angleUp < pi/2")
    return (left, right, up, down)


def projection_fov(fov: Fov, near: float = NEAR, far: float = FAR) -> np.ndarray:
    """OpenGL projection for an asymmetric FOV (as OpenXR's xr_linear.h), float32 (4, 4), row-major
    (multiply column vectors: clip = P @ [x, y, z, 1])."""
    left, right, up, down = fov
    tl, tr, tu, td = math.tan(left), math.tan(right), math.tan(up), math.tan(down)
    w, h = tr - tl, tu - td
    return np.array([
        [2 / w, 0, (tr + tl) / w, 0],
        [0, 2 / h, (tu + td) / h, 0],
        [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0, 0, -1, 0],
    ], dtype=np.float32)


def fov_aspect(fov: Sequence[float]) -> float:
    """Width : height of what an eye with this FOV sees (tangent extents). A swapchain of another
    aspect has non-square pixels, which the headset undoes; a flat picture of it must too."""
    left, right, up, down = check_fov(fov)
    return (math.tan(right) - math.tan(left)) / (math.tan(up) - math.tan(down))


def square_pixels(image: np.ndarray, fov: Sequence[float]) -> np.ndarray:
    """An eye image rendered for ``fov`` (any pixel aspect) resampled to square pixels at the same
    height: what the eye sees, neither stretched nor squeezed (for mirrors, recordings, snapshots)."""
    h, w = image.shape[:2]
    want = max(1, int(round(h * fov_aspect(fov))))
    if want == w:
        return image
    import cv2

    return cv2.resize(image, (want, h), interpolation=cv2.INTER_AREA if want < w else cv2.INTER_LINEAR)


def translation(offset: Sequence[float]) -> np.ndarray:
    m = np.eye(4, dtype=np.float32)
    m[:3, 3] = np.asarray(offset, dtype=np.float32)
    return m


def quat_matrix(q: Sequence[float]) -> np.ndarray:
    """Rotation (3, 3) of a unit quaternion (x, y, z, w) (OpenXR's order)."""
    x, y, z, w = (float(c) for c in q)
    n = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pose_matrix(orientation: Sequence[float], position: Sequence[float]) -> np.ndarray:
    """A pose (quaternion x, y, z, w; position x, y, z) as a 4×4 child → parent transform (float64)."""
    m = np.eye(4)
    m[:3, :3] = quat_matrix(orientation)
    m[:3, 3] = np.asarray(position, dtype=np.float64)
    return m


def invert_rigid(m: np.ndarray) -> np.ndarray:
    """Inverse of a rotation + translation 4×4."""
    out = np.eye(4)
    r = np.asarray(m, dtype=np.float64)[:3, :3]
    out[:3, :3] = r.T
    out[:3, 3] = -r.T @ np.asarray(m, dtype=np.float64)[:3, 3]
    return out


def yaw_of(orientation: Sequence[float]) -> float:
    """The heading (radians, about +y; positive turns left) of an orientation: where its -z looks
    on the floor plane."""
    f = quat_matrix(orientation) @ np.array([0.0, 0.0, -1.0])
    return math.atan2(-f[0], -f[2])


def level_pose(orientation: Sequence[float], position: Sequence[float]) -> np.ndarray:
    """The head pose with only its heading kept (no pitch or roll): where a world-locked screen's
    frame goes on recenter, so the screen stands upright in front of the head."""
    a = yaw_of(orientation)
    return pose_matrix((0.0, math.sin(a / 2), 0.0, math.cos(a / 2)), position)


def screen_to_eye(screen_pose: np.ndarray, eye_pose: np.ndarray) -> np.ndarray:
    """The transform from the screen's frame (the screen at z = -screen_distance in it) to an
    eye's, both poses given in the same space (4×4 child → parent)."""
    return invert_rigid(eye_pose) @ np.asarray(screen_pose, dtype=np.float64)


def passthrough_to_eye(capture_orientation: Sequence[float], eye_orientation: Sequence[float]) -> np.ndarray:
    """The passthrough plane's frame → an eye's: the plane turned with the head orientation at
    capture time, centred on the eye (translation ignored, the scene taken as far away): the
    rotation ``R_eye⁻¹ R_capture``. With both the same it is head-locked (no reprojection)."""
    m = np.eye(4)
    m[:3, :3] = quat_matrix(eye_orientation).T @ quat_matrix(capture_orientation)
    return m


def image_plane(view: ViewConfig, image_w: int, image_h: int) -> tuple[float, float, float, float, float]:
    """Where the image lies in its own frame: (x_left, y_bottom, x_right, y_top, z) in metres,
    the plane at depth z (< 0, ahead). screen / world: the virtual screen; passthrough: the
    camera's field of view at :data:`PASSTHROUGH_DISTANCE` (from its intrinsics)."""
    if view.mode == "passthrough":
        k, d = view.intrinsics(image_w, image_h), PASSTHROUGH_DISTANCE
        return ((-0.5 - k.cx) / k.fx * d, -(image_h - 0.5 - k.cy) / k.fy * d,
                (image_w - 0.5 - k.cx) / k.fx * d, (k.cy + 0.5) / k.fy * d, -d)
    hw, hh = screen_half_size(view, image_w, image_h)
    return -hw, -hh, hw, hh, -view.screen_distance


def screen_half_size(view: ViewConfig, image_w: int, image_h: int) -> tuple[float, float]:
    """Half width and half height (m) of the virtual screen showing an image_w × image_h image."""
    half_w = view.screen_width / 2
    return half_w, half_w * image_h / image_w


def cover_uv_rect(width: int, height: int, image_w: int, image_h: int) -> tuple[float, float, float, float]:
    """(u0, v0, u1, v1): the part of the image (u right, v down, 0–1) that covers a width × height
    viewport with the aspect kept; centred, the overflow cropped."""
    scale = max(width / image_w, height / image_h)
    fu = min(1.0, width / scale / image_w)
    fv = min(1.0, height / scale / image_h)
    return 0.5 - fu / 2, 0.5 - fv / 2, 0.5 + fu / 2, 0.5 + fv / 2


# ------------------------------------------------------------------------------- colour
def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0–1 → linear light 0–1 (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """linear light 0–1 → sRGB-encoded 0–1."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x < 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample float (H, W, C) at normalised (u right, v down) like GL_LINEAR + CLAMP_TO_EDGE."""
    h, w = image.shape[:2]
    x = np.clip(u * w - 0.5, 0, w - 1)
    y = np.clip(v * h - 0.5, 0, h - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bot = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bot * fy


# ------------------------------------------------------------------------------- reference
def eye_uv(width: int, height: int, view: ViewConfig, image_w: int, image_h: int,
           fov: Sequence[float] | None = None, eye_offset: Sequence[float] = (0.0, 0.0, 0.0),
           to_eye: np.ndarray | None = None):
    """For each pixel centre of a width × height eye image (top row first): the image
    coordinates (u, v) it shows and whether it shows the image at all. Ray-cast, independent of
    the renderer's matrices. ``to_eye``: the screen → eye transform (:func:`screen_to_eye`),
    which replaces ``eye_offset``. Returns (u, v, inside), each (height, width)."""
    cols = (np.arange(width) + 0.5) / width
    rows = (np.arange(height) + 0.5) / height
    if view.mode == "full":
        u0, v0, u1, v1 = cover_uv_rect(width, height, image_w, image_h)
        u = np.broadcast_to(u0 + cols[None, :] * (u1 - u0), (height, width))
        v = np.broadcast_to(v0 + rows[:, None] * (v1 - v0), (height, width))
        return u, v, np.ones((height, width), dtype=bool)
    left, right, up, down = check_fov(fov) if fov is not None else default_fov(view, width, height)
    eye_in_screen = invert_rigid(to_eye) if to_eye is not None else translation(eye_offset).astype(np.float64)
    tl, tr, tu, td = math.tan(left), math.tan(right), math.tan(up), math.tan(down)
    d_eye = np.stack(np.broadcast_arrays(tl + cols[None, :] * (tr - tl), tu - rows[:, None] * (tu - td),
                                         -np.ones((1, 1))), axis=-1)  # ray direction per pixel (eye space)
    d = d_eye @ eye_in_screen[:3, :3].T  # … in the screen's frame
    o = eye_in_screen[:3, 3]
    x0, y0, x1, y1, z = image_plane(view, image_w, image_h)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (z - o[2]) / d[..., 2]  # ray parameter where the ray reaches the image's plane
    x = o[0] + s * d[..., 0]
    y = o[1] + s * d[..., 1]
    u = (x - x0) / (x1 - x0)
    v = (y1 - y) / (y1 - y0)
    inside = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1) & (s > 0)
    return u, v, inside


def expected_eye_image(image: np.ndarray, width: int, height: int, view: ViewConfig,
                       fov: Sequence[float] | None = None,
                       eye_offset: Sequence[float] = (0.0, 0.0, 0.0), to_eye: np.ndarray | None = None) -> np.ndarray:
    """What ``EyeRenderer.render_eye`` draws for one eye showing ``image``, computed on the CPU.

    image: uint8 (H, W, 3) RGB (this eye's image). Returns uint8 (height, width, 3) RGB, top row
    first. Matches the GPU up to rasterisation at the screen's edges and float rounding.
    """
    image = check_rgb8(image, "expected_eye_image")
    ih, iw = image.shape[:2]
    u, v, inside = eye_uv(width, height, view, iw, ih, fov, eye_offset, to_eye)
    lin = srgb_to_linear(image / 255.0)
    out = np.empty((height, width, 3), dtype=np.float64)
    out[:] = np.asarray(BACKGROUND_RGB8, dtype=np.float64) / 255.0
    if inside.any():
        out[inside] = linear_to_srgb(bilinear(lin, u[inside], v[inside]))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
