"""User styles end to end: the user data folder, train → styles → stylize by name or file, --force,
AdaIN decoders by name, and what `doctor` says. Every test runs with its own empty $ARTEM_VR_DATA
(the ``user_data`` fixture in tests/conftest.py), so the real user folder is never touched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from artem_vr.errors import UsageError, WeightsError
from artem_vr.paths import MODELS_DIR, user_data_dir, user_models_dir
from artem_vr.style import catalog as C
from artem_vr.style import user_styles as U
from artem_vr.style.data import load_rgb
from artem_vr.style.catalog import CATALOG  # noqa: E402


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _user_style(user_data: Path, name: str, src: str = "the_scream_compact", painting: Path | None = None) -> Path:
    """A user style made of a shipped generator's weights (a stand-in for a trained one) + its
    card + the painting's thumbnail, as `artem-vr train` leaves them."""
    from artem_vr.style.generator import generator_from_arch
    from artem_vr.style.weights import load_safetensors, read_header, save_safetensors

    user_data.mkdir(parents=True, exist_ok=True)
    w = user_data / f"{name}.safetensors"
    shutil.copy(MODELS_DIR / f"{src}.md", w.with_suffix(".md"))
    if painting is None:
        shutil.copy(MODELS_DIR / f"{src}.safetensors", w)
        return w
    arch, meta = read_header(MODELS_DIR / f"{src}.safetensors")
    net = load_safetensors(MODELS_DIR / f"{src}.safetensors", generator_from_arch)
    save_safetensors(w, net, arch, {**meta, "style": painting.stem, "painting": painting.name})
    U.save_thumbnail(painting, w)
    return w


@pytest.fixture(scope="module")
def klimt_painting(tmp_path_factory, thumbnails) -> Path:
    """A 'new painting' that is no preset: a larger, flipped copy of a thumbnail."""
    import cv2

    d = tmp_path_factory.mktemp("painting")
    img = cv2.imread(str(thumbnails["composition_viii"]))
    p = d / "klimt_kiss.png"
    cv2.imwrite(str(p), cv2.resize(img[:, ::-1], (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC))
    return p


def test_the_user_folder_follows_the_env_var_and_tests_never_see_the_real_one(user_data, monkeypatch, tmp_path):
    assert user_models_dir() == user_data and user_data_dir() == user_data.parent
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "elsewhere"))
    assert user_models_dir() == tmp_path / "elsewhere" / "models"
    monkeypatch.delenv("ARTEM_VR_DATA")
    import platformdirs

    assert user_data_dir() == Path(platformdirs.user_data_dir("artem-vr", appauthor=False))


def test_output_path_never_overwrites_without_force(user_data, tmp_path, monkeypatch):
    # default: the user folder
    assert U.output_path("klimt", None, False) == user_data / "klimt.safetensors"
    # a preset's or a shipped model's name in the user folder would take its place: --force only
    for name in ("starry_night", "starry_night_compact", "adain_fast"):
        with pytest.raises(UsageError, match="shipped preset or model has that name"):
            U.output_path(name, None, False)
        assert U.output_path(name, None, True) == user_data / f"{name}.safetensors"
    # an existing user model: --force (or resuming the run that wrote it)
    w = _user_style(user_data, "mine")
    with pytest.raises(UsageError, match="already exists"):
        U.output_path("mine", None, False)
    assert U.output_path("mine", None, False, resume=True) == w
    # the shipped folder given explicitly: an existing model there needs --force, even resuming
    shipped = tmp_path / "shipped"
    shutil.copytree(MODELS_DIR, shipped)
    monkeypatch.setattr(C, "MODELS_DIR", shipped)
    monkeypatch.setattr(U, "MODELS_DIR", shipped)  # output_path reads it from user_styles
    with pytest.raises(UsageError, match="already exists .a shipped model"):
        U.output_path("starry_night_compact", shipped, False, resume=True)
    assert U.output_path("brand_new", shipped, False) == shipped / "brand_new.safetensors"
    # names, not paths
    for bad in ("a/b", "x.safetensors", "", "-x", "../up"):
        with pytest.raises(UsageError, match="not a model name"):
            U.output_path(bad, None, False)


def test_train_generator_makes_a_user_style_seen_by_styles_stylize_and_run(
        cli, user_data, small_content_dir, klimt_painting, tmp_path):
    """The issue's story: a generator trained on a new painting is the style NAME everywhere."""
    argv = ["train", "generator", "--content", small_content_dir, "--style", klimt_painting, "--out", "klimt",
            "--size", 32, "--batch", 1, "--iters", 3, "--holdout", 0, "--style-layers", "relu1_1", "relu2_1",
            "--content-layer", "relu2_1", "--no-progress", "--threads", 1]
    code, out, err = cli(*argv)
    assert code == 0, err
    w, card, thumb = (user_data / f"klimt{s}" for s in (".safetensors", ".md", ".jpg"))
    assert w.is_file() and card.is_file() and thumb.is_file()
    assert not (MODELS_DIR / "klimt.safetensors").exists()  # nothing written to the shipped data
    assert (user_data_dir() / "runs" / "klimt" / "checkpoint.safetensors").is_file()
    # the thumbnail is the painting at 256 px on the shorter side, the card names it
    t, src = load_rgb(thumb), load_rgb(klimt_painting)
    assert min(t.shape[:2]) == 256 and abs(t.shape[1] / t.shape[0] - src.shape[1] / src.shape[0]) < 0.01
    assert abs(float(t.mean()) - float(src.mean())) < 3
    assert "klimt_kiss.png" in card.read_text() and "klimt.jpg" in card.read_text()
    m = C.read_model(w)
    assert m.kind == "generator" and m.image == thumb and m.painting == "klimt_kiss.png"

    # styles: listed as a user style next to the presets
    code, out, _ = cli("styles")
    line = next(ln for ln in out.splitlines() if ln.startswith("klimt "))
    assert " user " in line and "generator (compact)" in line and "adain" in line
    assert next(ln for ln in out.splitlines() if ln.startswith("starry_night ")).split()[1] == "preset"
    assert str(user_data) in out

    # stylize by name, and by file: the same network, not the input
    photo = small_content_dir / "great_wave.jpg"
    code, out, err = cli("stylize", photo, tmp_path / "by_name.png", "--style", "klimt", "--device", "cpu")
    assert code == 0, err
    assert "generator: klimt" in out
    code, _, err = cli("stylize", photo, tmp_path / "by_file.png", "--style", w, "--device", "cpu")
    assert code == 0, err
    a, b = load_rgb(tmp_path / "by_name.png"), load_rgb(tmp_path / "by_file.png")
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - load_rgb(photo).astype(int)).mean() > 5

    # the live pipeline offers it and starts on it
    from artem_vr.app import plan_style

    method, methods, styles, initial = plan_style(None, "klimt", printer=lambda *_: None)
    assert method == "generator" and "klimt" in styles and initial is None
    assert plan_style(None, str(w), printer=lambda *_: None)[::3] == ("generator", str(w))

    # the same name again: refused, the model is unchanged; --force replaces it
    before = _sha(w)
    code, _, err = cli(*argv)
    assert code == 2 and "already exists" in err and "--force" in err
    assert _sha(w) == before
    code, _, err = cli(*argv, "--iters", 4, "--force")
    assert code == 0, err
    assert _sha(w) != before and C.read_model(w).meta["iters"] == 4


def test_train_never_writes_over_a_shipped_model_by_accident(cli, user_data, small_content_dir, tmp_path, monkeypatch):
    before = {p.name: _sha(p) for p in MODELS_DIR.glob("*.safetensors")}
    base = ["train", "generator", "--content", small_content_dir, "--style", "starry_night", "--size", 32,
            "--batch", 1, "--iters", 1, "--holdout", 0, "--no-progress"]
    # the README's old example: a preset's name → refused (it would replace the preset for you)
    code, _, err = cli(*base, "--out", "starry_night")
    assert code == 2 and "starry_night" in err and "--force" in err
    # a shipped model's file name in the user folder: refused too
    code, _, err = cli(*base, "--out", "starry_night_compact")
    assert code == 2 and "--force" in err
    # the shipped folder itself (a copy standing in for it): refused without --force
    shipped = tmp_path / "shipped"
    shutil.copytree(MODELS_DIR, shipped)
    monkeypatch.setattr(C, "MODELS_DIR", shipped)
    monkeypatch.setattr(U, "MODELS_DIR", shipped)  # output_path reads it from user_styles
    code, _, err = cli(*base, "--out", "starry_night_compact", "--out-dir", shipped)
    assert code == 2 and "already exists (a shipped model)" in err
    assert _sha(shipped / "starry_night_compact.safetensors") == before["starry_night_compact.safetensors"]
    assert {p.name: _sha(p) for p in MODELS_DIR.glob("*.safetensors")} == before
    assert not any(user_data.glob("*.safetensors")) if user_data.is_dir() else True


def test_a_forced_user_model_under_a_preset_name_takes_its_place(user_data):
    from artem_vr.style.generator import GeneratorStylizer

    w = _user_style(user_data, "starry_night", src="great_wave_compact")
    assert C.find_model("starry_night", "generator") == w
    assert C.find_model("starry_night", "generator", "full") == MODELS_DIR / "starry_night_full.safetensors"
    assert GeneratorStylizer(library=CATALOG).styles().count("starry_night") == 1


def test_user_style_through_xnor_and_adain(cli, user_data, small_content_dir, klimt_painting, tmp_path):
    """`train xnor --from <user style>`: progress bar, card, 'no held-out photos', the painting
    travels along; adain shows a user style by name from its thumbnail."""
    _user_style(user_data, "klimt", painting=klimt_painting)
    code, out, err = cli("train", "xnor", "--from", "klimt", "--content", small_content_dir, "--out", "klimt_bits",
                         "--iters", 3, "--size", 32, "--batch", 2, "--log-every", 2, "--holdout", 0)
    assert code == 0, err
    assert "3/3" in err and "klimt_bits" in err  # the tqdm bar
    assert "no held-out photos" in out and "PSNR" not in out
    card = (user_data / "klimt_bits.md").read_text()
    assert "no held-out photos" in card and "PSNR" not in card
    m = C.read_model(user_data / "klimt_bits.safetensors")
    assert m.kind == "xnor" and m.meta["style"] == "klimt" and m.meta["eval"] is None
    assert m.image == user_data / "klimt_bits.jpg" and m.painting == "klimt_kiss.png"
    assert "klimt_bits" in C.style_names("xnor")

    from artem_vr.style.methods import make_stylizer

    x = torch.rand(1, 3, 40, 48)
    s = make_stylizer("xnor", "klimt_bits")
    assert s.stylize(x).shape == x.shape
    # adain: the user style's painting is its style image
    a = make_stylizer("adain", "klimt")
    assert "klimt" in a.styles() and "klimt_bits" in a.styles()
    ref = make_stylizer("adain", str(user_data / "klimt.jpg"))
    assert torch.equal(a.stylize(x), ref.stylize(x))
    # eval scores a user style against its painting, with its own models
    from artem_vr.eval_style import resolve_styles

    (spec,) = resolve_styles(["klimt"])
    assert spec.path == user_data / "klimt.jpg" and spec.arg_for("generator") == "klimt"


def test_adain_decoder_by_name_or_file(cli, user_data, thumbnails, tmp_path):
    user_data.mkdir(parents=True)
    for v in ("fast", "full"):
        shutil.copy(MODELS_DIR / f"adain_{v}.safetensors", user_data / f"mine_{v}.safetensors")
    assert C.adain_decoder("mine_full") == user_data / "mine_full.safetensors"
    assert C.adain_decoder("adain_fast") == MODELS_DIR / "adain_fast.safetensors"
    with pytest.raises(UsageError, match="no such AdaIN decoder.*mine_fast"):
        C.adain_decoder("nope")
    with pytest.raises(UsageError, match="is a generator"):
        C.adain_decoder(str(MODELS_DIR / "great_wave_compact.safetensors"))
    # the header decides the variant
    from artem_vr.style.adain import AdaINStylizer

    assert AdaINStylizer(weights=user_data / "mine_full.safetensors", library=CATALOG).model.variant.name == "full"

    photo = thumbnails["great_wave"]
    outs = {}
    for model in ("mine_full", "adain_full", str(user_data / "mine_full.safetensors"), "adain_fast"):
        o = tmp_path / f"{len(outs)}.png"
        code, _, err = cli("stylize", photo, o, "--method", "adain", "--style", "the_scream", "--adain-model", model,
                           "--device", "cpu")
        assert code == 0, err
        outs[model] = load_rgb(o)
    assert np.array_equal(outs["mine_full"], outs["adain_full"])  # same weights, same pixels
    assert np.array_equal(outs["mine_full"], outs[str(user_data / "mine_full.safetensors")])
    assert not np.array_equal(outs["mine_full"], outs["adain_fast"])
    code, _, err = cli("stylize", photo, tmp_path / "x.png", "--method", "adain", "--style", "the_scream",
                       "--adain-model", "nope")
    assert code == 2 and "no such AdaIN decoder" in err
    code, out, _ = cli("styles")
    assert "mine_full (user, full)" in out and "adain_fast (shipped, fast)" in out


def test_style_files_that_are_not_styles_are_clear_errors(cli, user_data, thumbnails, tmp_path):
    photo = thumbnails["great_wave"]
    cases = [
        (MODELS_DIR / "adain_fast.safetensors", "AdaIN decoder .use it with --adain-model"),
        (tmp_path / "missing.safetensors", "does not exist"),
    ]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04 not a safetensors file at all")
    cases.append((junk, "pickle"))
    for f, msg in cases:
        code, _, err = cli("stylize", photo, tmp_path / "o.png", "--style", f)
        assert code == 2, err
        assert __import__("re").search(msg, err), err
    code, _, err = cli("stylize", photo, tmp_path / "o.png", "--style", MODELS_DIR / "great_wave_compact.safetensors",
                       "--method", "xnor")
    assert code == 2 and "is a generator model" in err


def test_a_broken_user_file_is_reported_not_hidden(cli, user_data):
    from artem_vr.doctor import gather

    _user_style(user_data, "good")
    (user_data / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert [m.name for m in C.user_models("generator")] == ["good"]
    code, out, _ = cli("styles")
    assert code == 0 and "unreadable user model" in out and "broken.safetensors" in out
    check = next(c for c in gather() if c.name == "user styles")
    assert check.ok is False and "1 unreadable" in check.detail and "broken.safetensors" in check.fix


def test_doctor_reports_user_styles_and_data_files(cli, user_data):
    code, out, _ = cli("doctor")
    assert code == 0
    line = next(ln for ln in out.splitlines() if "user styles" in ln)
    assert str(user_data) in line and "0 user style(s)" in line and "not created yet" in line
    data = next(ln for ln in out.splitlines() if "data files" in ln)
    assert data.startswith("[ok  ]") and "source checkout" in data and "attribution found" in data
    _user_style(user_data, "mine")
    _, out, _ = cli("doctor")
    assert "1 user style(s) (mine)" in out


def test_model_file_painting_comes_from_the_card(tmp_path, thumbnails):
    """A model file handed around without a thumbnail of its own name: its card names the painting."""
    d = tmp_path / "shared"
    d.mkdir()
    w = d / "friend.safetensors"
    shutil.copy(MODELS_DIR / "the_scream_compact.safetensors", w)
    assert C.read_model(w).image == thumbnails["the_scream"]  # header: trained on the preset
    shutil.copy(thumbnails["great_wave"], d / "wave.jpg")
    w.with_suffix(".md").write_text("# friend\n\n- style image: `wave.jpg` (image file)\n")
    assert C.read_model(w).image == d / "wave.jpg"
    from artem_vr.eval_style import resolve_styles

    spec = resolve_styles([str(w)])[0]
    assert spec.label == "friend" and spec.path == d / "wave.jpg" and spec.arg_for("generator") == str(w)
    with pytest.raises(WeightsError):
        resolve_styles([str(d / "none.safetensors")])


def test_styles_says_a_file_where_the_user_styles_folder_must_be_on_a_line_of_its_own(cli, user_data):
    """The note's blank line before it is a line break, not an escaped `\\x0a` (printable() escapes
    newlines: only what comes from the file system goes through it)."""
    models = user_models_dir()
    models.parent.mkdir(parents=True, exist_ok=True)
    models.write_text("not a folder")
    code, out, _ = cli("styles")
    assert code == 0
    assert f"\n\nnote: {models} is a file, not a folder: no user style can be kept under it" in out, out
    assert "\\x0a" not in out
