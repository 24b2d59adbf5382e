"""Eye gaze → the foveal window (``XR_EXT_eye_gaze_interaction``).

Where the runtime offers the extension it is enabled (:mod:`artem_vr.xr.instance`), and where
the system also reports eye tracking (``XrSystemEyeGazeInteractionPropertiesEXT``),
:class:`XrActions` gets a ``gaze`` pose action bound to ``/user/eyes_ext/input/gaze_ext/pose``.
Each frame :class:`GazeTracker` locates the gaze pose in the session's reference space and turns
it into the window's centre per eye on the picture (:func:`picture_uv`), written to the run's
:class:`~artem_vr.temporal.foveate.FoveaRegion`. No gaze (extension absent, no eye tracker —
Monado's simulated/remote devices report none — or an invalid pose): the window stays where it
is, at the view centre unless a gaze moved it.

The picture, for the maths: ``screen``/``world`` view — the virtual screen, a rectangle
``width × height`` centred at ``(0, 0, -distance)`` in a frame (the head for ``screen``, the
placed screen pose for ``world``), so one point on it for both eyes; ``full`` view — each eye's
own image, filling that eye's FOV, so the gaze ray in each eye's view space (the cover crop
of a picture whose aspect differs from the eye's is not taken into account). Any other view
leaves the window where it is.
"""

from __future__ import annotations

import ctypes
import logging

import numpy as np

from artem_vr.render.geometry import pose_matrix, screen_half_size
from artem_vr.temporal.foveate import fov_tangents, gaze_to_uv
from artem_vr.xr.instance import EXT_EYE_GAZE
from artem_vr.xr.poses import fov_tuple, pose_tuple

log = logging.getLogger(__name__)

GAZE_PROFILE = "/interaction_profiles/ext/eye_gaze_interaction"
GAZE_PATH = "/user/eyes_ext/input/gaze_ext/pose"


# ---------------------------------------------------------------------------- maths
def ray_on_screen(origin, direction, frame: np.ndarray, distance: float, width: float, height: float):
    """Where a ray (in the space of ``frame``'s parent) meets the screen, as picture ``(u, v)``
    in 0–1 (clamped to the edge). ``frame``: 4×4, the screen sits at ``(0, 0, -distance)`` in it,
    facing +z, ``width × height`` metres. None when the ray runs parallel or away from it."""
    inv = np.linalg.inv(np.asarray(frame, dtype=np.float64))
    o = inv[:3, :3] @ np.asarray(origin, dtype=np.float64) + inv[:3, 3]
    d = inv[:3, :3] @ np.asarray(direction, dtype=np.float64)
    if abs(d[2]) < 1e-9:
        return None
    t = (-distance - o[2]) / d[2]
    if t <= 0:
        return None
    x, y = o[0] + t * d[0], o[1] + t * d[1]
    u, v = x / width + 0.5, 0.5 - y / height
    return min(1.0, max(0.0, u)), min(1.0, max(0.0, v))


def ray_in_eye(direction, eye_pose: np.ndarray, fov):
    """A gaze direction (reference space) seen from an eye with 4×4 ``eye_pose`` (eye → reference)
    and OpenXR ``fov``: the picture ``(u, v)`` where the eye's image fills its FOV (``full`` view)."""
    rot = np.asarray(eye_pose, dtype=np.float64)[:3, :3]
    d = rot.T @ np.asarray(direction, dtype=np.float64)
    return gaze_to_uv(d, fov_tangents(fov))


def quat_forward(q) -> np.ndarray:
    """The −z axis rotated by quaternion ``q`` = (x, y, z, w): where a pose looks."""
    x, y, z, w = (float(v) for v in q)
    return -np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


# ---------------------------------------------------------------------------- runtime
def eye_gaze_supported(instance) -> bool:
    """The extension is enabled and the system reports eye gaze interaction."""
    if EXT_EYE_GAZE not in getattr(instance, "extensions", ()):
        return False
    xr = instance.xr
    gaze = xr.SystemEyeGazeInteractionPropertiesEXT()
    props = xr.SystemProperties(next=ctypes.cast(ctypes.pointer(gaze), ctypes.c_void_p))
    # pyopenxr's get_system_properties makes its own struct (no chain): the raw call with ours
    result = xr.check_result(xr.raw_functions.xrGetSystemProperties(instance.handle, instance.system_id,
                                                                    ctypes.byref(props)))
    if result.is_exception():
        raise result
    return bool(gaze.supports_eye_gaze_interaction)


class GazeTracker:
    """Per frame: the gaze pose (the ``gaze`` action's space) → the region's centres. Its action
    space is made on the first frame of a session (a child of the session: destroyed with it)."""

    def __init__(self, instance, action, region):
        self.instance, self.xr, self.action, self.region = instance, instance.xr, action, region
        self._space = None
        self._session = None
        self.updates = 0

    def update(self, session, app_space, display_time: int, views, picture) -> bool:
        """``views``: [(4×4 eye pose, fov)], ``picture``: ``("screen", frame 4×4, distance, width,
        height)`` or ``("full",)``. Returns whether the gaze moved the window this frame."""
        xr = self.xr
        if self._session is not session:
            self._space = xr.create_action_space(session, xr.ActionSpaceCreateInfo(
                action=self.action, subaction_path=xr.NULL_PATH, pose_in_action_space=xr.Posef()))
            self._session = session
        st = xr.get_action_state_pose(session, xr.ActionStateGetInfo(action=self.action, subaction_path=xr.NULL_PATH))
        if not st.is_active:
            return False
        loc = xr.locate_space(self._space, app_space, display_time)
        need = xr.SpaceLocationFlags.ORIENTATION_VALID_BIT | xr.SpaceLocationFlags.POSITION_VALID_BIT
        if (loc.location_flags & need) != need:
            return False
        o = loc.pose.position
        q = loc.pose.orientation
        origin, direction = (o.x, o.y, o.z), quat_forward((q.x, q.y, q.z, q.w))
        if picture[0] == "full":
            uvs = [ray_in_eye(direction, pose, fov) for pose, fov in views]
        else:
            _, frame, dist, wid, hei = picture
            uv = ray_on_screen(origin, direction, frame, dist, wid, hei)
            uvs = [uv] * len(views)
        if any(uv is None for uv in uvs):
            return False
        self.region.set_centres(uvs)
        self.updates += 1
        return True

    def follow(self, session, app_space, display_time: int, views, head, view, screen_pose, frame) -> bool:
        """:meth:`update` from the frame loop's objects: the located ``views`` and ``head`` pose,
        the ViewConfig ``view``, the world screen's pose (or None) and the StylizedFrame shown."""
        if view.mode not in ("screen", "world", "full"):
            return False  # a view whose picture this maths does not know: the window stays put
        eyes = [(pose_matrix(*pose_tuple(v.pose)), fov_tuple(v.fov)) for v in views]
        if view.mode == "full":
            picture = ("full",)
        else:
            size = image_size(frame)
            if size is None:
                return False
            placed = screen_pose if view.mode == "world" and screen_pose is not None else pose_matrix(*pose_tuple(head))
            hw, hh = screen_half_size(view, *size)
            picture = ("screen", placed, view.screen_distance, 2 * hw, 2 * hh)
        return self.update(session, app_space, display_time, eyes, picture)


def image_size(frame) -> tuple[int, int] | None:
    """(width, height) of a StylizedFrame's eye images."""
    if frame is None:
        return None
    if frame.eyes:
        h, w = frame.eyes[0].shape[:2]
        return w, h
    if frame.tensor is not None:
        return int(frame.tensor.shape[-1]), int(frame.tensor.shape[-2])
    return None


def make_gaze_tracker(instance, actions, pipeline) -> GazeTracker | None:
    """A tracker when the actions have a gaze action and the run is foveated, else None."""
    action = getattr(actions, "gaze_action", None)
    region = getattr(getattr(pipeline, "worker", None), "fovea_region", None)
    if action is None or region is None:
        return None
    return GazeTracker(instance, action, region)
