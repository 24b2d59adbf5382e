"""The one loader: safetensors only, with clear errors for missing, pickled, truncated and
wrong-architecture files; key prefixes fixed; eval, no grad, device set."""

from __future__ import annotations

import pickle

import pytest
import torch

from artem_vr.errors import WeightsError
from artem_vr.style.generator import ARCHS, TransformNet, generator_from_arch
from artem_vr.style.weights import load_safetensors, read_header, save_safetensors


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = TransformNet(ARCHS["compact"])
    path = save_safetensors(tmp_path / "g.safetensors", net, ARCHS["compact"].to_dict(), {"style": "x"}, fp16=True)
    return net, path


def test_round_trip_fp16_factory(saved):
    net, path = saved
    arch, meta = read_header(path)
    assert arch == ARCHS["compact"].to_dict() and meta == {"style": "x"}
    loaded = load_safetensors(path, generator_from_arch)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.rand(1, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        diff = (loaded(x) - net(x)).abs().max().item()
    assert diff < 5e-3, diff  # fp16 storage, fp32 compute


def test_fixes_ddp_and_compile_prefixes(tmp_path):
    from safetensors.torch import save_file

    net = TransformNet(ARCHS["compact"])
    state = {f"module._orig_mod.{k}": v.contiguous() for k, v in net.state_dict().items()}
    p = tmp_path / "ddp.safetensors"
    save_file(state, str(p), metadata={"arch": '{"type": "transform_net", "channels": [12, 24, 48], "res_blocks": 3, "edge_kernel": 7}'})
    loaded = load_safetensors(p, TransformNet(ARCHS["compact"]))
    assert torch.equal(loaded.state_dict()["down.0.0.1.weight"], net.state_dict()["down.0.0.1.weight"])


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_safetensors(tmp_path / "nope.safetensors", generator_from_arch)


def test_torch_save_zip_is_rejected_as_pickle(tmp_path):
    p = tmp_path / "model.pt"
    torch.save(TransformNet(ARCHS["compact"]).state_dict(), p)
    with pytest.raises(WeightsError, match="pickle.*only loads safetensors.*convert"):
        load_safetensors(p, generator_from_arch)


def test_plain_pickle_is_rejected(tmp_path):
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(WeightsError, match="pickle"):
        load_safetensors(p, generator_from_arch)


@pytest.mark.parametrize("keep", [0, 5, 200, -1000])
def test_truncated_file(saved, tmp_path, keep):
    _, path = saved
    data = path.read_bytes()
    p = tmp_path / "cut.safetensors"
    p.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(WeightsError, match="truncated|not a valid safetensors|cannot be read"):
        load_safetensors(p, generator_from_arch)


def test_wrong_architecture_names_first_mismatch(saved):
    _, path = saved
    with pytest.raises(WeightsError, match=r"'down\.0\.0\.1\.weight' has shape \(12, 3, 7, 7\), the model needs \(32, 3, 9, 9\)"):
        load_safetensors(path, TransformNet(ARCHS["full"]))
    with pytest.raises(WeightsError, match="another architecture: channels"):
        load_safetensors(path, generator_from_arch, expect_arch=ARCHS["full"].to_dict())


def test_missing_tensor_is_named(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in TransformNet(ARCHS["compact"]).state_dict().items() if not k.startswith("up.2")}
    p = tmp_path / "partial.safetensors"
    save_file(state, str(p))
    with pytest.raises(WeightsError, match=r"tensor 'up\.2\.1\.weight'.* is missing"):
        load_safetensors(p, TransformNet(ARCHS["compact"]))
