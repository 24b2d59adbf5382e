"""The comfort metrics' data: video frames and rectified stereo pairs with their ground-truth
disparity (PNG 8/16-bit, ``.npz``/``.npy``, PFM), as RGB ``uint8`` and float32 disparity maps
(conventions: :mod:`artem_vr.temporal.flicker`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from artem_vr.errors import ImageError

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def load_video(path: Path, max_frames: int = 24, width: int | None = 480, start: int = 0) -> list[np.ndarray]:
    """The first ``max_frames`` frames (after ``start``) of a video, RGB uint8, resized to ``width``."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageError(f"cannot open video {path}", "check the file exists and is a video OpenCV can read")
    frames = []
    try:
        i = 0
        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if i >= start:
                frames.append(resize_width(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width))
            i += 1
    finally:
        cap.release()
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


def load_stereo_pair(folder: Path, name: str) -> StereoPair:
    """Load ``name_left.*``, ``name_right.*`` and ``name_disparity*`` (left-view GT).

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

    imgs = []
    for side in ("left", "right"):
        bgr = cv2.imread(str(one(f"{name}_{side}.*")), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ImageError(f"cannot read the {side} view of {name!r}", "check the image file")
        imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    dpath = one(f"{name}_disparity*")
    disp = read_disparity(dpath)
    if disp.shape != imgs[0].shape[:2] or imgs[0].shape != imgs[1].shape:
        raise ImageError(f"stereo pair {name!r}: sizes differ (left {imgs[0].shape}, right {imgs[1].shape}, "
                         f"disparity {disp.shape})", "the views and the disparity must be the same size")
    valid = np.isfinite(disp) & (disp > 0)
    return StereoPair(name, imgs[0], imgs[1], np.where(valid, disp, 0).astype(np.float32), valid)


def read_disparity(path: Path) -> np.ndarray:
    """A disparity map as float32 (H, W), unknown = inf. See :func:`load_stereo_pair`."""
    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".png":
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if a is None or a.ndim != 2:
            raise ImageError(f"disparity {path} is not a one-channel PNG", "give an 8- or 16-bit gray PNG")
        d = a.astype(np.float32) / (256.0 if a.dtype == np.uint16 else 1.0)
        d[a == 0] = np.inf
        return d
    if suf in (".npz", ".npy"):
        z = np.load(path, allow_pickle=False)
        a = z[z.files[0]] if isinstance(z, np.lib.npyio.NpzFile) else z
        return np.asarray(a, np.float32)
    if suf == ".pfm":
        return _read_pfm(path)
    raise ImageError(f"disparity {path}: unknown format {suf}", "use .png, .npz/.npy or .pfm")


def _read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind != b"Pf":
            raise ImageError(f"{path}: not a one-channel PFM (header {kind!r})", "give a 'Pf' disparity PFM")
        w, h = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        data = np.frombuffer(f.read(w * h * 4), "<f4" if scale < 0 else ">f4").reshape(h, w)
    return np.flipud(data).astype(np.float32)
