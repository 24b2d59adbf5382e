"""``artem-vr styles``: the preset and user styles, the methods that show them and the AdaIN
decoders; and what ``artem-vr doctor`` says about the data files and the user styles folder."""

from __future__ import annotations

from pathlib import Path

from artem_vr.checks import Check
from artem_vr.errors import file_in_the_way, path_error
from artem_vr.paths import DATA_LAYOUT, DATA_ROOT, MODELS_DIR, SHADERS_DIR, STYLES_DIR, USER_DATA_ENV, user_models_dir
from artem_vr.style.catalog import MODEL_SUFFIX, _preset_named, adain_decoders, find_model, style_image, user_models
from artem_vr.style.presets import PRESETS
from artem_vr.text import printable, say


def add_arguments(parser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print the thumbnail and model files")


def _methods(name: str) -> tuple[str, list[Path]]:
    out, files = [], []
    for method in ("generator", "xnor"):
        archs = []
        for a in ("compact", "full"):
            p = find_model(name, method, a)
            if p is not None and p not in files:
                archs.append(a)
                files.append(p)
        if not archs and (p := find_model(name, method)) is not None:  # a user network of another size
            archs.append("own")
            files.append(p)
        if archs:
            out.append(f"{method} ({'/'.join(archs)})")
    if style_image(name) is not None and adain_decoders():
        out.append("adain")
    return ", ".join(out) or "- (no trained model yet)", files


def run(args) -> int:
    users = user_models()
    rows = []  # (name, kind, painting, methods, files)
    for p in PRESETS:
        methods, files = _methods(p.name)
        overridden = any(u.name == p.name for u in users if u.kind in ("generator", "xnor"))
        rows.append((p.name, "preset" + (" (user model first)" if overridden else ""), p.label, methods, [p.image, *files]))
    # names, paintings, paths and errors below come from files (a model's metadata, its card, its
    # name): printed escaped, so no file can move the cursor or clear the screen
    for u in users:
        if u.kind in ("generator", "xnor") and _preset_named(u.name) is None and u.name not in [r[0] for r in rows]:
            methods, files = _methods(u.name)
            rows.append((printable(u.name), "user", printable(u.painting), methods, [f for f in [u.image, *files] if f is not None]))
    w = [max(len(r[i]) for r in rows + [("name", "kind", "painting")]) for i in range(3)]
    say(f"{'name':<{w[0]}}  {'kind':<{w[1]}}  {'painting':<{w[2]}}  methods")
    for name, kind, painting, methods, files in rows:
        say(f"{name:<{w[0]}}  {kind:<{w[1]}}  {painting:<{w[2]}}  {methods}")
        if getattr(args, "paths", False):
            for f in files:
                say(f"{'':<{w[0]}}    {printable(f)}")
    decoders = adain_decoders()
    if decoders:
        say("\nAdaIN decoders (--adain-model NAME): " + ", ".join(printable(f"{m.name} ({where}, {m.arch.get('variant', '?')})")
                                                                   for m, where in decoders))
    for u in users:
        if u.kind is None:
            say(printable(f"unreadable user model: {u.error}" + (f" — {u.error_fix}" if u.error_fix else "")))
    if (blocker := file_in_the_way(user_models_dir())) is not None:
        say("\n" + printable(f"note: {blocker} is a file, not a folder: no user style can be kept under it "
                             f"(move the file, or set {USER_DATA_ENV} to a folder)"))
    say(f"\nuser styles live in {printable(user_models_dir())} (set {USER_DATA_ENV} to move them); "
          "train one with `artem-vr train generator --style PAINTING.jpg --out NAME`")
    say("any image file also works as a style with --method adain (e.g. --style painting.jpg), "
          "and so does a model file (--style path/to/model.safetensors)")
    return 0


# ------------------------------------------------------------------------ `artem-vr doctor`


def doctor_checks():
    folder = user_models_dir()
    try:
        users = user_models()
    except OSError as e:  # an unreadable or unusable data folder is a finding, not a crash of doctor
        err = path_error(e, folder, "read")
        return [Check("user styles", False, err.what, err.fix or "")]
    styles = [u for u in users if u.kind in ("generator", "xnor")]
    decoders = [u for u in users if u.kind == "adain"]
    broken = [u for u in users if u.kind is None]
    shaders = sorted(p.name for p in SHADERS_DIR.glob("*.*")) if SHADERS_DIR.is_dir() else []
    models = sorted(MODELS_DIR.glob(f"*{MODEL_SUFFIX}")) if MODELS_DIR.is_dir() else []
    cards = [m for m in models if m.with_suffix(".md").is_file()]
    thumbs = [p for p in PRESETS if p.image.is_file()]
    attribution = (STYLES_DIR / "ATTRIBUTION.md").is_file()
    data_ok = bool(shaders) and bool(models) and len(cards) == len(models) and len(thumbs) == len(PRESETS) and attribution
    blocker = file_in_the_way(folder)
    state = (f" ({blocker} is a file, not a folder)" if blocker is not None
             else "" if folder.is_dir() else " (not created yet)")
    return [
        Check("data files", data_ok,
              f"{DATA_LAYOUT} at {DATA_ROOT}: {len(shaders)} shaders, {len(models)} models ({len(cards)} with cards), "
              f"{len(thumbs)}/{len(PRESETS)} style thumbnails, attribution {'found' if attribution else 'missing'}",
              "reinstall artem-vr (pip install --force-reinstall artem-vr, or from the repository: pip install .)"),
        Check("user styles", False if broken or blocker is not None else None,
              f"{folder}{state}: {len(styles)} user style(s)"
              + (f" ({', '.join(u.name for u in styles)})" if styles else "")
              + f", {len(decoders)} AdaIN decoder(s)" + (f", {len(broken)} unreadable" if broken else "")
              + f"; set {USER_DATA_ENV} to move it",
              f"move {blocker} away, or set {USER_DATA_ENV} to a folder" if blocker is not None else
              "remove or retrain the unreadable files: " + ", ".join(u.path.name for u in broken)),
    ]
