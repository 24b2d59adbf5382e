"""`artem-vr doctor` checks for capture: cameras, the X display, screen capture."""

from __future__ import annotations

import os
import sys

from artem_vr.checks import Check

_NO_CAMERA_FIX = "no camera needed: use --source sample, a video file, an image, or an IP camera URL"


def _check_cameras(max_probe: int = 4) -> list[Check]:
    from artem_vr.sources.camera import list_video_devices  # lazy: OpenCV only when this runs

    devices = list_video_devices()
    if not devices:
        return [Check("camera", None, "no camera (no /dev/video*): use --source sample, a video file, an image or an IP camera URL", _NO_CAMERA_FIX)]
    import cv2

    from artem_vr.sources.camera import _quiet_opencv  # lazy: OpenCV only when this runs

    _quiet_opencv()
    out = []
    for dev in devices[:max_probe]:
        cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
        try:
            if not cap.isOpened():
                out.append(Check(f"camera {dev}", False, "present but cannot be opened",
                                 "another program may hold it, or add your user to the 'video' group"))
                continue
            ok, frame = cap.read()
            if ok and frame is not None:
                h, w = frame.shape[:2]
                out.append(Check(f"camera {dev}", True, f"opens, {w}x{h} (use --source {dev})"))
            else:
                # many devices are metadata nodes of the same camera: informational, not a failure
                out.append(Check(f"camera {dev}", None, "opens but gives no frames (a metadata node?)"))
        finally:
            cap.release()
    if len(devices) > max_probe:
        out.append(Check("camera", None, f"{len(devices) - max_probe} more /dev/video* devices not probed"))
    return out


def _check_display() -> list[Check]:
    display = os.environ.get("DISPLAY")
    if not display and sys.platform.startswith("linux"):  # Windows and macOS capture without one
        # the render probe already reports the missing display; say what it means for capture
        return [Check("screen capture", None, "DISPLAY not set: no X display to capture (use another --source)")]
    try:
        import mss
    except ImportError:
        return [Check("screen capture", False, "the 'mss' package is missing", "pip install mss")]
    try:
        sct = mss.MSS()
    except Exception as e:
        return [
            Check("X display", False, f"DISPLAY={display} cannot be reached: {e}",
                  "check the X server is running and you may connect (xhost/XAUTHORITY)"),
            Check("screen capture", False, "needs a reachable X display", "fix DISPLAY, or use another --source"),
        ]
    try:
        mons = sct.monitors
        full = mons[0]
        disp = Check("X display", True, f"DISPLAY={display}, {full['width']}x{full['height']}, {len(mons) - 1} monitor(s)")
        try:
            shot = sct.grab({"left": full["left"], "top": full["top"], "width": 1, "height": 1})
            cap = Check("screen capture", True, f"mss works ({len(shot.raw)} bytes grabbed); use --source screen")
        except Exception as e:
            cap = Check("screen capture", False, f"mss cannot grab: {e}", "check the X server allows XGetImage")
    finally:
        sct.close()
    return [disp, cap]


def doctor_checks() -> list[Check]:
    """Cameras (present and openable), the X display, and the screen-capture backend."""
    checks = _check_cameras()
    checks.extend(_check_display())
    return checks
