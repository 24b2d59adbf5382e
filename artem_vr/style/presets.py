"""The preset styles: six paintings with a committed thumbnail and trained models.

Thumbnails (``assets/styles/<name>.jpg``, 256 px on the shorter side) are the style images for training
the generators and for AdaIN; their sources and licences are in ``assets/styles/ATTRIBUTION.md``.
Models live in ``assets/models/<name>_<arch>.safetensors`` with a card ``<name>_<arch>.md``.
:func:`parse_style_spec` splits a ``--style`` blend into its parts (here, below both the catalog,
which lists the files a blend reads, and the AdaIN stylizer, which reads them).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from artem_vr.atomic import InputsRead, write_bytes_atomic
from artem_vr.errors import UsageError
from artem_vr.paths import MODELS_DIR, STYLES_DIR

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def parse_style_spec(spec: str) -> list[tuple[str, float]]:
    """``"a.jpg"`` → ``[("a.jpg", 1)]``; ``"a.jpg+b.jpg"`` → equal weights;
    ``"a.jpg:0.7+starry_night:0.3"`` → those weights. An existing file whose name contains
    ``+`` is taken whole. A weight that is NaN or infinite → UsageError."""
    if os.path.exists(spec) or "+" not in spec:
        parts = [spec]
    else:
        parts = [p for p in spec.split("+") if p]
    out = []
    for p in parts:
        name, sep, w = p.rpartition(":")
        if sep and name and not os.path.exists(p):
            try:
                weight = float(w)
            except ValueError:
                pass
            else:
                if not math.isfinite(weight):
                    raise UsageError(f"--style {spec}: the weight {w} of {name} is not a finite number",
                                     "give weights like a.jpg:0.7+b.jpg:0.3")
                out.append((name, weight))
                continue
        out.append((p, 1.0))
    return out


@dataclass(frozen=True)
class Preset:
    name: str  # command-line name
    title: str
    artist: str
    year: str
    source: str  # file name in the assembled data set (data/style/), see ATTRIBUTION.md

    @property
    def image(self) -> Path:
        """The committed thumbnail (256 px shorter side, RGB jpg)."""
        return STYLES_DIR / f"{self.name}.jpg"

    def model_path(self, method: str, arch: str) -> Path:
        return MODELS_DIR / f"{self.name}_{arch}.safetensors" if method == "generator" else MODELS_DIR / f"{self.name}_{method}_{arch}.safetensors"

    def trained_path(self, method: str, arch: str | None = None) -> Path | None:
        """Shipped model of ``method`` (generator | xnor): ``arch`` if given, else compact, else full; None if none."""
        for a in [arch] if arch else ["compact", "full"]:
            p = self.model_path(method, a)
            if p.is_file():
                return p
        return None

    def generator_path(self, arch: str | None = None) -> Path | None:
        """Trained generator file: ``arch`` if given, else compact, else full; None if none."""
        return self.trained_path("generator", arch)

    def generator_archs(self) -> list[str]:
        return [a for a in ("compact", "full") if self.model_path("generator", a).is_file()]

    @property
    def label(self) -> str:
        return f"{self.title} — {self.artist}, {self.year}"


PRESETS: tuple[Preset, ...] = (
    Preset("starry_night", "The Starry Night", "Vincent van Gogh", "1889", "van_gogh_the_starry_night.jpg"),
    Preset("great_wave", "The Great Wave off Kanagawa", "Katsushika Hokusai", "1823–1829", "katsushika_hokusai_the_great_wave_off_kanagawa_1823_1829.jpg"),
    Preset("the_scream", "The Scream", "Edvard Munch", "1893", "edvard_munch_the_scream.jpg"),
    Preset("composition_viii", "Composition VIII", "Wassily Kandinsky", "1923", "wassily_kandinsky_composition_viii_1923.jpg"),
    Preset("morisot_bougival", "The Garden at Bougival", "Berthe Morisot", "1884", "berthe_morisot_the_garden_at_bougival_1884.jpg"),
    Preset("hiroshige_snow", "The Benzaiten Shrine at Inokashira in Snow", "Utagawa Hiroshige", "c. 1840s", "utagawa_hiroshige_the_benzaiten_shrine_at_inokashira_in_snow_1760_70.jpg"),
)


def list_presets() -> list[Preset]:
    return list(PRESETS)


def preset(name: str) -> Preset:
    for p in PRESETS:
        if p.name == name:
            return p
    raise UsageError(f"unknown style {name!r}", f"presets: {', '.join(p.name for p in PRESETS)}; or give an image file")


def thumbnail_jpeg(src: Path, short_side: int = 256, quality: int = 90, inputs=None) -> tuple[bytes, tuple[int, int]]:
    """``src`` as jpg bytes with its shorter side downscaled to ``short_side`` px (area
    resampling; never upscaled), and the (h, w) of that image. ``inputs``: the command's
    :class:`~artem_vr.atomic.InputsRead`, which notes ``src``.

    256 px is the scale at which ``artem-vr eval`` measures style (photos and paintings both at a
    256 px shorter side) and at which the generators are trained, so the thumbnail *is* the
    painting at that scale: upscaling a smaller thumbnail instead would blur the reference.
    """
    import cv2

    if inputs is not None:
        inputs.note(src)
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise UsageError(f"cannot read image {src}", "check the file")
    h, w = img.shape[:2]
    s = short_side / min(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UsageError(f"cannot encode a thumbnail of {src}", "check the file")
    return buf.tobytes(), img.shape[:2]


def make_thumbnail(src: Path, dst: Path, short_side: int = 256, quality: int = 90, inputs=()) -> Path:
    """Write :func:`thumbnail_jpeg` of ``src`` to ``dst``, atomically (:mod:`artem_vr.atomic`)."""
    inputs = inputs if isinstance(inputs, InputsRead) else InputsRead(inputs)
    inputs.note(src)
    data, _ = thumbnail_jpeg(src, short_side, quality)
    dst.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(dst, data, inputs, "thumbnail")
