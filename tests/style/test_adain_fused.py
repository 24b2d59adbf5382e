"""AdaIN's fused engine (artem_vr/style/adain_fused.py): the two stages against the eager model on a
real photo-sized painting with the shipped decoders (the same functions torch.compile compiles,
run eagerly), the statistics hook point with the real comfort wrappers around it, and — compiled —
no recompile when the style, the strength or a statistics filter changes. The compiled path runs
on the CPU in one slow test (Inductor's C++ backend: about a minute on 2 loaded cores) and on
CUDA under ``-m gpu``.

Tolerance: 1e-5 on RGB 0–1 in fp32 (the stages and the eager model differ only in rounding: the
fold of AdaIN + strength + input scale into one multiply-add, and E[x²] − E[x]² for the variance).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from artem_vr.errors import UsageError
from artem_vr.frames import to_tensor
from artem_vr.paths import STYLES_DIR
from artem_vr.sources.imageio import read_image
from artem_vr.style.adain import AdaINStylizer, EagerAdaIN, default_weights
from artem_vr.style.adain_fused import FusedAdaIN, decoder_plan, encoder_plan
from artem_vr.style.catalog import CATALOG
from artem_vr.style.device import cuda_available
from artem_vr.style.engine import EngineConfig
from artem_vr.style.norm import stats_filter

NO_CUDA = "no CUDA driver/device: the compiled fused AdaIN on a GPU runs in tools/gpu_check.sh"
EAGER_FUSED = EngineConfig("fp32", False, fused=True, compile=False)
TOL = 1e-5

pytestmark = pytest.mark.skipif(not default_weights("fast").is_file(), reason="the shipped adain_fast decoder is missing")


def _photo(h: int = 90, w: int = 122) -> torch.Tensor:
    """A real picture (a committed preset painting), cropped to a size that is no multiple of 4."""
    return to_tensor(read_image(STYLES_DIR / "great_wave.jpg"))[..., :h, :w]


def _pair(variant: str = "fast", device: str = "cpu", engine=EAGER_FUSED, style: str = "starry_night"):
    eager = AdaINStylizer(device, variant=variant, library=CATALOG)
    fused = AdaINStylizer(device, variant=variant, library=CATALOG, engine=engine)
    for s in (eager, fused):
        s.set_style(style)
    return eager, fused


@pytest.fixture(scope="module")
def fast_pair():
    return _pair()


@pytest.mark.parametrize("variant", ["fast", "full"])
def test_fused_stages_equal_the_eager_model_on_a_real_image(variant):
    if not default_weights(variant).is_file():
        pytest.skip(f"the shipped adain_{variant} decoder is missing")
    eager, fused = _pair(variant)
    assert isinstance(eager.engine, EagerAdaIN) and isinstance(fused.engine, FusedAdaIN)
    x = _photo()
    for strength in (1.0, 0.4):
        eager.strength = fused.strength = strength
        y, ref = fused.stylize(x), eager.stylize(x)
        assert y.shape == x.shape
        torch.testing.assert_close(y, ref, atol=TOL, rtol=0)
    assert (ref - x).abs().mean() > 0.05  # the painting did change the picture


def test_plans_cover_every_layer(fast_pair):
    model = fast_pair[0].model
    plan, convs = encoder_plan(model.encoder.body)
    assert plan == "crcrmcrcrmcr" and convs == [m for m in model.encoder.body if isinstance(m, torch.nn.Conv2d)]
    plan, convs, scale = decoder_plan(model.decoder)
    assert plan == "crucrcrucrc" and scale == model.variant.in_scale  # fast: 128, U, 128, 64, U, 32, then RGB
    assert convs == [m for m in model.decoder if isinstance(m, torch.nn.Conv2d)]


def test_engine_choice_and_the_startup_line():
    from artem_vr.style.adain import make_adain_engine

    model = _pair()[0].model
    for kind in (None, "auto", "eager", "fast", "ort", EngineConfig()):
        assert make_adain_engine(kind, model).kind == "eager"
    eng = make_adain_engine("fused", model)
    assert eng.kind == "fused" and eng.config.compile and eng.config.precision == "fp32"
    assert "compiling on the first frame" in eng.describe()
    with pytest.raises(UsageError, match="AdaIN decoder"):
        decoder_plan(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3)))


def test_the_statistics_hook_fires_with_the_model_as_key(fast_pair):
    """The fused path calls filter_stats once per frame with the AdaIN model and the feature map,
    and a filter changes its output exactly as it changes the eager model's."""
    eager, fused = fast_pair
    x = _photo()
    seen = []

    def shift(key, mean, var):
        from artem_vr.style.norm import current_features

        seen.append((key, current_features().shape))
        return mean + 3.0, var * 1.3

    with stats_filter(shift):
        y = fused.stylize(x)
    assert seen == [(fused.model, (1, 256, 23, 31))]  # relu3_1 of the input padded to 92x124
    with stats_filter(shift):
        ref = eager.stylize(x)
    torch.testing.assert_close(y, ref, atol=TOL, rtol=0)
    assert (y - fused.stylize(x)).abs().max() > 1e-3  # the filter did change the picture


def test_comfort_wrappers_and_foveation_act_on_the_fused_path(fast_pair):
    """The real temporal, stereo and foveation wrappers around both engines: the same pictures."""
    from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer
    from artem_vr.temporal.foveate import FoveatedStylizer

    eager, fused = fast_pair
    img = (_photo(64, 96)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    frames = [to_tensor(img), to_tensor((img * 0.7).astype(np.uint8))]
    pair = to_tensor([img, (img * 0.8).astype(np.uint8)])
    for make, inputs in ((lambda s: TemporalStabilizer(s, mode="stats", cut_hist=2.0), frames),
                         (lambda s: StereoConsistentStylizer(s, mode="shared-stats"), [pair]),
                         (lambda s: FoveatedStylizer(s), [pair])):
        a, b = make(eager), make(fused)
        for x in inputs:
            torch.testing.assert_close(b.stylize(x), a.stylize(x), atol=1e-4, rtol=0)
    stab = TemporalStabilizer(fused, mode="stats")
    stab.stylize(frames[0])
    assert stab.stats["norm_layers"] == 1  # the wrappers find the AdaIN model as the fused path's key


def _compiled_switch(device, precision, tol, tmp_path, monkeypatch):
    """Compiled: close to the eager path; style switches, a blend, a new strength and a statistics
    filter (both eyes pooled, as the stereo wrapper does) are data — nothing recompiles."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path))
    eager, fused = _pair("fast", device, EngineConfig(precision, fused=True))
    x = torch.cat([_photo(64, 64), _photo(64, 64).flip(-1)]).to(device)  # two eyes
    torch.testing.assert_close(fused.stylize(x), eager.stylize(x), atol=tol, rtol=0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0
    before = eager.stylize(x)
    for style in ("the_scream", "great_wave:0.5+starry_night:0.5", "starry_night"):
        eager.set_style(style)
        fused.set_style(style)
        torch.testing.assert_close(fused.stylize(x), eager.stylize(x), atol=tol, rtol=0)
    eager.set_style("the_scream")
    assert (eager.stylize(x) - before).abs().max() > 4 * tol, "the styles must differ by more than the tolerance"
    eager.set_style("starry_night")
    eager.strength = fused.strength = 0.5
    torch.testing.assert_close(fused.stylize(x), eager.stylize(x), atol=tol, rtol=0)
    pooled = lambda key, m, v: (m.mean(0, keepdim=True).expand_as(m), v.mean(0, keepdim=True).expand_as(v))  # noqa: E731
    with stats_filter(pooled):
        torch.testing.assert_close(fused.stylize(x), eager.stylize(x), atol=tol, rtol=0)
    assert counters["stats"]["unique_graphs"] == graphs
    assert any((tmp_path / "cache" / "torch-compile").rglob("*")), "nothing cached in the user folder"
    assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") != str(tmp_path / "cache" / "torch-compile" / "inductor")


@pytest.mark.slow
def test_compiled_on_cpu_no_recompile_on_style_switch(tmp_path, monkeypatch):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: Inductor's CPU backend needs one")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    _compiled_switch("cpu", "fp32", TOL, tmp_path, monkeypatch)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_compiled_on_cuda_no_recompile_on_style_switch(tmp_path, monkeypatch):
    """fp16 (the CUDA default of both AdaIN engines), compiled by Inductor/Triton: close to the
    eager autocast path, no recompile on a style switch."""
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    _compiled_switch("cuda", "auto", 0.05, tmp_path, monkeypatch)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason=NO_CUDA)
def test_eager_fused_stages_on_cuda_equal_the_model():
    """The stage maths on the GPU (no compile): fp32 channels_last against the fp32 model (5e-4: cuDNN
    may pick different algorithms for the two layouts)."""
    eager, fused = _pair("fast", "cuda", EngineConfig("fp32", True, fused=True, compile=False))
    x = _photo().cuda()
    torch.backends.cudnn.allow_tf32 = False
    try:
        y = fused.stylize(x)
        with torch.inference_mode():
            from artem_vr.style.adain import pad_to_multiple

            xp, (h, w) = pad_to_multiple(x, 4)
            ref = eager.model(xp, eager._stats, 1.0)[..., :h, :w].float().clamp(0, 1)
    finally:
        torch.backends.cudnn.allow_tf32 = True
    torch.testing.assert_close(y, ref, atol=5e-4, rtol=0)


def test_the_app_hands_engine_fused_to_adain_and_says_it_compiles():
    """`artem-vr run/stylize --method adain --engine fused`: the app's factory builds the fused
    engine and prints the start-up line; every other kind keeps AdaIN's eager path."""
    from artem_vr.app import stylizer_factory

    lines = []
    options = {"preserve_color": "none", "adain_variant": "fast", "arch": None, "adain_weights": None, "engine": "fused"}
    s = stylizer_factory(options, printer=lines.append)("adain", "starry_night")
    assert s.engine.kind == "fused"
    assert len(lines) == 1 and lines[0].startswith("adain engine: fused (cpu, fp32, NCHW, fused stages via torch.compile")
    assert "compiling on the first frame" in lines[0]
    s = stylizer_factory(dict(options, engine="auto"), printer=lines.append)("adain", "starry_night")
    assert s.engine.kind == "eager" and lines[-1] == "adain engine: eager (cpu, fp32, eager torch)"


def test_bytes_per_frame_model(fast_pair):
    """The modelled traffic (bench's fused_bytes_per_frame): weights once, the rest linear in images
    and pixels; at fp16 half the activation bytes of fp32."""
    eng = fast_pair[1].engine
    weights = sum(t.numel() * 4 for t in eng.enc_w + eng.enc_b + eng.dec_w + eng.dec_b)
    one = eng.bytes_per_frame(1, 64, 96) - weights
    assert eng.bytes_per_frame(2, 64, 96) - weights == 2 * one
    assert eng.bytes_per_frame(1, 128, 192) - weights == 4 * one
    image = 64 * 96 * 3 * 4
    assert eng.bytes_per_frame(1, 64, 96, act_bytes=2) - weights - image == (one - image) // 2
