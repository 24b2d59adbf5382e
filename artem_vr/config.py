"""`artem-vr run`'s configuration: parsed and checked once (:class:`RunConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from artem_vr.contracts import OUTPUTS
from artem_vr.errors import NotADirectory, UsageError, file_in_the_way, shown
from artem_vr.frames import VIDEO_WRITE_SUFFIXES
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.render.geometry import CameraIntrinsics, ViewConfig


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (w, h), each 16–8192; anything else is a UsageError."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"eye size {text!r} is not WxH", "write it like 1440x1600") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UsageError(f"eye size {text!r} is out of range", "each side must be 16–8192 pixels")
    return w, h


#: RunConfig field → its option, for the options only the headset output (--output xr) uses
HEADSET_ONLY = {"xr_mirror": "--mirror", "xr_graphics": "--xr-graphics", "xr_scale": "--xr-scale",
                "xr_space": "--xr-space", "xr_validation": "--xr-validation", "xr_hang_timeout": "--xr-hang-timeout",
                "pose_source": "--pose-source"}


# ---------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RunConfig:
    """`artem-vr run`, parsed and validated once. Nothing downstream reads argparse."""

    source: str = "sample"
    stereo: str | None = None
    loop: bool = True
    style: str | None = None
    method: str | None = None
    strength: float = 1.0
    output: str = "auto"
    eye_size: tuple[int, int] = (640, 360)
    view_mode: str = "screen"
    ipd_mm: float = 63.0
    frames: int | None = None
    record: Path | None = None
    out_dir: Path = Path("out")
    temporal: bool = True
    stereo_consistency: bool = True
    device: str = "auto"
    internal_scale: float | None = None
    stylizer_options: tuple = ()  # (key, value) pairs for the stylizer factory, per method
    xr_graphics: str = "auto"
    xr_mirror: bool = False
    xr_scale: float = 1.0
    xr_space: str = "local"
    xr_validation: bool = False
    xr_hang_timeout: float = 10.0
    # passthrough (a head-mounted camera) and the simulated camera
    camera_fov: float = 90.0
    camera: CameraIntrinsics | None = None  # from --camera-calibration
    reproject: bool = True
    pose_source: str = "history"  # passthrough: the app's pose history | the runtime's past-time locate
    capture_delay_ms: float = 30.0  # sim-camera: exposure → delivery
    sim_pan: float = 0.0  # sim-camera without head poses: degrees per second
    stylize_delay_ms: float = 0.0  # a delay stage after the stylizer (latency experiments)
    #: foveated stylization: "on" | "off" | "auto" (on in the headset, off on the desk outputs)
    foveate: str = "auto"
    fovea_size: float = 0.27
    #: the decode limit of the source's images and frames, and of AdaIN's style images (--max-megapixels)
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
    extra: tuple = field(default=())

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise UsageError(f"unknown output {self.output!r}", f"choose one of: {', '.join(OUTPUTS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise UsageError(f"--strength {shown(self.strength)} is outside 0–1", "use e.g. --strength 0.7")
        if self.frames is not None and self.frames < 1:
            raise UsageError(f"--frames {self.frames} must be at least 1", "e.g. --frames 30")
        if self.internal_scale is not None and not 0.0 < self.internal_scale <= 1.0:
            raise UsageError(f"--internal-scale {shown(self.internal_scale)} is out of range", "use a value in (0, 1], e.g. 0.5")
        if not 0.1 <= self.xr_scale <= 4.0:
            raise UsageError(f"--xr-scale {shown(self.xr_scale)} is out of range", "use 0.1–4.0, e.g. 0.8")
        if not 0.0 <= self.capture_delay_ms <= 2000.0:
            raise UsageError(f"--capture-delay {self.capture_delay_ms:g} ms is outside 0–2000", "e.g. --capture-delay 30")
        if not 0.0 <= self.stylize_delay_ms <= 5000.0:
            raise UsageError(f"--stylize-delay {self.stylize_delay_ms:g} ms is outside 0–5000", "e.g. --stylize-delay 100")
        if not -360.0 <= self.sim_pan <= 360.0:
            raise UsageError(f"--sim-pan {self.sim_pan:g}°/s is outside ±360", "e.g. --sim-pan 10")
        if self.foveate not in ("auto", "on", "off"):
            raise UsageError(f"--foveate {self.foveate!r} is not on, off or auto", "e.g. --foveate on")
        check_max_megapixels(self.max_megapixels)
        self.fovea()  # the fovea's own checks (size)
        self.view()  # the view's own checks (mode, IPD, camera FOV)
        # the folders a run writes into, checked now rather than when the recording closes at the end
        headless_files = self.output == "headless" and self.record is not None  # last.png goes to --out
        for option, given, folder in (("--out", self.out_dir, self.out_dir if headless_files else None),
                                      ("--record", self.record, self.record.parent if self.record else None)):
            if folder is not None and (blocker := file_in_the_way(folder)) is not None:
                raise NotADirectory(f"{option} {given}: {blocker} is a file, not a folder",
                                    "give --out a folder, e.g. --out out" if option == "--out" else
                                    "give --record a path whose folders are folders, e.g. --record out/run.mp4")
        if self.record is not None and self.record.suffix.lower() not in VIDEO_WRITE_SUFFIXES:  # before anything runs
            raise UsageError(f"--record {self.record} is not a video name ({self.record.suffix or 'no extension'})",
                             f"give it one of {', '.join(VIDEO_WRITE_SUFFIXES)}, e.g. --record {self.record.with_suffix('.mp4')}")
        if self.output in ("mirror", "headless") and (given := self.headset_only_options()):
            raise UsageError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to the headset "
                             f"(--output xr), but this run's output is {self.output}",
                             f"drop {' and '.join(given)}, or use --output xr with an OpenXR runtime running "
                             "(`artem-vr doctor` says whether one answers)")
        if (misplaced := self.misplaced_camera_option()) is not None:
            option, where = misplaced
            raise UsageError(f"{option} only applies with {where}, which this run does not use",
                             f"drop {option}, or add {where.split(' (')[0]}")

    def misplaced_camera_option(self) -> tuple[str, str] | None:
        """(option, where it applies) for the first passthrough or simulated-camera option given where
        it would be ignored (--camera-fov without --view passthrough or --source sim-camera, …)."""
        low = str(self.source).strip().lower()
        sim = low == "sim-camera" or low.startswith("sim-camera:")
        passthrough = self.view_mode == "passthrough"
        defaults = {f.name: f.default for f in fields(self)}
        for name, option, applies, where in (
                ("camera_fov", "--camera-fov", passthrough or sim, "--view passthrough (or --source sim-camera)"),
                ("camera", "--camera-calibration", passthrough or sim, "--view passthrough (or --source sim-camera)"),
                ("reproject", "--reproject", passthrough, "--view passthrough"),
                ("pose_source", "--pose-source", passthrough, "--view passthrough"),
                ("capture_delay_ms", "--capture-delay", sim, "--source sim-camera"),
                ("sim_pan", "--sim-pan", sim, "--source sim-camera")):
            if not applies and getattr(self, name) != defaults[name]:
                return option, where
        return None

    def headset_only_options(self) -> list[str]:
        """The options given (not at their defaults) that only the headset output uses."""
        defaults = {f.name: f.default for f in fields(self)}
        return [opt for name, opt in HEADSET_ONLY.items() if getattr(self, name) != defaults[name]]

    def view(self):
        return ViewConfig(mode=self.view_mode, desk_ipd=self.ipd_mm / 1000.0, camera_fov_deg=self.camera_fov,
                          camera=self.camera, reproject=self.reproject)

    def sim_camera(self) -> dict:
        """The simulated camera's options: the same camera the passthrough view assumes."""
        fov = self.camera.horizontal_fov_deg() if self.camera is not None else self.camera_fov
        size = (self.camera.width, self.camera.height) if self.camera is not None else (640, 480)
        return {"capture_delay": self.capture_delay_ms / 1000.0, "fov_deg": fov, "size": size,
                "pan_deg_s": self.sim_pan}

    @property
    def foveated(self) -> bool:
        """Foveation for this run: --foveate on/off, or auto = on in the headset only."""
        return self.foveate == "on" or (self.foveate == "auto" and self.output == "xr")

    def fovea(self):
        from artem_vr.temporal.foveate import FoveaSpec  # torch: off the start-up path until a run builds

        return FoveaSpec(size=self.fovea_size)

    def options(self) -> dict:
        return dict(self.stylizer_options)
