"""`artem-vr eval` (style part): losses, "n/a" for methods without a model, a deterministic
report and contact sheet, the CLI and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from artem_vr import eval_style as E
from artem_vr.encode import write_image
from artem_vr.sources.imageio import read_image


def _img(seed, h, w, colour):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin(xx / (2 + seed) + yy / 5)
    img = base[..., None] * np.array(colour) + 0.1 * rng.standard_normal((h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    (d / "content").mkdir()
    (d / "styles").mkdir()
    write_image(d / "content" / "a.png", _img(0, 40, 56, (0.9, 0.9, 0.8)))
    write_image(d / "content" / "b.png", _img(1, 48, 40, (0.6, 0.8, 1.0)))
    write_image(d / "styles" / "red.png", _img(2, 50, 50, (1.0, 0.3, 0.1)))
    return d


def test_losses_are_zero_for_identical_inputs():
    from artem_vr.style.adain import feature_stats

    torch.manual_seed(0)
    feats = {k: torch.rand(1, 3, 6, 6) for k in E.STYLE_LAYERS}
    assert float(E.content_loss_of(feats, {k: v.clone() for k, v in feats.items()})) == 0.0
    assert float(E.style_loss_of(feats, feature_stats(feats))) == 0.0
    assert E.reduction(25.0, 100.0) == 0.75


def _run(cli, data, out, *extra):
    return cli(
        "eval", "--content", data / "content", "--styles", data / "styles", "--method", "identity", "generator",
        "--size", 32, "--gatys", 3, "--seed", 3, "--json", out / "r.json", "--sheet", out / "s.png", *extra,
    )


def test_eval_is_deterministic_and_reports_na(cli, data, tmp_path):
    code1, out1, err1 = _run(cli, data, tmp_path / "one")
    assert code1 == 0, err1
    code2, _out2, err2 = _run(cli, data, tmp_path / "two")
    assert code2 == 0, err2
    j1, j2 = (tmp_path / "one" / "r.json").read_text(), (tmp_path / "two" / "r.json").read_text()
    assert j1 == j2
    assert np.array_equal(read_image(tmp_path / "one" / "s.png"), read_image(tmp_path / "two" / "s.png"))
    r = json.loads(j1)["style"]
    assert r["contents"] == ["a", "b"] and [s["label"] for s in r["styles"]] == ["red"]
    s = r["summary"]
    # identity = the unstylized input: zero reduction, zero content loss
    assert s["identity"]["mean_reduction"] == pytest.approx(0.0, abs=1e-6)
    assert s["identity"]["mean_content_loss"] == pytest.approx(0.0, abs=1e-6)
    # a generator exists only for presets: an arbitrary painting is "n/a", not a crash
    assert s["generator"]["pairs_ok"] == 0 and s["generator"]["pairs_na"] == 2 and s["generator"]["mean_reduction"] is None
    assert all(p["methods"]["generator"]["status"] == "n/a" for p in r["pairs"])
    # the optimization baseline moves toward the style
    assert s["gatys3"]["mean_reduction"] > 0
    assert "n/a" in out1 and "gatys3" in out1
    sheet = read_image(tmp_path / "one" / "s.png")
    assert sheet.shape[1] == 128 * 5  # content | style | identity | generator | gatys3


def test_limit_picks_a_seeded_subset(data):
    r1, _ = E.evaluate([str(data / "content")], [str(data / "styles")], ["identity"], size=32, limit=1, seed=0, progress=False)
    r2, _ = E.evaluate([str(data / "content")], [str(data / "styles")], ["identity"], size=32, limit=1, seed=0, progress=False)
    assert r1["contents"] == r2["contents"] and len(r1["contents"]) == 1


def test_held_out_selection_matches_the_trainers(tmp_path):
    files = [tmp_path / f"{i:02d}.jpg" for i in range(10)]
    assert E.held_out(files, 5) == [files[4], files[9]]
    assert E.held_out(files, 0) == files


def test_eval_help_says_what_seed_does():
    import argparse

    from artem_vr.options import add_eval_options

    p = argparse.ArgumentParser()
    add_eval_options(p)
    seed = next(a for a in p._actions if "--seed" in a.option_strings)
    assert "--limit" in seed.help and "default 0" in (seed.help % {"default": seed.default})


@pytest.mark.parametrize("option, value, said", [
    ("--tile", "0", "--tile 0 must be at least 16 — e.g. --tile 128"),  # was an OpenCV error, exit 3
    ("--size", "8", "--size 8 must be at least 32 — e.g. --size 256"),  # was scored at 8 px
    ("--sheet-rows", "0", "--sheet-rows 0 must be at least 1"),
    ("--limit", "0", "--limit 0 must be at least 1"),
    ("--gatys", "-1", "--gatys -1 must be at least 0"),
])
def test_eval_numbers_out_of_range_are_one_line(cli, tmp_path, option, value, said):
    code, _, err = cli("eval", "--content", tmp_path, "--styles", "starry_night", "--sheet", tmp_path / "s.png",
                       option, value)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and said in lines[0], err


def test_eval_usage_errors(cli, data):
    code, _, err = cli("eval")
    assert code == 2 and "nothing to evaluate" in err
    code, _, err = cli("eval", "--content", data / "content", "--styles", "no_such_style")
    assert code == 2 and "neither a preset" in err
    code, _, err = cli("eval", "--content", data / "content", "--styles", "starry_nite")  # a typo: the name meant
    assert code == 2 and "--styles starry_nite: neither a preset nor an existing file/directory (did you mean starry_night?)" in err


def test_adain_variants_are_methods_of_their_own(data):
    """`--method adain:fast adain:full` scores a given decoder; a variant on another method is
    "n/a" with the reason (nothing crashes)."""
    from artem_vr.style.adain import default_weights

    r, _ = E.evaluate([str(data / "content")], [str(data / "styles")], ["adain:fast", "identity:full"],
                      size=32, progress=False)
    assert r["methods"] == ["adain:fast", "identity:full"]
    assert r["summary"]["adain:fast"]["pairs_ok"] == 2 and r["summary"]["adain:fast"]["mean_reduction"] > 0
    assert all("only adain and generator have variants" in p["methods"]["identity:full"]["reason"] for p in r["pairs"])
    if not default_weights("full").is_file():
        r, _ = E.evaluate([str(data / "content")], [str(data / "styles")], ["adain:full"], size=32, progress=False)
        assert "not found" in r["pairs"][0]["methods"]["adain:full"]["reason"]
