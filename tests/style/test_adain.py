"""AdaIN: the pure maths, the model, and the `adain` stylizer (styles, strength, blends,
colour preservation, any image file as a style).

The stylizer tests load a decoder that the test writes with the project's one weights saver
(random initial weights: they test the plumbing, not the look); the shipped decoder, when it
is in assets/models, is checked for actually moving a photo toward a painting.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artem_vr.encode import write_image
from artem_vr.errors import ImageError, UsageError, WeightsError
from artem_vr.frames import to_tensor
from artem_vr.style import adain as A
from artem_vr.style.catalog import CATALOG  # noqa: E402
from artem_vr.style.methods import offered_styles  # noqa: E402


def _texture(seed: int, h: int = 48, w: int = 64, colour=(1.0, 0.5, 0.2)) -> np.ndarray:
    """A deterministic coloured texture (stripes + noise), uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin((xx * (seed + 1) + yy * 2) / 3.0)
    img = base[..., None] * np.array(colour)[None, None] + 0.15 * rng.standard_normal((h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _photo(h: int = 40, w: int = 56) -> torch.Tensor:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 5.0) * np.cos(yy / 7.0)], -1)
    return to_tensor((img * 255).astype(np.uint8))


# --------------------------------------------------------------------------- maths


def test_calc_mean_std_shapes_and_values():
    f = torch.randn(2, 5, 7, 9) * 3 + 1
    m, s = A.calc_mean_std(f)
    assert m.shape == s.shape == (2, 5, 1, 1)
    assert torch.allclose(m.flatten(), f.mean((2, 3)).flatten(), atol=1e-5)
    assert torch.allclose(s.flatten(), (f.var((2, 3), unbiased=False) + 1e-5).sqrt().flatten(), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        A.calc_mean_std(torch.randn(5, 7, 9))


def test_adain_gives_the_style_statistics_and_checks_shapes():
    torch.manual_seed(0)
    c = torch.randn(2, 8, 10, 12)
    s = torch.randn(1, 8, 6, 6) * 4 + 2
    out = A.adain(c, A.calc_mean_std(s))
    assert out.shape == c.shape
    m, sd = A.calc_mean_std(out)
    ms, ss = A.calc_mean_std(s)
    assert torch.allclose(m, ms.expand_as(m), atol=1e-4)
    assert torch.allclose(sd, ss.expand_as(sd), atol=1e-3)
    with pytest.raises(ValueError, match="style mean"):
        A.adain(c, A.calc_mean_std(torch.randn(1, 4, 6, 6)))


def test_mixing_statistics_equals_mixing_adain_outputs():
    torch.manual_seed(1)
    f = torch.randn(1, 6, 8, 8)
    s1, s2 = A.calc_mean_std(torch.randn(1, 6, 5, 5) * 2), A.calc_mean_std(torch.randn(1, 6, 5, 5) + 3)
    mixed = A.adain(f, A.mix_stats([s1, s2], [0.25, 0.75]))
    assert torch.allclose(mixed, 0.25 * A.adain(f, s1) + 0.75 * A.adain(f, s2), atol=1e-5)
    with pytest.raises(UsageError):
        A.mix_stats([s1, s2], [0.0, 0.0])


def test_losses_are_zero_for_identical_inputs_and_positive_otherwise():
    torch.manual_seed(2)
    feats = {k: torch.rand(1, 4, 8, 8) for k in A.STYLE_LOSS_LAYERS}
    assert float(A.style_loss(feats, A.feature_stats(feats))) == 0.0
    assert float(A.content_loss(feats["relu1_1"], feats["relu1_1"].clone())) == 0.0
    other = {k: v * 2 + 1 for k, v in feats.items()}
    assert float(A.style_loss(feats, A.feature_stats(other))) > 0


def test_keep_content_chroma_takes_luma_from_the_stylized_image():
    x, y = _photo(), torch.rand(1, 3, 40, 56)
    out = A.keep_content_chroma(y, x)
    ycc_out, ycc_x, ycc_y = A.rgb_to_ycbcr(out), A.rgb_to_ycbcr(x), A.rgb_to_ycbcr(y)
    # away from clamping, chroma is the content's and luma the stylized image's
    inside = ((out > 0.01) & (out < 0.99)).all(1, keepdim=True)
    assert torch.allclose(ycc_out[:, 1:][inside.expand(-1, 2, -1, -1)], ycc_x[:, 1:][inside.expand(-1, 2, -1, -1)], atol=1e-4)
    assert torch.allclose(ycc_out[:, :1][inside], ycc_y[:, :1][inside], atol=1e-4)


def test_colour_matrices_are_made_once_per_device_and_dtype():
    """Colour preservation converts every frame: its matrices are made on a device once (a copy
    to a GPU waits for it), and the two conversions are inverses."""
    from artem_vr.style.adain_maths import ycc_matrices

    x = torch.rand(2, 3, 8, 8)
    A.rgb_to_ycbcr(x)
    before = ycc_matrices.cache_info().hits
    assert torch.allclose(A.ycbcr_to_rgb(A.rgb_to_ycbcr(x)), x, atol=1e-5)
    assert ycc_matrices.cache_info().hits >= before + 2  # both conversions found their matrix made
    assert ycc_matrices(x.device, torch.float32)[0] is ycc_matrices(x.device, torch.float32)[0]


def test_match_color_gives_the_target_mean_and_covariance():
    src = to_tensor(_texture(3, colour=(0.2, 0.4, 1.0)))
    tgt = _photo()
    out = A.match_color(src, tgt)
    assert torch.allclose(out.mean((2, 3)), tgt.mean((2, 3)), atol=0.03)


def test_decoders_mirror_the_encoder_stride():
    for name, v in A.VARIANTS.items():
        dec = A.make_decoder(v)
        y = dec(torch.zeros(1, v.channels, 5, 7))
        assert y.shape == (1, 3, 5 * v.downsample, 7 * v.downsample), name
        assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d, torch.nn.ConvTranspose2d)) for m in dec)


def test_pad_to_multiple():
    x = torch.rand(1, 3, 13, 6)
    y, hw = A.pad_to_multiple(x, 8)
    assert y.shape[-2:] == (16, 8) and hw == (13, 6)
    assert torch.equal(y[..., :13, :6], x)


def test_parse_style_spec():
    assert A.parse_style_spec("a.jpg") == [("a.jpg", 1.0)]
    assert A.parse_style_spec("a.jpg+b.png") == [("a.jpg", 1.0), ("b.png", 1.0)]
    assert A.parse_style_spec("a.jpg:0.7+starry_night:0.3") == [("a.jpg", 0.7), ("starry_night", 0.3)]


# --------------------------------------------------------------------------- stylizer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("adain")
    torch.manual_seed(0)
    dec = A.make_decoder(A.VARIANTS["fast"])
    with torch.no_grad():  # random weights, but an output around mid-grey with visible variation
        dec[-1].weight.mul_(3.0)
        dec[-1].bias.fill_(0.5)
    from artem_vr.style.weights import save_safetensors

    save_safetensors(d / "dec.safetensors", dec, A.VARIANTS["fast"].arch, {"test": True}, fp16=False)
    write_image(d / "red.png", _texture(1, colour=(1.0, 0.3, 0.1)))
    write_image(d / "blue.png", _texture(2, colour=(0.1, 0.3, 1.0)))
    (d / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return d


@pytest.fixture(scope="module")
def stylizer(files):
    return A.AdaINStylizer(weights=files / "dec.safetensors", variant="fast", style_size=48, library=CATALOG)


def test_any_image_file_is_a_style_and_any_size_works(stylizer, files):
    stylizer.strength = 1.0
    stylizer.set_style(str(files / "red.png"))
    x = torch.rand(2, 3, 37, 53)  # not a multiple of 8; a stereo pair
    y = stylizer.stylize(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 0 <= float(y.min()) and float(y.max()) <= 1


def test_internal_scale_runs_smaller_and_returns_the_frame_size(files):
    s = A.AdaINStylizer(weights=files / "dec.safetensors", variant="fast", style_size=48, library=CATALOG)
    s.set_style(str(files / "red.png"))
    s.set_internal_scale(0.5, "bilinear")
    x = _photo(48, 64)
    y = s.stylize(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1


def test_style_statistics_are_computed_once_per_style(files):
    s = A.AdaINStylizer(weights=files / "dec.safetensors", variant="fast", style_size=48, library=CATALOG)
    calls = []
    real = s.model.style_stats

    def counting(img):
        calls.append(tuple(img.shape))
        return real(img)

    s.model.style_stats = counting
    s.set_style(str(files / "red.png"))
    x = _photo()
    for _ in range(4):
        s.stylize(x)
    assert len(calls) == 1
    s.set_style(str(files / "blue.png"))
    s.stylize(x)
    s.set_style(str(files / "red.png"))  # cached: no new encoding
    s.stylize(x)
    assert len(calls) == 2


def test_strength_zero_returns_the_content_and_strength_is_in_feature_space(stylizer, files):
    stylizer.set_style(str(files / "red.png"))
    x = _photo()
    stylizer.strength = 0.0
    assert torch.equal(stylizer.stylize(x), x)
    stylizer.strength = 1.0
    full = stylizer.stylize(x)
    stylizer.strength = 0.5
    half = stylizer.stylize(x)
    # feature-space α: decode(lerp(f, t)) is not the pixel blend of input and output
    assert not torch.allclose(half, torch.lerp(x, full, 0.5), atol=1e-3)
    assert not torch.allclose(half, full, atol=1e-3)
    stylizer.strength = 1.0


def test_blend_weights_one_zero_equals_the_single_style(stylizer, files):
    x = _photo()
    stylizer.strength = 1.0
    stylizer.set_style(str(files / "red.png"))
    single = stylizer.stylize(x)
    stylizer.set_styles([(str(files / "red.png"), 1.0), (str(files / "blue.png"), 0.0)])
    assert torch.allclose(stylizer.stylize(x), single, atol=1e-6)
    stylizer.set_style(f"{files / 'red.png'}+{files / 'blue.png'}")
    both = stylizer.stylize(x)
    assert not torch.allclose(both, single, atol=1e-4)


def test_luminance_preservation_keeps_the_content_chroma(files):
    s = A.AdaINStylizer(weights=files / "dec.safetensors", variant="fast", preserve_color="luminance", style_size=48, library=CATALOG)
    s.set_style(str(files / "red.png"))
    x = _photo()
    y = s.stylize(x)
    cx, cy = A.rgb_to_ycbcr(x)[:, 1:], A.rgb_to_ycbcr(y)[:, 1:]
    inside = ((y > 0.01) & (y < 0.99)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    assert inside.float().mean() > 0.3
    assert float((cx - cy)[inside].abs().max()) < 2e-3


def test_colour_matching_mode_recomputes_on_reset(files):
    s = A.AdaINStylizer(weights=files / "dec.safetensors", variant="fast", preserve_color="match", style_size=48, library=CATALOG)
    s.set_style(str(files / "red.png"))
    y1 = s.stylize(_photo())
    assert s._stats is not None
    s.reset_temporal()
    assert s._stats is None
    assert torch.allclose(s.stylize(_photo()), y1, atol=1e-6)


def test_bad_styles_raise_clear_errors(stylizer, files):
    stylizer.set_style(str(files / "red.png"))
    before = stylizer.stylize(_photo())
    with pytest.raises(ImageError, match="garbage.jpg"):
        stylizer.set_style(str(files / "garbage.jpg"))
    assert stylizer.style == str(files / "red.png")  # the previous style stays
    assert torch.equal(stylizer.stylize(_photo()), before)
    with pytest.raises(ImageError, match="not found"):
        stylizer.set_style(str(files / "missing.png"))
    with pytest.raises(UsageError, match="unknown style"):
        stylizer.set_style("no_such_preset")
    with pytest.raises(UsageError, match="weights"):
        stylizer.set_style(f"{files / 'red.png'}:-1")


def test_wrong_decoder_file_is_rejected(files, tmp_path):
    with pytest.raises(WeightsError, match="architecture"):
        A.AdaINStylizer(weights=files / "dec.safetensors", variant="full", library=CATALOG)
    with pytest.raises(WeightsError, match="not found"):
        A.AdaINStylizer(weights=tmp_path / "none.safetensors", variant="fast", library=CATALOG)


def test_presets_are_styles_when_their_thumbnails_exist(stylizer):
    names = stylizer.styles()
    shipped = any(A.default_weights(v).is_file() for v in A.VARIANTS)
    assert offered_styles("adain") == (names if shipped else [])
    if not names:
        pytest.skip("no preset thumbnails in assets/styles yet")
    stylizer.set_style(names[0])
    assert stylizer.stylize(_photo()).shape == (1, 3, 40, 56)


# --------------------------------------------------------------------------- shipped decoder


@pytest.mark.parametrize("variant", ["fast", "full"])
def test_shipped_decoder_moves_a_photo_toward_the_painting(variant, files):
    path = A.default_weights(variant)
    if not path.is_file():
        pytest.skip(f"no shipped {path.name} (train it with `artem-vr train adain --variant {variant}`)")
    from artem_vr.paths import SAMPLES_DIR
    from artem_vr.style.vgg import VGGFeatures

    from artem_vr.style.presets import list_presets

    paintings = [p.image for p in list_presets() if p.image.is_file()]
    if not paintings:
        pytest.skip("no preset painting in assets/styles to stylize with")
    s = A.AdaINStylizer(variant=variant, library=CATALOG)
    style = paintings[0]
    s.set_style(str(style))
    samples = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".jpg", ".png")) if SAMPLES_DIR.is_dir() else []
    if samples:
        from artem_vr.sources.imageio import read_image

        x = A.resize_shorter(to_tensor(read_image(samples[0])), 128)
    else:
        x = A.resize_shorter(_photo(), 128)
    y = s.stylize(x)
    vgg = VGGFeatures(A.STYLE_LOSS_LAYERS)
    with torch.no_grad():
        target = A.feature_stats(vgg(A.resize_shorter(A.read_style_image(style), s.style_size)))
        before, after = float(A.style_loss(vgg(x), target)), float(A.style_loss(vgg(y), target))
    assert after < 0.7 * before, (before, after)


def test_auto_variant_prefers_the_shipped_fast_decoder(tmp_path, monkeypatch):
    """Both decoders shipped: the fast one (it scores higher as trained here, and is cheaper);
    only one shipped: that one."""
    from artem_vr.style import adain as A

    files = {v: tmp_path / f"adain_{v}.safetensors" for v in ("fast", "full")}
    monkeypatch.setattr(A, "default_weights", lambda v: files[v])
    assert A.auto_variant() == "fast"  # neither: the usual model's name for the error
    files["full"].write_bytes(b"x")
    assert A.auto_variant() == "full"
    files["fast"].write_bytes(b"x")
    assert A.auto_variant() == "fast"
    with pytest.raises(UsageError, match="unknown AdaIN variant"):
        A.AdaINStylizer(variant="medium", library=CATALOG)
