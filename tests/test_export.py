"""`artem-vr export`: shipped models to ONNX, run with ONNX Runtime and compared with torch;
cards carried along; atomic output; inputs never overwritten; `--engine` on the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from artem_vr.paths import MODELS_DIR, STYLES_DIR


def _img(name: str, h: int, w: int) -> torch.Tensor:
    from artem_vr.style.adain import read_style_image

    return torch.nn.functional.interpolate(read_style_image(STYLES_DIR / f"{name}.jpg"), size=(h, w), mode="area")


def _run(path, name, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {name: x.numpy()})[0]


def test_export_generator_and_adain(tmp_path, cli):
    from artem_vr.style.adain import AdaINModel, adain
    from artem_vr.style.generator import generator_from_arch
    from artem_vr.style.weights import load_safetensors

    card_before = (MODELS_DIR / "starry_night_compact.md").read_text()
    code, out, err = cli("export", "starry_night_compact", "adain_fast", "--out", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adain_fast_decoder.md", "adain_fast_decoder.onnx", "adain_fast_encoder.md", "adain_fast_encoder.onnx",
        "starry_night_compact.md", "starry_night_compact.onnx"]  # no temporary files left
    assert "max |onnx - torch|" in out
    assert f"exported 3 ONNX files to {tmp_path}," in out
    card = (tmp_path / "starry_night_compact.md").read_text()
    assert card.startswith(card_before.rstrip()) and "## ONNX export" in card and "| real: sample scene" in card
    assert (MODELS_DIR / "starry_night_compact.md").read_text() == card_before

    # the generator file on real pictures of two sizes (dynamic H, W; one not a multiple of 4)
    net = load_safetensors(MODELS_DIR / "starry_night_compact.safetensors", generator_from_arch)
    for h, w in ((128, 160), (90, 131)):
        x = _img("great_wave", h, w)
        with torch.inference_mode():
            ref = net(x).numpy()
        got = _run(tmp_path / "starry_night_compact.onnx", "image", x)
        assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4

    # AdaIN: encoder → adain (torch) → decoder, against the torch model on a real content/style pair
    model = AdaINModel("fast")
    load_safetensors(MODELS_DIR / "adain_fast.safetensors", model.decoder, expect_arch=model.variant.arch)
    content, style = _img("hiroshige_snow", 96, 128), _img("starry_night", 96, 128)
    with torch.inference_mode():
        stats = model.style_stats(style)
        ref = model(content, stats).numpy()
    f = torch.from_numpy(_run(tmp_path / "adain_fast_encoder.onnx", "image", content))
    got = _run(tmp_path / "adain_fast_decoder.onnx", "features", adain(f, stats))
    assert np.abs(got - ref).max() < 1e-3


def test_export_of_one_model_says_one_file(tmp_path, cli):
    code, out, err = cli("export", "great_wave_xnor_compact", "--out", tmp_path)
    assert code == 0, err
    assert f"exported 1 ONNX file to {tmp_path}," in out


def test_export_never_writes_over_an_input(cli):
    code, _, err = cli("export", "starry_night_compact", "--out", MODELS_DIR)
    assert code == 2 and "model card would be overwritten" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("export", "no_such_model")
    assert code == 2 and "no shipped model named 'no_such_model' — choose one of: " in err  # nothing near
    code, _, err = cli("export", "starry_nigth_compact")  # a typo: the one meant
    assert code == 2 and "no shipped model named 'starry_nigth_compact' (did you mean starry_night_compact?)" in err


def test_engine_option_reaches_the_stylizer(tmp_path, cli):
    """`stylize --engine ort|eager`: printed, and the two engines give the same picture."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.imread(str(STYLES_DIR / "the_scream.jpg"))[:120, :150])
    outs = {}
    for kind in ("ort", "eager"):
        code, out, err = cli("stylize", src, tmp_path / f"{kind}.png", "--style", "starry_night", "--engine", kind)
        assert code == 0, err
        assert f"generator engine: {kind}" in out
        outs[kind] = cv2.imread(str(tmp_path / f"{kind}.png")).astype(int)
    assert np.abs(outs["ort"] - outs["eager"]).max() <= 1
    with pytest.raises(SystemExit) as e:
        cli("stylize", src, tmp_path / "x.png", "--engine", "tensorrt")
    assert e.value.code == 2


def test_export_leaves_the_process_grad_mode_alone(tmp_path):
    """Library code sets no process-wide state: an in-process export (the CLI can run in-process)
    must not switch autograd off for what runs after it."""
    import torch

    from artem_vr.export import ExportConfig, export, shipped_models

    small = [p for p in shipped_models() if p.stem.endswith("_xnor_compact")][:1] or shipped_models()[:1]
    if not small:
        pytest.skip("no shipped model to export")
    assert torch.is_grad_enabled()
    export(ExportConfig(tuple(small), tmp_path / "onnx"))
    assert torch.is_grad_enabled()
