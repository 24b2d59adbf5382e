"""Frame sources: webcam, video, image, screen, IP camera, sample — one interface."""

from artem_vr.sources.base import FrameSource  # noqa: F401
