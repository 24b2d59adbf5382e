"""Writing a user style: where ``artem-vr train ... --out NAME`` puts it, the locks that keep two
runs apart, and the weights, card and thumbnail replaced together (the catalog that finds them
again by name: :mod:`artem_vr.style.catalog`)."""

from __future__ import annotations

import os
from pathlib import Path

from artem_vr.atomic import AtomicGroup, InputsRead, OutputLock, same_file
from artem_vr.errors import UsageError
from artem_vr.paths import MODELS_DIR, STYLES_DIR, user_models_dir
from artem_vr.style.catalog import _NAME_RE, MODEL_SUFFIX, THUMB_SUFFIXES, _preset_named, is_model_file
from artem_vr.style.presets import PRESETS, make_thumbnail, thumbnail_jpeg


def output_path(name: str, out_dir: str | os.PathLike | None, force: bool, resume: bool = False) -> Path:
    """Where ``artem-vr train ... --out NAME [--out-dir DIR] [--force]`` writes its weights.

    Default folder: the user's. Replacing an existing file (a shipped model in an explicit
    ``--out-dir``, or a user model) needs ``force``; so does a user model under a preset's or a
    shipped model's name (it would take that preset's place). ``resume``: a resumed run may
    replace the model it wrote before, unless that is a shipped one. Checked before training starts.
    """
    if is_model_file(name) or not _NAME_RE.fullmatch(name):
        raise UsageError(f"--out {name!r} is not a model name",
                         "give a plain name like my_klimt (letters, digits, _ . -); --out-dir DIR picks the folder")
    folder = Path(out_dir).expanduser() if out_dir is not None else user_models_dir()
    target = folder / f"{name}{MODEL_SUFFIX}"
    if (other := _same_but_case(name, folder)) is not None:  # even with --force: that would make a second style
        raise UsageError(f"--out {name}: a style named {other} already exists, and names may not differ only in case",
                         f"choose another name, or --out {other} --force to replace that one")
    if force:
        return target
    shipped = _same_dir(folder, MODELS_DIR)
    if resume and target.exists() and not shipped:
        return target
    if target.exists():
        what = "a shipped model" if shipped else "a model"
        raise UsageError(f"{target} already exists ({what})", "pass --force to replace it, or choose another --out name")
    if _same_dir(folder, user_models_dir()) and (_preset_named(name) is not None or (MODELS_DIR / f"{name}{MODEL_SUFFIX}").is_file()):
        raise UsageError(f"--out {name}: a shipped preset or model has that name, and yours would take its place",
                         f"choose another name (e.g. my_{name}), or pass --force to do exactly that")
    return target


def _same_but_case(name: str, folder: Path) -> str | None:
    """The existing model or preset name that equals ``name`` but for case (on any file system), if any."""
    taken = [p.name for p in PRESETS]
    if folder.is_dir():
        taken += [p.name[: -len(MODEL_SUFFIX)] for p in folder.iterdir() if p.name.lower().endswith(MODEL_SUFFIX)]
    if _same_dir(folder, user_models_dir()) or _same_dir(folder, MODELS_DIR):
        taken += [p.stem for p in MODELS_DIR.glob(f"*{MODEL_SUFFIX}")]
    return next((t for t in taken if t.lower() == name.lower() and t != name), None)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def claim_output(target: Path) -> OutputLock:
    """Hold ``target`` (a model's weights path) for this process until it ends: a second
    ``artem-vr train ... --out NAME`` at the same time gets one line and exit 2, and neither
    loses its model to the other (:class:`artem_vr.atomic.OutputLock`)."""
    return OutputLock(target, "model").acquire()


def claim_run_dir(run_dir: Path) -> OutputLock:
    """Hold a training run folder (checkpoints, samples) for this process: two runs never share one."""
    lock = OutputLock(Path(run_dir), "run folder")
    try:
        return lock.acquire()
    except UsageError as e:
        raise UsageError(f"the run folder {run_dir} is in use by another training run ({e.what})",
                         "wait for it to finish, or pass another --run-dir") from None


def write_model(target: Path, write_weights, card, painting: Path | None = None, inputs=()) -> tuple[Path, Path, Path | None]:
    """Write a model's weights (``write_weights(path)``), card and thumbnail as one group:
    all three replace the old ones together, or nothing changes (:class:`artem_vr.atomic.AtomicGroup`).

    ``card(weights_partial, thumbnail, thumbnail_hw)`` returns the card's text (it may read the
    weights just written: their size). ``painting``: a thumbnail ``NAME.jpg`` of it goes beside
    the weights (see :func:`save_thumbnail` for when it does not); an old thumbnail that the new
    model does not have is removed with the group. Returns (weights, card, thumbnail or None).
    """
    from artem_vr.style.weights import verify_weights  # reason: torch off the start-up path

    inputs = inputs if isinstance(inputs, InputsRead) else InputsRead(inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    thumb = target.with_suffix(".jpg")
    keep_thumb = False
    if painting is not None and _thumbnail_wanted(painting, target):
        inputs.note(painting)
        keep_thumb = thumb.exists() and same_file(painting, thumb)  # retrained on its own thumbnail: it stays
    else:
        painting = None
    with AtomicGroup(inputs, "model") as group:
        weights_tmp = group.add(target, write_weights, lambda p: verify_weights(p, target))
        hw = None
        if painting is not None:
            data, hw = thumbnail_jpeg(painting)
            if not keep_thumb:
                group.add_bytes(thumb, data)
        group.add_text(target.with_suffix(".md"), card(weights_tmp, thumb if painting is not None else None, hw))
        for suf in THUMB_SUFFIXES:
            if painting is None or suf != ".jpg":
                group.remove(target.with_suffix(suf))
        group.commit()
    return target, target.with_suffix(".md"), thumb if painting is not None else None


def _thumbnail_wanted(style_path: Path, weights: Path) -> bool:
    """A user model gets a thumbnail of its painting, unless the painting is a preset's
    thumbnail (found through the model's ``style``) or the folder is the shipped one."""
    return not (_same_dir(weights.parent, MODELS_DIR) or _same_dir(style_path.parent, STYLES_DIR))


def save_thumbnail(style_path: Path, weights: Path) -> Path | None:
    """The painting's thumbnail beside user ``weights`` (``NAME.jpg``), unless the painting is a
    preset's thumbnail (found through the model's ``style``) or the folder is the shipped one."""
    if not _thumbnail_wanted(style_path, weights):
        return None
    return make_thumbnail(style_path, weights.with_suffix(".jpg"))
