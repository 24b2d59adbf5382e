"""The one image convention of the project, and latest-value hand-off between threads.

Convention (checked at every boundary with :func:`check_rgb8` / :func:`check_image`):

* **Frames on the host** (sources, files, the renderer's upload): ``numpy.ndarray``,
  ``uint8``, shape ``(H, W, 3)``, **RGB** order, C-contiguous, 0–255.
* **Images in networks** (every stylizer): ``torch.Tensor``, floating point, shape
  ``(N, 3, H, W)``, **RGB** order, range **0–1**. Stylizers take and return this.

OpenCV's BGR stops at the source/file boundary: nothing past a source sees BGR.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from artem_vr.errors import ConventionError, ImageError

T = TypeVar("T")

#: the smallest image side the stylizers take (instance norm needs some pixels per channel)
MIN_SIDE = 16

#: the video names :class:`artem_vr.encode.VideoWriterRGB` writes (mp4v, MJPG in .avi)
VIDEO_WRITE_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def check_size(w: int, h: int, name) -> None:
    """ImageError for an image or frame too small to stylize."""
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{name} is {w}x{h}: too small to stylize", f"give an image at least {MIN_SIDE} pixels on each side")


# ---------------------------------------------------------------------------- memory
#: bytes one decoded pixel may need: the decoder's RGBA buffer (4) and the RGB copy (3), rounded up
DECODE_BYTES_PER_PIXEL = 8


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """Room left under this process's cgroup (v2) memory limit, if it has one."""
    try:
        with open("/proc/self/cgroup") as f:
            rel = next((ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")), None)
        if rel is None:
            return None
        base = "/sys/fs/cgroup" + rel.rstrip("/")
        with open(base + "/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(base + "/memory.current") as f:
            return max(0, int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


def _rlimit_available() -> int | None:
    """Room left under this process's address-space limit (RLIMIT_AS), if it has one."""
    try:
        import resource  # Unix only

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, soft - used)
    except (ImportError, OSError, ValueError, AttributeError):
        return None


def _sysconf_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _windows_available() -> int | None:
    try:
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("avail", ctypes.c_ulonglong), ("total_page", ctypes.c_ulonglong),
                        ("avail_page", ctypes.c_ulonglong), ("total_virtual", ctypes.c_ulonglong),
                        ("avail_virtual", ctypes.c_ulonglong), ("avail_extended", ctypes.c_ulonglong)]

        st = MemoryStatus()
        st.length = ctypes.sizeof(MemoryStatus)
        if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st)):  # type: ignore[attr-defined]
            return None
        return int(st.avail)
    except (AttributeError, OSError):
        return None


def available_memory() -> int | None:
    """Bytes this process can still allocate, as well as the machine can say: the system's available
    memory (``MemAvailable`` on Linux, the free pages elsewhere, ``GlobalMemoryStatusEx`` on
    Windows), bounded by a cgroup memory limit and an address-space rlimit. None: unknown."""
    system = _meminfo_available()
    if system is None:
        system = _sysconf_available()
    if system is None:
        system = _windows_available()
    bounds = [b for b in (system, _cgroup_available(), _rlimit_available()) if b is not None]
    return min(bounds) if bounds else None


def check_memory(w: int, h: int, name, what: str = "image") -> None:
    """ImageError if decoding a ``w``×``h`` image/frame would need more memory than is available
    (:data:`DECODE_BYTES_PER_PIXEL` per pixel), checked from the header, before allocating."""
    need = int(w) * int(h) * DECODE_BYTES_PER_PIXEL
    avail = available_memory()
    if avail is not None and need > avail:
        raise ImageError(f"{what} {name} is {w}x{h} ({w * h / 1e6:.1f} megapixels): decoding it needs about "
                         f"{need / 2**30:.1f} GiB of memory and {avail / 2**30:.1f} GiB is available",
                         "downscale it first, or free memory (close other programs)")


@dataclass
class Frame:
    """One captured frame: RGB uint8 (H, W, 3), its capture time and sequence number.

    ``stereo == "sbs"`` means the left eye is the left half of ``image`` and the right
    eye the right half.
    """

    image: np.ndarray
    t: float = field(default_factory=time.monotonic)
    index: int = 0
    stereo: str | None = None

    def eyes(self) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) views: both the same image for mono, the halves for SBS."""
        if self.stereo == "sbs":
            return split_sbs(self.image)
        return self.image, self.image


def split_sbs(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a side-by-side stereo image (H, W, C) into (left, right) halves: views, not copies.

    Every consumer copies an eye once where it goes (:func:`to_tensor` into the batch or the
    page-locked staging, :func:`check_rgb8` before a texture or a file); a copy here made that
    two, in the frame loop's host time — 4–5 ms against 1.5 ms a 2×1440×1600 frame on a 2-core
    CPU (the fresh halves' page faults and the second pass), docs/benchmarks.md."""
    w = image.shape[1]
    if w < 2:
        raise ConventionError(f"a side-by-side frame needs width >= 2, got shape {image.shape}")
    half = w // 2
    return image[:, :half], image[:, half : 2 * half]


def check_rgb8(a, where: str = "frame") -> np.ndarray:
    """Check a host frame: uint8 ndarray (H, W, 3) RGB. Returns it C-contiguous."""
    return np.ascontiguousarray(_rgb8_as_is(a, where))


def _rgb8_as_is(a, where: str) -> np.ndarray:
    """:func:`check_rgb8`'s checks; ``a`` returned as it is (a strided view stays one)."""
    if not isinstance(a, np.ndarray):
        raise ConventionError(f"{where}: expected a numpy uint8 (H, W, 3) RGB array, got {type(a).__name__}")
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ConventionError(
            f"{where}: expected uint8 (H, W, 3) RGB, got dtype={a.dtype} shape={tuple(a.shape)}"
        )
    return a


def check_image(t, where: str = "image", check_range: bool = False):
    """Check a network image: float tensor (N, 3, H, W), RGB, 0–1.

    ``check_range`` also verifies the values (costs a device sync on GPU).
    """
    import torch

    if not isinstance(t, torch.Tensor):
        raise ConventionError(f"{where}: expected a torch float tensor (N, 3, H, W), got {type(t).__name__}")
    if not t.is_floating_point() or t.ndim != 4 or t.shape[1] != 3:
        raise ConventionError(
            f"{where}: expected float (N, 3, H, W) RGB in 0-1, got dtype={t.dtype} shape={tuple(t.shape)}"
        )
    if check_range and t.numel():
        lo, hi = float(t.min()), float(t.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ConventionError(f"{where}: expected values in 0-1, got range [{lo:.3f}, {hi:.3f}]")
    return t


def to_tensor(rgb8: np.ndarray | list[np.ndarray], device="cpu", dtype=None):
    """Host frame(s) uint8 (H, W, 3) → float tensor (N, 3, H, W) RGB 0–1, contiguous.

    Each eye is copied once on the host: on CUDA into page-locked staging, on the CPU straight
    into the float batch (the conversion and the move of the channels in one pass — half the time
    of converting, then reordering: 22 against 43 ms at 2×1440×1600 on a 2-core CPU)."""
    import torch

    dtype = dtype or torch.float32
    frames = [_rgb8_as_is(f, "to_tensor") for f in (rgb8 if isinstance(rgb8, (list, tuple)) else [rgb8])]
    if len({f.shape for f in frames}) > 1:
        raise ConventionError(f"to_tensor: the frames of one batch differ in size: {[f.shape for f in frames]}")
    h, w, _ = frames[0].shape
    out = torch.empty((len(frames), 3, h, w), dtype=dtype, device=device)
    if out.device.type == "cuda":
        # each eye copied once, straight into page-locked staging (a strided view too), so the copy
        # to the device is truly asynchronous: no host synchronisation in the frame loop; torch's
        # caching host allocator keeps the block until that copy has run
        t = torch.empty((len(frames), h, w, 3), dtype=torch.uint8, pin_memory=True)
        staged = t.numpy()
        for i, f in enumerate(frames):
            staged[i] = f
        out.copy_(t.to(device=device, non_blocking=True).permute(0, 3, 1, 2))
    else:
        for i, f in enumerate(frames):
            # a view is read as it is; torch cannot view a negative stride, and warns on a read-only
            # array (a decoded image file): those two are copied first, as every frame once was
            f = f if f.flags.writeable and min(f.strides) >= 0 else f.copy()
            out[i].copy_(torch.from_numpy(f).permute(2, 0, 1))
    return out.div_(255.0)


class Uploader:
    """The frame loop's host → device step: :func:`to_tensor`, timed as the ``upload`` stage of
    ``clock`` (a :class:`artem_vr.timing.StageClock`).

    On CUDA the copy to the device and the conversion to float run on a stream of their own, so a
    frame's copy overlaps the previous frame's network on the caller's stream instead of queuing
    behind it (on one stream a 2×2016×2240 frame's 27 MB copy, about 1 ms, sat between two networks
    on the GPU's timeline). The caller's stream waits for the copy by an event, on the GPU: the host
    never waits. Elsewhere it is :func:`to_tensor` as it is."""

    def __init__(self, device):
        import torch

        self.device = str(device)
        self.stream = torch.cuda.Stream(device=device) if torch.device(device).type == "cuda" else None

    def __call__(self, eyes, clock):
        if self.stream is None:
            with clock.span("upload", self.device):
                return to_tensor(eyes, device=self.device)
        import torch

        consumer = torch.cuda.current_stream(self.stream.device)
        with torch.cuda.stream(self.stream):
            # its events on the copy stream (idle when the first is recorded): the host's staging, then the copy
            with clock.span("upload", self.device):
                x = to_tensor(eyes, device=self.device)
            done = self.stream.record_event()
        consumer.wait_event(done)
        # made on the copy stream, used on the caller's: its memory is not reused before that use ran
        x.record_stream(consumer)
        return x


def to_rgb8(t, index: int = 0) -> np.ndarray:
    """Float tensor (N, 3, H, W) RGB 0–1 → host uint8 (H, W, 3) RGB (image ``index``)."""
    check_image(t, "to_rgb8")
    return to_rgb8_batch(t[index][None])[0]


def to_rgb8_batch(t) -> list[np.ndarray]:
    """Float tensor (N, 3, H, W) RGB 0–1 → N host uint8 (H, W, 3) RGB images, each C-contiguous.

    Made uint8 and channel-last where the tensor is, then copied to the host once: on CUDA the
    bytes that cross are a quarter of the float image's; on the CPU the rounding and the reorder
    are one pass less (1.1 against 2.2 ms for 2×640×360, 15 against 27 ms for 2×1440×1600 on a
    2-core CPU)."""
    import torch

    check_image(t, "to_rgb8_batch")
    y = t.detach().float().clamp(0, 1).mul_(255.0).round_()  # clamp makes a new tensor: the input is left as it is
    n, _, h, w = y.shape
    out = torch.empty((n, h, w, 3), dtype=torch.uint8, device=y.device)
    out.copy_(y.permute(0, 2, 3, 1))
    return list(out.cpu().numpy())


class LatestSlot(Generic[T]):
    """Holds only the newest value: writers replace, readers never queue behind old values."""

    def __init__(self):
        self._cond = threading.Condition()
        self._value: T | None = None
        self._seq = 0
        self._closed = False

    def put(self, value: T) -> int:
        with self._cond:
            self._value = value
            self._seq += 1
            self._cond.notify_all()
            return self._seq

    def get(self) -> tuple[int, T | None]:
        """(sequence number, newest value); sequence 0 means nothing arrived yet."""
        with self._cond:
            return self._seq, self._value

    def wait_newer(self, seq: int, timeout: float | None = None) -> tuple[int, T | None]:
        """Block until a value newer than ``seq`` arrives (or timeout / close)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout)
            return self._seq, self._value

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
