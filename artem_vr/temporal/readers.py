"""The comfort metrics' data: video frames and rectified stereo pairs with their ground-truth
disparity (PNG 8/16-bit, ``.npz``/``.npy``, PFM), as RGB ``uint8`` and float32 disparity maps
(conventions: :mod:`artem_vr.temporal.flicker`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from artem_vr.errors import ImageError
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS
from artem_vr.sources.imageio import VideoReaderRGB, check_pixels, read_image

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def load_video(path: Path, max_frames: int = 24, width: int | None = 480, start: int = 0, *,
               max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> list[np.ndarray]:
    """The first ``max_frames`` frames (after ``start``) of a video, RGB uint8, resized to ``width``.
    Read with the project's video reader: frames over ``max_megapixels`` (the command's
    ``--max-megapixels``) are refused from the container's header or the first frame, before any
    more is decoded (ImageError), as are files that are not videos."""
    frames = []
    with VideoReaderRGB(path, max_megapixels=max_megapixels) as reader:
        i = 0
        while len(frames) < max_frames:
            rgb = reader.read()
            if rgb is None:
                break
            if i >= start:
                frames.append(resize_width(rgb, width))
            i += 1
    if len(frames) < 2:
        raise ImageError(f"video {path} has fewer than 2 readable frames", "give a longer clip")
    return frames


def resize_width(img: np.ndarray, width: int | None) -> np.ndarray:
    """``img`` at ``width`` pixels wide (area filter), its height kept in proportion and even."""
    if width is None or img.shape[1] == width:
        return np.ascontiguousarray(img)
    h = max(2, round(img.shape[0] * width / img.shape[1] / 2) * 2)
    return cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)


@dataclass
class StereoPair:
    name: str
    left: np.ndarray  # RGB uint8 (H, W, 3)
    right: np.ndarray
    disp: np.ndarray  # float32 (H, W) left-view disparity, pixels at this size
    valid: np.ndarray  # bool (H, W)

    def resized(self, width: int | None) -> "StereoPair":
        """The pair at ``width`` pixels wide; disparities are scaled with it, validity kept."""
        if width is None or width == self.left.shape[1]:
            return self
        s = width / self.left.shape[1]
        left, right = resize_width(self.left, width), resize_width(self.right, width)
        h, w = left.shape[:2]
        d = cv2.resize(np.where(self.valid, self.disp, 0).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST) * s
        v = cv2.resize(self.valid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        return StereoPair(self.name, left, right, d, v)


def find_stereo_pairs(folder: Path) -> list[str]:
    """Names ``X`` with ``X_left.*``, ``X_right.*`` and a ground-truth disparity ``X_disparity*``."""
    folder = Path(folder)
    names = []
    for f in sorted(folder.glob("*_left.*")):
        name = f.name.rsplit("_left.", 1)[0]
        if list(folder.glob(f"{name}_right.*")) and list(folder.glob(f"{name}_disparity*")):
            names.append(name)
    return names


def load_stereo_pair(folder: Path, name: str, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> StereoPair:
    """Load ``name_left.*``, ``name_right.*`` and ``name_disparity*`` (left-view GT). Each view and
    a PNG/PFM/NPY disparity over ``max_megapixels`` (the command's ``--max-megapixels``) is refused
    from its header, before it is decoded (ImageError).

    Disparity files: ``.png`` 8/16-bit with 0 = unknown (Middlebury 2006 full size, scale 1;
    16-bit files are divided by 256, the KITTI convention), ``.npz``/``.npy`` float with
    inf/NaN = unknown (Middlebury 2014 as in scikit-image), ``.pfm`` (inf = unknown).
    """
    folder = Path(folder)

    def one(pattern):
        c = sorted(folder.glob(pattern))
        if not c:
            raise ImageError(f"stereo pair {name!r}: no file matching {pattern} in {folder}",
                             "expect NAME_left.*, NAME_right.* and NAME_disparity* side by side")
        return c[0]

    imgs = [read_image(one(f"{name}_{side}.*"), max_megapixels=max_megapixels) for side in ("left", "right")]
    dpath = one(f"{name}_disparity*")
    disp = read_disparity(dpath, max_megapixels=max_megapixels)
    if disp.shape != imgs[0].shape[:2] or imgs[0].shape != imgs[1].shape:
        raise ImageError(f"stereo pair {name!r}: sizes differ (left {imgs[0].shape}, right {imgs[1].shape}, "
                         f"disparity {disp.shape})", "the views and the disparity must be the same size")
    valid = np.isfinite(disp) & (disp > 0)
    return StereoPair(name, imgs[0], imgs[1], np.where(valid, disp, 0).astype(np.float32), valid)


def read_disparity(path: Path, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """A disparity map as float32 (H, W), unknown = inf. See :func:`load_stereo_pair`. A PNG, PFM
    or NPY map over ``max_megapixels`` is refused from its header (ImageError)."""
    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".png":
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":  # width, height: the first chunk's first 8 bytes
            check_pixels(int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), str(path), "disparity",
                         max_megapixels)
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if a is None or a.ndim != 2:
            raise ImageError(f"disparity {path} is not a one-channel PNG", "give an 8- or 16-bit gray PNG")
        d = a.astype(np.float32) / (256.0 if a.dtype == np.uint16 else 1.0)
        d[a == 0] = np.inf
        return d
    if suf == ".npy":
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape  # the header only
        if len(shape) == 2:
            check_pixels(shape[1], shape[0], str(path), "disparity", max_megapixels)
    if suf in (".npz", ".npy"):
        z = np.load(path, allow_pickle=False)
        a = z[z.files[0]] if isinstance(z, np.lib.npyio.NpzFile) else z
        return np.asarray(a, np.float32)
    if suf == ".pfm":
        return _read_pfm(path, max_megapixels)
    raise ImageError(f"disparity {path}: unknown format {suf}", "use .png, .npz/.npy or .pfm")


def _read_pfm(path: Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind != b"Pf":
            raise ImageError(f"{path}: not a one-channel PFM (header {kind!r})", "give a 'Pf' disparity PFM")
        w, h = (int(v) for v in f.readline().split())
        check_pixels(w, h, str(path), "disparity", max_megapixels)
        scale = float(f.readline())
        data = np.frombuffer(f.read(w * h * 4), "<f4" if scale < 0 else ">f4").reshape(h, w)
    return np.flipud(data).astype(np.float32)
