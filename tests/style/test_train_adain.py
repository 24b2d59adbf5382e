"""`artem-vr train adain`: a tiny CPU run whose losses fall, that writes a loadable decoder and
a model card, resumes from its checkpoint, and holds out a deterministic split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artem_vr.encode import write_image
from artem_vr.style import adain as A
from artem_vr.style.data import split_holdout
from artem_vr.style.train_adain import TrainConfig, train
from artem_vr.style.catalog import CATALOG  # noqa: E402


def _images(d, n, seed, palette):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = 56 + 4 * i, 64
        yy, xx = np.mgrid[0:h, 0:w]
        f = rng.uniform(0.1, 0.5, 3)
        img = 0.5 + 0.45 * np.stack([np.sin(xx * f[0] + yy * f[1]), np.cos(yy * f[2]), np.sin((xx + yy) * f[0])], -1)
        img = img * np.array(palette[i % len(palette)]) + 0.08 * rng.standard_normal((h, w, 3))
        write_image(d / f"img_{i:02d}.png", (np.clip(img, 0, 1) * 255).astype(np.uint8))
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("adain_data")
    content = _images(root / "content", 6, 0, [(1, 1, 1), (0.8, 1, 0.9)])
    styles = _images(root / "styles", 5, 1, [(1, 0.4, 0.1), (0.2, 0.4, 1), (1, 0.9, 0.2)])
    (root / "SOURCES.tsv").write_text(
        "file\tkind\tpackage\tlicense\n"
        + "".join(f"content/img_{i:02d}.png\tphoto\ttest-photos\tCC0\n" for i in range(6))
        + "".join(f"styles/img_{i:02d}.png\tpainting\ttest-paintings\tPD\n" for i in range(5))
    )
    return root


def _cfg(data, tmp_path, **kw):
    base = dict(
        content=[str(data / "content")], styles=[str(data / "styles")], variant="fast", size=32, batch=2, iters=30,
        lr=1e-3, holdout=3, style_crops=2, out="tiny_adain", out_dir=str(tmp_path / "models"),
        run_dir=str(tmp_path / "run"), sample_every=15, checkpoint_every=10, log_every=0, eval_pairs=2, threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_holdout_split_is_deterministic():
    files = [f"f{i}" for i in range(12)]
    train_files, held = split_holdout(files, 5)
    assert held == ["f4", "f9"]
    assert train_files == [f for f in files if f not in held]
    assert split_holdout(files, 0) == (files, [])


def test_tiny_training_run_losses_fall_and_the_output_loads(data, tmp_path):
    res = train(_cfg(data, tmp_path))
    assert res.iterations == 30 and not res.interrupted
    totals = [h["total"] for h in res.history]
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:5]), totals
    styles = [h["style"] for h in res.history]
    assert np.mean(styles[-5:]) < np.mean(styles[:5])
    # the decoder loads through the one loader and stylizes
    s = A.AdaINStylizer(weights=res.weights, variant="fast", style_size=32, library=CATALOG)
    s.set_style(str(data / "styles" / "img_00.png"))
    y = s.stylize(torch.rand(1, 3, 30, 42))
    assert y.shape == (1, 3, 30, 42)
    # the card records what a reader needs
    card = res.card.read_text()
    for needle in ("relu3_1", "Iterations: 30", "test-photos", "test-paintings", "Held-out paintings", "img_02.png", "Wall time"):
        assert needle in card, needle
    assert (tmp_path / "run" / "sample_000015.jpg").is_file()
    assert res.heldout["pairs"] == 2 and np.isfinite(res.heldout["style_reduction"])


def test_resume_continues_from_the_checkpoint(data, tmp_path):
    first = train(_cfg(data, tmp_path, iters=10))
    assert first.iterations == 10
    second = train(_cfg(data, tmp_path, iters=14, resume=True))
    assert second.iterations == 14
    its = [h["it"] for h in second.history]
    assert its[:10] == list(range(1, 11)) and its[10:] == [11, 12, 13, 14]


def test_sample_every_0_writes_the_last_steps_sample_only_and_no_progress_hides_the_bar(data, tmp_path, capsys):
    """`--sample-every 0`: at the end only (as in train generator); `--no-progress`: the loss lines, no bar."""
    train(_cfg(data, tmp_path, iters=4, sample_every=0, log_every=2, no_progress=True))
    assert sorted(p.name for p in (tmp_path / "run").glob("sample_*.jpg")) == ["sample_000004.jpg"]
    err = capsys.readouterr().err
    assert [ln.split()[:2] for ln in err.splitlines() if ln.startswith("it ")] == [["it", "2/4"], ["it", "4/4"]], err
    assert "adain-fast" not in err  # the bar's label


def test_a_time_limit_stops_writes_the_model_card_and_checkpoint_and_resume_goes_on(data, tmp_path, capsys):
    """--time-limit: checked after each step; a limit shorter than one step stops after the first."""
    import json

    from safetensors import safe_open

    first = train(_cfg(data, tmp_path, iters=30, time_limit=1e-6))
    said = "stopped early: the --time-limit of 1e-06 min was reached after iteration 1 of 30"
    assert first.iterations == 1 and first.interrupted and first.weights.is_file()
    assert said in capsys.readouterr().err  # the log says why it stopped
    assert f"**Status:** {said}" in first.card.read_text()
    with safe_open(str(tmp_path / "run" / "optimizer.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["meta"])["iteration"] == 1  # Adam's state at the stop, for --resume
    second = train(_cfg(data, tmp_path, iters=3, resume=True))
    assert second.iterations == 3 and not second.interrupted
    assert [h["it"] for h in second.history] == [1, 2, 3]
    assert "**Status:** training finished the requested iterations." in second.card.read_text()


def test_resume_without_checkpoint_is_a_usage_error(data, tmp_path):
    from artem_vr.errors import UsageError

    with pytest.raises(UsageError, match="checkpoint"):
        train(_cfg(data, tmp_path, resume=True, run_dir=str(tmp_path / "empty")))


def test_a_collapsed_decoder_output_is_recognised(thumbnails):
    """The training loop warns when every output is one flat colour (dead ReLUs, e.g. the full
    variant at --lr 1e-3): a real painting is not flat, a flat batch is, one live image suffices."""
    from artem_vr.style.data import load_rgb, rgb8_to_chw
    from artem_vr.style.train_adain import is_flat

    painting = rgb8_to_chw(load_rgb(thumbnails["hiroshige_snow"]))[None]
    flat = torch.empty(2, 3, 48, 48)
    flat[:, 0], flat[:, 1], flat[:, 2] = 0.03, 0.25, 0.31
    flat += torch.rand_like(flat) * 1e-3  # sub-level noise is still flat
    assert not is_flat(painting)
    assert is_flat(flat)
    assert not is_flat(torch.cat([flat, painting[..., :48, :48]]))


def test_config_refuses_numbers_that_are_not_finite():
    """The trainer's config is checked before any data is read: NaN/inf is one clear error."""
    from artem_vr.errors import InvalidNumber

    for bad in ({"lr": float("nan")}, {"lr_decay": float("inf")}, {"style_weight": float("nan")},
                {"content_weight": float("-inf")}, {"time_limit": float("nan")}):
        with pytest.raises(InvalidNumber):
            TrainConfig(content=["c"], styles=["s"], **bad)


def test_config_says_which_number_is_wrong_and_what_to_give():
    """--iters 0, --batch 0, a --size the variant cannot take: each names itself and an example."""
    from artem_vr.errors import UsageError

    for bad, says in (({"iters": 0}, "--iters 0 must be at least 1 — e.g. --iters 1000"),
                      ({"batch": -2}, "--batch -2 must be at least 1 — e.g. --batch 4"),
                      ({"size": 100, "variant": "full"}, "--size 100 must be a multiple of 8 for the full variant — e.g. --size 96")):
        with pytest.raises(UsageError) as e:
            TrainConfig(content=["c"], styles=["s"], **bad)
        assert str(e.value) == says
