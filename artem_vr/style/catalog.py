"""Every style artem-vr can show: the presets it ships and the user's own trained models.

* **Presets** (:mod:`artem_vr.style.presets`): shipped paintings with thumbnails and models in the
  package's data (``assets/models``). Never written by default.
* **User models**: ``NAME.safetensors`` + card ``NAME.md`` (+ thumbnail ``NAME.jpg`` of the
  painting) in :func:`artem_vr.paths.user_models_dir` (``$ARTEM_VR_DATA/models``), written by
  ``artem-vr train ... --out NAME``. The file's architecture says what it is: a generator or an
  XNOR generator is a *user style* named NAME; an AdaIN decoder is selectable with
  ``--adain-model NAME``. A user model found under a preset's name (only made with ``--force``)
  takes the preset's place for its method.
* **Model files**: ``--style path/to/model.safetensors`` uses that file; the thumbnail or the card
  beside it names the painting.

Lookups read safetensors headers only (no tensors), so listing is cheap. Writing a user style
(its name checked, its files locked and replaced together): :mod:`artem_vr.style.user_styles`;
the ``artem-vr styles`` command and its doctor checks: :mod:`artem_vr.style.styles_cli`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from artem_vr.errors import UsageError, WeightsError
from artem_vr.paths import MODELS_DIR, user_models_dir
from artem_vr.style.generator_arch import arch_by_name
from artem_vr.style.presets import IMAGE_SUFFIXES, PRESETS, parse_style_spec
from artem_vr.text import did_you_mean

MODEL_SUFFIX = ".safetensors"
THUMB_SUFFIXES = (".jpg", ".png")
#: architecture ``type`` (generator, xnor) or ``kind`` (adain) in a weights header → method
_KIND_OF_ARCH = {"transform_net": "generator", "xnor_transform_net": "xnor", "adain-decoder": "adain"}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CARD_IMAGE_RE = re.compile(r"^- style image: `([^`]+)`", re.MULTILINE)
_NOT_A_MODEL_FIX = "give a model written by `artem-vr train`"


@dataclass(frozen=True)
class Model:
    """One weights file (user or shipped): what it is, and the painting it was trained on."""

    name: str
    path: Path
    kind: str | None  # generator | xnor | adain; None: unreadable (see error)
    arch: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    error: str | None = None  # why it is unreadable, naming the file
    error_fix: str | None = None  # and what to do about it

    @property
    def card(self) -> Path:
        return self.path.with_suffix(".md")

    @property
    def image(self) -> Path | None:
        """The painting: the thumbnail beside the file, the image the card names beside it, or
        the preset the model was trained on."""
        for suf in THUMB_SUFFIXES:
            p = self.path.with_suffix(suf)
            if p.is_file():
                return p
        if self.card.is_file():
            m = _CARD_IMAGE_RE.search(self.card.read_text(encoding="utf-8", errors="replace"))
            if m and (self.path.parent / m.group(1)).is_file():
                return self.path.parent / m.group(1)
        p = _preset_named(self.meta.get("style"))
        return p.image if p is not None and p.image.is_file() else None

    @property
    def painting(self) -> str:
        """A label for the painting: the one recorded at training, else the preset's, else the image's name."""
        if self.meta.get("painting"):
            return str(self.meta["painting"])
        p = _preset_named(self.meta.get("style"))
        if p is not None:
            return p.label
        img = self.image
        return img.name if img is not None else (str(self.meta.get("style")) if self.meta.get("style") else "?")

    def fits_arch(self, arch: str | None) -> bool:
        """Generator/xnor: is the (base) network the named architecture? None: any."""
        if arch is None:
            return True
        net = self.arch.get("base", self.arch) if self.kind == "xnor" else self.arch
        return net == arch_by_name(arch).to_dict()


def _preset_named(name):
    return next((p for p in PRESETS if p.name == name), None)


def read_model(path: str | os.PathLike) -> Model:
    """The header of ``path`` as a :class:`Model`; an unreadable file becomes kind None with the reason."""
    from artem_vr.style.weights import read_header  # reason: torch (safetensors), only when a model is read

    path = Path(path)
    try:
        arch, meta = read_header(path)
    except WeightsError as e:
        return Model(path.stem, path, None, error=e.what, error_fix=e.fix)
    kind = _KIND_OF_ARCH.get(arch.get("type") or arch.get("kind"))
    if kind is None:
        return Model(path.stem, path, None, arch, meta, f"{path}: unknown architecture {arch}", _NOT_A_MODEL_FIX)
    return Model(path.stem, path, kind, arch, meta)


def _scan(folder: Path) -> list[Model]:
    if not folder.is_dir():
        return []
    return [read_model(p) for p in sorted(folder.glob(f"*{MODEL_SUFFIX}")) if p.is_file()]


def user_models(kind: str | None = None) -> list[Model]:
    """The user's models (all, or of one ``kind``), sorted by name; unreadable ones only when ``kind`` is None."""
    return [m for m in _scan(user_models_dir()) if kind is None or m.kind == kind]


def user_model(name: str, kind: str) -> Model | None:
    p = user_models_dir() / f"{name}{MODEL_SUFFIX}"
    if not _NAME_RE.fullmatch(name) or not p.is_file():
        return None
    m = read_model(p)
    return m if m.kind == kind else None


def is_model_file(spec: str | os.PathLike) -> bool:
    return str(spec).lower().endswith(MODEL_SUFFIX)


def model_file(spec: str | os.PathLike, kind: str) -> Model:
    """``--style FILE.safetensors`` (or ``--adain-model FILE``): the file, checked to be a ``kind`` model."""
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsError(f"model file {path} does not exist", "check the path; `artem-vr styles` lists the installed styles")
    m = read_model(path)
    if m.kind is None:
        raise WeightsError(m.error, m.error_fix or _NOT_A_MODEL_FIX)
    if m.kind != kind:
        what = {"adain": "an AdaIN decoder (use it with --adain-model)", "generator": "a generator (a style: --style FILE)",
                "xnor": "an XNOR generator (a style: --style FILE)"}[m.kind]
        raise UsageError(f"{path} is {what}, not a {kind} model", "pick the matching option or --method")
    return m


def style_file_method(spec: str | os.PathLike) -> str:
    """The method (generator | xnor) that shows the model file ``spec`` given as a style."""
    kind = "xnor" if Path(spec).expanduser().is_file() and read_model(Path(spec).expanduser()).kind == "xnor" else "generator"
    return model_file(spec, kind).kind


# ------------------------------------------------------------------------ styles by method


def find_model(name: str, method: str, arch: str | None = None) -> Path | None:
    """The weights file that shows style ``name`` with ``method`` (generator | xnor): a model file
    path, a user style (first: it may take a preset's place) or a preset's model. None: none here."""
    if is_model_file(name):
        return model_file(name, method).path
    u = user_model(name, method)
    if u is not None and u.fits_arch(arch):
        return u.path
    p = _preset_named(name)
    return p.trained_path(method, arch) if p is not None else None


def style_names(method: str, arch: str | None = None) -> list[str]:
    """Styles ``method`` (generator | xnor) has models for: presets first, then user styles."""
    names = [p.name for p in PRESETS if find_model(p.name, method, arch) is not None]
    return names + [m.name for m in user_models(method) if m.fits_arch(arch) and m.name not in names]


def style_image(name: str) -> Path | None:
    """The painting of a style name (a preset, or a user style with a thumbnail), None if unknown."""
    for kind in ("generator", "xnor"):
        u = user_model(name, kind)
        if u is not None and u.image is not None:
            return u.image
    p = _preset_named(name)
    return p.image if p is not None and p.image.is_file() else None


def image_styles() -> list[str]:
    """Style names that have a painting image (what AdaIN can show by name): presets, then user styles."""
    names = [p.name for p in PRESETS if p.image.is_file()]
    return names + [m.name for m in user_models() if m.kind in ("generator", "xnor") and m.name not in names
                    and m.image is not None]


def resolve_style(name_or_path: str | Path) -> tuple[str, Path]:
    """A preset name, a user style with a painting, or an image path → (style name, image path).
    Unknown → UsageError."""
    s = str(name_or_path)
    if _preset_named(s) is not None:
        p = _preset_named(s)
        return p.name, p.image
    if Path(s).suffix.lower() not in IMAGE_SUFFIXES and (img := style_image(s)) is not None:
        return s, img
    path = Path(s)
    if path.suffix.lower() in IMAGE_SUFFIXES or path.exists():
        if not path.is_file():
            raise UsageError(f"style image {path} does not exist", "check the path")
        return path.stem, path
    names = [p.name for p in PRESETS]
    raise UsageError(f"{s!r} is neither a preset nor an image file{did_you_mean(s, names)}", f"presets: {', '.join(names)}")


class Catalog:
    """The :class:`~artem_vr.style.base.StyleLibrary` of this install: presets and the user's
    models by name (and model files by path); what the app hands every stylizer."""

    def model(self, name: str, method: str, arch: str | None = None) -> Path | None:
        return find_model(name, method, arch)

    def names(self, method: str, arch: str | None = None) -> list[str]:
        return style_names(method, arch)

    def image(self, name: str) -> Path | None:
        return style_image(name)

    def image_names(self) -> list[str]:
        return image_styles()


CATALOG = Catalog()


# ------------------------------------------------------------------------ AdaIN decoders


def adain_decoders() -> list[tuple[Model, str]]:
    """(decoder, "shipped" | "user") for every AdaIN decoder here."""
    return [(m, "shipped") for m in _scan(MODELS_DIR) if m.kind == "adain"] + [(m, "user") for m in user_models("adain")]


def adain_decoder(spec: str) -> Path:
    """``--adain-model NAME|PATH``: a decoder file, a user decoder NAME, or a shipped one (``adain_fast``)."""
    if is_model_file(spec) or os.sep in spec or "/" in spec:
        return model_file(spec, "adain").path
    u = user_model(spec, "adain")
    if u is not None:
        return u.path
    shipped = MODELS_DIR / f"{spec}{MODEL_SUFFIX}"
    if _NAME_RE.fullmatch(spec) and shipped.is_file() and read_model(shipped).kind == "adain":
        return shipped
    names = [m.name for m, _ in adain_decoders()]
    raise UsageError(f"--adain-model {spec}: no such AdaIN decoder",
                     f"choose one of: {', '.join(names) or '(none installed)'}, or give a decoder .safetensors file")


# ------------------------------------------------------------------------ the files a style reads


def style_files(spec: str | None) -> list[Path]:
    """The files a style ``spec`` reads (what no output may replace): an image or model file and
    the card and thumbnails beside it; a user style's or decoder's files; a preset's painting and
    models; for a blend or a weighted style (``painting.jpg:0.7+starry_night:0.3``), those of each
    part. Unknown names give an empty list (the stylizer says what is wrong)."""
    if not spec:
        return []
    parts = [name for name, _weight in parse_style_spec(spec)]
    if parts != [spec]:
        return list(dict.fromkeys(f for name in parts for f in style_files(name)))
    out: list[Path] = []
    path = Path(spec).expanduser()
    if path.is_file():
        out.append(path)
        if is_model_file(spec):
            out += [p for p in (path.with_suffix(s) for s in (".md", *THUMB_SUFFIXES)) if p.is_file()]
        return out
    if _NAME_RE.fullmatch(spec):
        for m in user_models():
            if m.name == spec:
                out += [p for p in (m.path, m.card, *(m.path.with_suffix(s) for s in THUMB_SUFFIXES)) if p.is_file()]
                if m.image is not None:
                    out.append(m.image)
        p = _preset_named(spec)
        if p is not None:
            out += [f for f in (p.image, *(p.trained_path(meth, a) for meth in ("generator", "xnor") for a in ("compact", "full")))
                    if f is not None and Path(f).is_file()]
    return list(dict.fromkeys(out))


def painting_label(style_name: str, style_path: Path) -> str:
    """What a new model's card and header call its painting: the preset's or user style's label, else the file name."""
    p = _preset_named(style_name)
    if p is not None:
        return p.label
    for kind in ("generator", "xnor"):
        u = user_model(style_name, kind)
        if u is not None:
            return u.painting
    return style_path.name
