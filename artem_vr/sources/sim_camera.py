"""A simulated head-mounted camera: the view of a 360° panorama from the head pose at capture time.

``--source sim-camera`` (or ``sim-camera:PANORAMA.jpg``) stands in for a camera strapped to a
headset, for tests and demos with no hardware. Each frame is *exposed* at ``t_capture`` on the
source's own clock (``fps``), and *delivered* ``capture_delay`` seconds later (a real camera's
exposure + readout + USB + decode); it is stamped with ``t_capture`` (``Frame.t``), and shows the
panorama as seen with the head orientation at ``t_capture``:

* with the XR output running, from the run's :class:`~artem_vr.pose.PoseHistory` (the output
  records the head pose every frame; the camera renders at delivery time and, when the history
  does not reach ``t_capture`` yet — a frame loop slower than the camera — waits up to
  :data:`POSE_WAIT` seconds for a pose after it, so it interpolates rather than guesses: the
  picture is what a real camera saw then, only its delivery is later);
* with no head poses (a desk output, or before the headset's first frame): a scripted pan of
  ``pan_deg_s`` degrees per second to the left about the vertical (0: looking straight ahead).

The camera is a centred pinhole, ``fov_deg`` across, square pixels, at the head's centre (no
camera–eye offset). The panorama is equirectangular (2:1, longitude across, the centre column
straight ahead (-z), right to the right; latitude up): the shipped
``assets/panorama/sim_panorama.jpg`` (made by ``tools/make_panorama.py``) has a magenta disc,
:data:`LANDMARK_RGB`, at yaw :data:`LANDMARK_YAW_DEG`, on the horizon — what the latency
evaluation looks for.
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path

import numpy as np

from artem_vr.errors import SourceError, UsageError
from artem_vr.paths import ASSETS_DIR
from artem_vr.pose import PoseHistory, yaw_degrees, yaw_quat
from artem_vr.sources.base import FrameSource

#: the landmark of the shipped panorama: a disc of this colour, centred at this yaw (degrees,
#: positive left, as OpenXR turns about +y) on the horizon, this many degrees in radius
LANDMARK_RGB = (255, 0, 255)
LANDMARK_YAW_DEG = 0.0
LANDMARK_RADIUS_DEG = 2.5
DEFAULT_PANORAMA = "panorama/sim_panorama.jpg"
#: at most this long (s) past its delivery time a frame waits for the head pose of its capture time
POSE_WAIT = 0.5


def default_panorama() -> Path:
    return ASSETS_DIR / DEFAULT_PANORAMA


def quat_to_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def camera_rays(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Unit ray directions (height, width, 3) float32 of a centred pinhole camera ``fov_deg``
    across (x right, y up, looking down -z), through each pixel centre."""
    f = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    xs = (np.arange(width, dtype=np.float64) - (width - 1) / 2) / f
    ys = -(np.arange(height, dtype=np.float64) - (height - 1) / 2) / f
    d = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -np.ones((1, 1))), axis=-1)
    return (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)


def view_of_panorama(panorama: np.ndarray, rays: np.ndarray, orientation) -> np.ndarray:
    """What a camera with ``rays`` (camera space, :func:`camera_rays`) sees of an equirectangular
    ``panorama`` (uint8 (H, 2H, 3) RGB) when turned by ``orientation`` (x, y, z, w): uint8 RGB."""
    import cv2

    ph, pw = panorama.shape[:2]
    d = rays @ quat_to_matrix(orientation).T.astype(np.float32)  # world directions
    lon = np.arctan2(d[..., 0], -d[..., 2])  # 0 straight ahead, positive to the right
    lat = np.arctan2(d[..., 1], np.hypot(d[..., 0], d[..., 2]))
    mx = ((0.5 + lon / (2 * np.pi)) * pw - 0.5).astype(np.float32)
    my = ((0.5 - lat / np.pi) * ph - 0.5).astype(np.float32)
    return cv2.remap(panorama, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def load_panorama(path: str | Path) -> np.ndarray:
    """An equirectangular panorama file → uint8 (H, W, 3) RGB; SourceError when unreadable or not 2:1."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise SourceError(f"panorama {path}: no such file", "give an equirectangular (2:1) image, or leave it out "
                                                             "for the shipped one")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"panorama {path}: not an image OpenCV can read", "use a JPEG or PNG")
    h, w = img.shape[:2]
    if abs(w / h - 2.0) > 0.05:
        raise SourceError(f"panorama {path} is {w}x{h}, not 2:1", "give an equirectangular (360°×180°) image")
    return np.ascontiguousarray(img[..., ::-1])


class SimCameraSource(FrameSource):
    """The simulated head-mounted camera (see the module doc).

    ``panorama``: a file (None: the shipped one); ``poses``: the run's pose history (None: the
    scripted pan only); ``size``: (width, height) of the frames; ``fov_deg``: horizontal FOV;
    ``fps``: exposures per second; ``capture_delay``: seconds from exposure to delivery;
    ``pan_deg_s``: the scripted pan's rate when no head pose is known.
    """

    name = "sim-camera"
    opens_a_file = True

    def __init__(self, panorama: str | Path | None = None, *, poses: PoseHistory | None = None,
                 size: tuple[int, int] = (640, 480), fov_deg: float = 90.0, fps: float = 30.0,
                 capture_delay: float = 0.0, pan_deg_s: float = 0.0, stereo: str | None = None):
        if stereo is not None:
            raise UsageError("--source sim-camera is a mono camera", "leave out --stereo")
        if not 0.0 <= capture_delay <= 2.0:
            raise UsageError(f"--capture-delay {capture_delay * 1000:g} ms is outside 0–2000 ms", "e.g. --capture-delay 30")
        if not 1.0 <= fps <= 240.0:
            raise UsageError(f"sim-camera fps {fps:g} is outside 1–240")
        if not 10.0 <= fov_deg <= 170.0:
            raise UsageError(f"sim-camera FOV {fov_deg:g}° is outside 10–170°", "e.g. --camera-fov 90")
        if not (16 <= size[0] <= 4096 and 16 <= size[1] <= 4096):
            raise UsageError(f"sim-camera size {size[0]}x{size[1]} is outside 16–4096 pixels")
        super().__init__(stereo=None)
        self.path = Path(panorama) if panorama is not None else default_panorama()
        self.label = f"sim-camera:{self.path.name}"
        self.poses = poses
        self.size = (int(size[0]), int(size[1]))
        self.fov_deg = float(fov_deg)
        self.fps = float(fps)
        self.capture_delay = float(capture_delay)
        self.pan_deg_s = float(pan_deg_s)
        self.panorama: np.ndarray | None = None
        self._rays: np.ndarray | None = None
        self._exposed: deque[float] = deque()  # exposure times waiting for their delivery
        self._t0 = 0.0
        self._next = 0.0
        #: (capture time, yaw in degrees) of each delivered frame, newest 1000 (for tests and the eval)
        self.delivered: deque[tuple[float, float]] = deque(maxlen=1000)

    def _open(self) -> None:
        if self.panorama is None:  # not read by check() already
            self.panorama = load_panorama(self.path)
        self._rays = camera_rays(self.size[0], self.size[1], self.fov_deg)
        self._t0 = self._next = time.monotonic()

    def orientation_at(self, t: float):
        """The head orientation at monotonic ``t``: the pose history's, else the scripted pan."""
        if self.poses is not None:
            s = self.poses.at(t)
            if s is not None:
                return s.orientation
        return yaw_quat(self.pan_deg_s * (t - self._t0))

    def _pose_known(self, t_cap: float, now: float) -> bool:
        """The pose history holds a pose after ``t_cap`` (or there is none to wait for)."""
        if self.poses is None:
            return True
        newest = self.poses.newest()
        return newest is None or newest.t >= t_cap or now > t_cap + self.capture_delay + POSE_WAIT

    def render(self, orientation) -> np.ndarray:
        return view_of_panorama(self.panorama, self._rays, orientation)

    def _grab(self):
        """Block until the next frame is due for delivery; (image, capture time), None when stopped."""
        period = 1.0 / self.fps
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= self._next:  # exposure: remember when; the picture is made at delivery
                self._exposed.append(now)
                self._next = self._next + period if now - self._next < period else now + period
            if self._exposed and now >= self._exposed[0] + self.capture_delay and self._pose_known(self._exposed[0], now):
                t_cap = self._exposed.popleft()
                q = self.orientation_at(t_cap)
                img = self.render(q)
                self.delivered.append((t_cap, yaw_degrees(q)))
                return img, t_cap
            due = self._next if not self._exposed else min(self._next, max(now + 0.002, self._exposed[0] + self.capture_delay))
            self._stop.wait(max(0.0005, due - time.monotonic()))
        return None



def find_landmark(image: np.ndarray, min_pixels: int = 6) -> tuple[float, float] | None:
    """The centroid (x, y) in pixels (x right, y down, pixel centres at integers) of the
    landmark's magenta in uint8 RGB ``image``, or None when fewer than ``min_pixels`` show it."""
    img = image.astype(np.int16)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mask = (r > 170) & (b > 170) & (g < 100) & (np.abs(r - b) < 70)
    ys, xs = np.nonzero(mask)
    if xs.size < min_pixels:
        return None
    return float(xs.mean()), float(ys.mean())
