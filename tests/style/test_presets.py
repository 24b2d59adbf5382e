"""Preset registry, thumbnails and attribution, style resolution and `artem-vr styles`."""

from __future__ import annotations

import pytest

from artem_vr.errors import UsageError
from artem_vr.paths import STYLES_DIR
from artem_vr.style.data import load_rgb
from artem_vr.style.catalog import resolve_style
from artem_vr.style.presets import list_presets, preset


def test_six_distinct_presets_with_eval_scale_thumbnails_and_attribution():
    ps = list_presets()
    assert len(ps) >= 6 and len({p.name for p in ps}) == len(ps)
    attribution = (STYLES_DIR / "ATTRIBUTION.md").read_text()
    means = []
    for p in ps:
        img = load_rgb(p.image)
        # the painting at the scale eval measures style at: 256 px on the shorter side
        assert min(img.shape[:2]) == 256 and max(img.shape[:2]) <= 512, (p.name, img.shape)
        assert f"`{p.name}.jpg`" in attribution and p.artist in attribution
        means.append(img.reshape(-1, 3).mean(0))
    # visually distinct: no two thumbnails share nearly the same mean colour
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            assert abs(means[i] - means[j]).max() > 5, (ps[i].name, ps[j].name)


def test_make_thumbnail_downscales_the_shorter_side_and_never_upscales(tmp_path):
    import cv2

    from artem_vr.style.presets import make_thumbnail

    src = preset("great_wave").image  # 256 x 378
    big = tmp_path / "big.png"
    img = cv2.imread(str(src))
    cv2.imwrite(str(big), cv2.resize(img, (756, 512), interpolation=cv2.INTER_CUBIC))
    out = load_rgb(make_thumbnail(big, tmp_path / "t.jpg"))
    assert out.shape[:2] == (256, 378)
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(img, (189, 128), interpolation=cv2.INTER_AREA))
    assert load_rgb(make_thumbnail(small, tmp_path / "s.jpg")).shape[:2] == (128, 189)


def test_resolve_style(tmp_path):
    name, path = resolve_style("great_wave")
    assert name == "great_wave" and path == preset("great_wave").image
    f = tmp_path / "mine.png"
    f.write_bytes(b"x")
    assert resolve_style(str(f)) == ("mine", f)
    with pytest.raises(UsageError, match="does not exist"):
        resolve_style(str(tmp_path / "missing.jpg"))
    with pytest.raises(UsageError, match="neither a preset nor an image.*starry_night"):
        resolve_style("starry_nite")
    with pytest.raises(UsageError, match="unknown style"):
        preset("nope")


def test_styles_command_lists_every_preset(cli):
    code, out, _ = cli("styles", "--paths")
    assert code == 0
    for p in list_presets():
        assert p.name in out and p.title in out
