"""Hostile weights files: refused before they cost memory or time, never unpickled, never
accepted with NaN/Inf; a stylizer whose output is not finite says so."""

from __future__ import annotations

import json
import time

import pytest
import torch
from faults_helpers import one_error_line, write_png
from safetensors.torch import save_file

from artem_vr.errors import WeightsError
from artem_vr.style.generator import ARCHS, TransformNet, generator_from_arch
from artem_vr.style.weights import ARCH_MAX_JSON, MAX_FILE_BYTES, load_safetensors
from artem_vr.style.xnor import xnor_generator_from_arch

COMPACT = ARCHS["compact"].to_dict()


def _state(poison=None):
    torch.manual_seed(0)
    sd = {k: v.contiguous().clone() for k, v in TransformNet(ARCHS["compact"]).state_dict().items()}
    if poison is not None:
        sd["down.0.0.1.weight"].view(-1)[5] = poison
    return sd


def _save(path, arch, state=None):
    save_file(state if state is not None else _state(), str(path), metadata={"arch": json.dumps(arch) if not isinstance(arch, str) else arch})
    return path


HOSTILE_ARCH = {
    "100000 residual blocks": ({**COMPACT, "res_blocks": 100_000}, "res_blocks=100000 is outside 0–64"),
    "huge channels": ({**COMPACT, "channels": [4096, 4096, 4096], "res_blocks": 64, "edge_kernel": 15}, "over the limit of 200,000,000"),
    "channels out of range": ({**COMPACT, "channels": [12, 24, 10**7]}, "outside 0–4096"),
    "negative channels": ({**COMPACT, "channels": [12, -24, 48]}, "outside 0–4096"),
    "bigger than the file": ({**COMPACT, "res_blocks": 40}, "but the file holds"),
    "xnor base bigger than the file": ({"type": "xnor_transform_net", "base": {**COMPACT, "channels": [4000, 24, 48]}}, "but the file holds"),
    "deep nesting": ({**COMPACT, "x": [[[[[[1]]]]]]}, "nests deeper"),
    "long list": ({**COMPACT, "x": list(range(1000))}, "entries, over 64"),
    "not finite": ({**COMPACT, "x": float("inf")}, "not a sane number"),
    "two channels": ({**COMPACT, "channels": [12, 24]}, "not understood"),
    "huge JSON": ('{"type": "transform_net", "pad": "' + "x" * (ARCH_MAX_JSON + 10) + '"}', "metadata is"),
    "JSON bomb": ("[" * 20_000 + "]" * 20_000, "unreadable metadata"),
    "not an object": ("[1, 2, 3]", "not a JSON object"),
}


@pytest.mark.parametrize("case", list(HOSTILE_ARCH))
def test_hostile_architecture_metadata_is_refused_before_allocating(tmp_path, case):
    arch, needle = HOSTILE_ARCH[case]
    path = _save(tmp_path / "h.safetensors", arch)
    factory = xnor_generator_from_arch if "xnor" in case else generator_from_arch
    t = time.perf_counter()
    with pytest.raises(WeightsError) as e:
        load_safetensors(path, factory)
    assert time.perf_counter() - t < 3.0
    assert needle in str(e.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_weights_are_refused(tmp_path, value):
    path = _save(tmp_path / "n.safetensors", COMPACT, _state(value))
    with pytest.raises(WeightsError, match="NaN/Inf"):
        load_safetensors(path, generator_from_arch)


def test_train_xnor_from_a_nan_teacher_writes_nothing(tmp_path, cli):
    teacher = _save(tmp_path / "teacher.safetensors", COMPACT, _state(float("nan")))
    content = tmp_path / "content"
    content.mkdir()
    for i in range(2):
        write_png(content / f"{i}.png", size=(64, 64), seed=i)
    code, _, err = cli("train", "xnor", "--from", teacher, "--content", content, "--out", "x",
                       "--out-dir", tmp_path / "models", "--iters", "2")
    assert code == 2 and "NaN/Inf" in one_error_line(err)
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_oversized_file_is_refused_from_its_size(tmp_path):
    path = _save(tmp_path / "big.safetensors", COMPACT)
    with open(path, "r+b") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk is used
    with pytest.raises(WeightsError, match="larger than any artem-vr model"):
        load_safetensors(path, generator_from_arch)


def test_non_finite_stylizer_output_is_an_error(tmp_path):
    """Finite but absurd weights (1e30) overflow to Inf/NaN inside the network: said, not a black picture."""
    import numpy as np

    from artem_vr.app_stylize import stylize_rgb
    from artem_vr.style.base import Stylizer

    net = TransformNet(ARCHS["compact"]).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1e30)

    class Absurd(Stylizer):
        method = "absurd"

        def set_style(self, style):
            self.style = style

        def _forward(self, x):
            return net(x)

    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    with pytest.raises(WeightsError, match="NaN/Inf"):
        stylize_rgb(Absurd(), img, "in.png")


@pytest.mark.parametrize("argv", [["stylize", "IN", "o.png", "--style", "W"], ["train", "xnor", "--from", "W", "--content", "DIR", "--out", "x1"],
                                  ["styles"]])
def test_a_broken_model_file_is_said_once(tmp_path, cli, user_data, argv):
    """'empty.safetensors: empty.safetensors is truncated (0 bytes) — re-download or retrain it — give a model
    written by `artem-vr train`': the path and a fix twice."""
    user_data.mkdir(parents=True)
    weights = user_data / "empty.safetensors"
    weights.write_bytes(b"")
    src = write_png(tmp_path / "in.png")
    code, out, err = cli(*[{"IN": src, "o.png": tmp_path / "o.png", "W": weights, "DIR": tmp_path}.get(a, a) for a in argv])
    said = [line for line in (out + err).splitlines() if "truncated" in line]
    assert len(said) == 1 and said[0].count(str(weights)) == 1 and said[0].count(" — ") == 1, out + err
    assert said[0].endswith(f"{weights} is truncated (0 bytes) — re-download or retrain it")
    assert code == (0 if argv == ["styles"] else 2)
