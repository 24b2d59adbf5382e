"""The binarized generator: STE training form == frozen inference form, weights round trip,
size ratio, the training command end to end, and the `xnor` stylizer."""

import numpy as np
import pytest
import torch

from artem_vr.cuda import xnor_ref as R
from artem_vr.cuda.device import cuda_available
from artem_vr.style import xnor as X
from artem_vr.style.generator import ARCHS, TransformNet
from artem_vr.style.catalog import CATALOG  # noqa: E402


def _student(arch="compact", seed=0):
    torch.manual_seed(seed)
    teacher = TransformNet(ARCHS[arch]).eval()
    student = X.binarize_generator(teacher).eval()
    for m in X.binary_layers(student):  # non-trivial thresholds
        m.thresh.data.normal_(0, 0.3)
    return teacher, student


def test_residual_convs_are_binarized_edges_stay_float():
    _, s = _student()
    assert len(X.binary_layers(s)) == 2 * ARCHS["compact"].res_blocks
    assert isinstance(s.down[0][0][1], torch.nn.Conv2d) and isinstance(s.up[-1][1], torch.nn.Conv2d)


def test_frozen_equals_training_form_on_cpu():
    _, s = _student()
    x = torch.rand(2, 3, 36, 44)
    with torch.no_grad():
        y_train = s(x)
        X.freeze(s)
        y_frozen = s(x)
    assert all(m.frozen and m.weight_bits.dtype == torch.int32 for m in X.binary_layers(s))
    assert torch.allclose(y_train, y_frozen, atol=1e-6)


def test_frozen_layer_equals_popcount_reference():
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(48, 48, 3)
    b = X.BinaryConv2d.from_conv(conv)
    b.thresh.data.normal_(0, 0.2)
    b.freeze()
    x = torch.randn(1, 48, 11, 13)
    with torch.no_grad():
        got = b(x)
    ref = R.xnor_conv2d_ref(x, b.weight_bits, 48, 1, 0, b.alpha, b.bias.detach(), b.thresh.detach())
    assert torch.equal(got, ref)


def test_ste_gradients():
    torch.manual_seed(2)
    b = X.BinaryConv2d(4, 3, 3)
    x = (torch.randn(1, 4, 6, 6) * 2).requires_grad_(True)
    b(x).sum().backward()
    assert b.weight.grad is not None and b.weight.grad.abs().sum() > 0
    assert b.thresh.grad is not None and b.thresh.grad.abs().sum() > 0
    # hard-tanh STE: no gradient through the sign where |x - t| > 1 (K's path still carries some)
    g_far = x.grad[(x.detach() - b.thresh.detach().view(1, -1, 1, 1)).abs() > 1]
    g_near = x.grad[(x.detach() - b.thresh.detach().view(1, -1, 1, 1)).abs() <= 1]
    assert g_far.abs().mean() < g_near.abs().mean()


def test_save_load_round_trip_and_size(tmp_path):
    from artem_vr.style.weights import save_safetensors

    _, s = _student("full")
    X.freeze(s)
    path = save_safetensors(tmp_path / "m.safetensors", s, X.xnor_arch(ARCHS["full"].to_dict()), {"x": 1})
    loaded = X.load_xnor(path)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        a, b = s.half().float()(x), loaded(x)  # file stores floats as fp16
    assert torch.allclose(a, b, atol=1e-5)
    size = X.model_size(loaded)
    assert size["binarized_weights_ratio"] == 32.0  # 128 channels = 4 full words
    assert 5 < size["ratio"] < 32
    # the file really is smaller than the float generator's
    fp = save_safetensors(tmp_path / "f.safetensors", TransformNet(ARCHS["full"]), ARCHS["full"].to_dict())
    assert path.stat().st_size < 0.3 * fp.stat().st_size


def _photos(folder, n=6, seed=0):
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        yy, xx = np.mgrid[0:48, 0:64]
        img = np.stack([(xx * (i + 1)) % 256, (yy * 3 + 40 * i) % 256, rng.integers(0, 256, (48, 64))], -1).astype(np.uint8)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def test_train_xnor_command_end_to_end(tmp_path, cli, monkeypatch):
    from artem_vr.style import presets
    from artem_vr.style.weights import save_safetensors

    torch.manual_seed(0)
    teacher = save_safetensors(tmp_path / "t.safetensors", TransformNet(ARCHS["compact"]), ARCHS["compact"].to_dict())
    content = _photos(tmp_path / "photos")
    out_dir = tmp_path / "models"
    code, out, err = cli("train", "xnor", "--from", teacher, "--content", content, "--out", "starry_night_xnor_compact",
                         "--out-dir", out_dir, "--iters", 4, "--size", 32, "--batch", 2, "--log-every", 2, "--holdout", 3)
    assert code == 0, err
    w = out_dir / "starry_night_xnor_compact.safetensors"
    card = (out_dir / "starry_night_xnor_compact.md").read_text()
    assert w.is_file() and "L1" in card and "smaller" in card and "--iters 4" in card and "--holdout 3" in card
    assert [ln.split()[:2] for ln in err.splitlines() if ln.startswith("step ")] == [["step", "2/4"], ["step", "4/4"]], err
    assert "--content DATA/photos" in card and str(content) not in card  # no machine path in a card
    # the xnor stylizer finds it as the preset's model and stylizes
    monkeypatch.setattr(presets, "MODELS_DIR", out_dir)
    from artem_vr.style.methods import make_stylizer

    s = make_stylizer("xnor")
    assert s.styles() == ["starry_night"] and s.style == "starry_night"
    y = s.stylize(torch.rand(1, 3, 30, 34))
    assert y.shape == (1, 3, 30, 34) and 0 <= float(y.min()) and float(y.max()) <= 1


@pytest.fixture
def xnor_run(tmp_path, cli):
    """`train xnor` from a random compact teacher on 6 small photos: cli(*more options, teacher=another
    file) -> (code, card, err, out)."""
    from artem_vr.style.weights import save_safetensors

    torch.manual_seed(0)
    teacher = save_safetensors(tmp_path / "t.safetensors", TransformNet(ARCHS["compact"]), ARCHS["compact"].to_dict())
    content = _photos(tmp_path / "photos")

    def run(*more, teacher=teacher):
        code, out, err = cli("train", "xnor", "--from", teacher, "--content", content, "--out", "x", "--out-dir",
                             tmp_path / "models", "--size", 32, "--batch", 2, "--holdout", 3, "--no-progress", *more)
        card = tmp_path / "models" / "x.md"
        return code, card.read_text() if card.is_file() else "", err, out

    return run


def test_train_xnor_time_limit_stops_and_writes_the_model_as_it_is(xnor_run, tmp_path, user_data):
    """--time-limit: checked after each step; a limit shorter than one step stops after the first, and
    the end's writing follows (the model, its card saying where it stopped, the checkpoint)."""
    from artem_vr.style.weights import read_header

    code, card, err, _ = xnor_run("--iters", 50, "--log-every", 10, "--time-limit", 1e-6)
    said = "stopped early: the --time-limit of 1e-06 min was reached after iteration 1 of 50"
    assert code == 0 and said in err, err  # the log says why it stopped
    assert f"**Status:** {said}" in card and ("the run folder's checkpoint is this student: the same command with --resume "
                                              "trains on from it") in card, card
    assert "1 iterations of the 50 it was annealed over" in card and "(mean of the last 1 iterations)" in card, card
    assert "--time-limit 1e-06" in card  # the command that reproduces the run
    assert read_header(tmp_path / "models" / "x.safetensors")[1]["iters"] == 1
    assert read_header(user_data.parent / "runs" / "x" / "checkpoint.safetensors")[1]["step"] == 1  # as at the end


def _adam_steps(run_dir) -> set[float]:
    """The step count of each parameter's Adam state in the run folder's optimizer file."""
    import json

    from safetensors import safe_open

    with safe_open(str(run_dir / "optimizer.safetensors"), "pt") as f:
        return set(json.loads(f.metadata()["steps"]).values())


def test_train_xnor_keeps_a_checkpoint_and_resume_trains_on_from_its_step(xnor_run, tmp_path, user_data):
    """--checkpoint-every: the student's float weights and Adam's state in the run folder (default runs/NAME
    in the user data folder); --resume with a larger --iters goes on from the saved step with that state."""
    from artem_vr.style.weights import read_header

    run_dir = user_data.parent / "runs" / "x"
    code, card, err, _ = xnor_run("--iters", 2, "--checkpoint-every", 1, "--log-every", 1)
    assert code == 0 and "**Status:**" not in card, err
    assert read_header(run_dir / "checkpoint.safetensors")[1]["step"] == 2 and _adam_steps(run_dir) == {2.0}
    code, card, err, out = xnor_run("--iters", 4, "--checkpoint-every", 1, "--log-every", 1, "--resume")
    assert code == 0, err
    assert f"resumed {run_dir / 'checkpoint.safetensors'} at step 2; the learning rate is cosine-annealed from there with " \
           "--iters 4 (was 2)" in out, out
    assert [ln.split()[1] for ln in err.splitlines() if ln.startswith("step ")] == ["3/4", "4/4"], err  # steps 3 and 4 only
    assert "4 iterations (resumed at step 2 with --resume)" in card and "(all sittings)" in card, card
    assert read_header(tmp_path / "models" / "x.safetensors")[1]["iters"] == 4  # the model a resumed run may replace
    assert read_header(run_dir / "checkpoint.safetensors")[1]["step"] == 4
    assert _adam_steps(run_dir) == {4.0}  # Adam's state came back: a fresh optimizer would count 2 steps
    code, _, err, out = xnor_run("--iters", 4, "--resume")
    assert code == 0 and "already at step 4 >= --iters 4: nothing to do" in out, err


def test_train_xnor_resume_refuses_what_it_cannot_go_on_from(xnor_run, tmp_path, user_data):
    """No checkpoint: one line, exit 2, before the teacher is read; another teacher than the checkpoint's
    (its --from, as generator and adain refuse another --arch / --variant): one line, exit 2."""
    from artem_vr.style.weights import save_safetensors

    ckpt = user_data.parent / "runs" / "x" / "checkpoint.safetensors"
    code, _, err, _ = xnor_run("--iters", 2, "--resume", teacher=tmp_path / "no_such_teacher.safetensors")
    assert code == 2 and err.strip() == (f"artem-vr train xnor: error: --resume: no checkpoint at {ckpt} — start without "
                                         "--resume, or point --run-dir at the run"), err
    assert not (tmp_path / "models" / "x.safetensors").exists()
    assert xnor_run("--iters", 1, "--log-every", 0)[0] == 0
    torch.manual_seed(1)
    other = save_safetensors(tmp_path / "other.safetensors", TransformNet(ARCHS["compact"]), ARCHS["compact"].to_dict())
    code, _, err, _ = xnor_run("--iters", 2, "--resume", teacher=other)
    assert code == 2 and err.strip() == (f"artem-vr train xnor: error: --resume: the checkpoint in {ckpt.parent} was distilled "
                                         f"from t.safetensors, not from --from {other} — resume with the --from it started "
                                         "with, or start afresh without --resume"), err


def test_train_xnor_with_worker_processes(xnor_run):
    code, card, err, _ = xnor_run("--iters", 3, "--workers", 2)
    assert code == 0 and "| optimiser | Adam, lr 0.0005 cosine-annealed, batch 2, 3 iterations, seed 0 |" in card, err
    assert "--workers 2" in card and "**Status:**" not in card


def test_each_worker_draws_its_own_crops(tmp_path):
    """Copies of one crop generator in two workers would repeat each other's crops (batch 1 = batch 0)."""
    from artem_vr.style.data import RandomCrops, crop_loader

    torch.manual_seed(0)
    ds = RandomCrops(list(_photos(tmp_path / "photos", n=1).iterdir()), 16)  # one photo: only the crop differs
    batches = iter(crop_loader(ds, 2, workers=2))
    a, b = next(batches), next(batches)  # from worker 0 and worker 1
    assert a.shape == b.shape == (2, 3, 16, 16) and not torch.equal(a, b)


def test_stylizer_without_model_says_how_to_train(monkeypatch, tmp_path):
    from artem_vr.errors import UsageError
    from artem_vr.style import presets

    monkeypatch.setattr(presets, "MODELS_DIR", tmp_path)
    s = X.XnorStylizer(library=CATALOG)
    with pytest.raises(UsageError, match="train xnor"):
        s.set_style("starry_night")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available()[0], reason=f"needs CUDA: {cuda_available()[1]}")
def test_each_binary_layer_matches_on_cuda_given_the_same_input():
    """Layer by layer, on the very input the CPU run gave each binarized layer: the CUDA kernel
    path equals the CPU path (the packed signs bit-exact, the scaled output to float rounding)."""
    _, s = _student("full")
    X.freeze(s)
    inputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: inputs.append((m, i[0].detach().clone(), o.detach().clone())))
             for m in X.binary_layers(s)]
    with torch.no_grad():
        s(torch.rand(2, 3, 64, 72))
    for h in hooks:
        h.remove()
    worst = []
    for i, (m, x, y_cpu) in enumerate(inputs):
        import copy

        mc = copy.deepcopy(m).cuda()
        with torch.no_grad():
            y_gpu = mc(x.cuda()).cpu()
        bits_cpu = R.pack_bits(x, m.thresh.detach())
        from artem_vr.cuda.xnor_ops import pack_activations

        bits_gpu = pack_activations(x.cuda(), m.thresh.detach().cuda()).cpu()
        d = (y_cpu - y_gpu).abs()
        worst.append((i, int((bits_cpu != bits_gpu).sum()), float(d.max()), float(y_cpu.abs().max())))
    bad = [w for w in worst if w[1] or w[2] > 1e-3 * max(1.0, w[3])]
    assert not bad, f"(layer, packed words differing, max |diff|, max |y|): {worst}"


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available()[0], reason=f"needs CUDA: {cuda_available()[1]}")
def test_cuda_kernel_path_matches_cpu_path():
    """The whole binarized generator, CPU vs CUDA. Each binarized layer is exact on the same input
    (the test above); the float layers around them are not: by default cuDNN runs fp32
    convolutions in TF32 (10-bit mantissa), and a binarized network turns any change near a sign
    threshold into a flipped bit (on the H200 with TF32: mean |diff| 0.062, the same as the CPU
    path itself gives for an input moved by 1e-5). With TF32 off the paths must agree."""
    _, s = _student("full")
    X.freeze(s)
    x = torch.rand(2, 3, 64, 72)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            cpu = s(x)
            gpu = s.cuda()(x.cuda()).cpu()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    d = (cpu - gpu).abs()
    assert float(d.mean()) < 1e-3 and float(d.max()) < 0.2, (
        f"mean {float(d.mean()):.4g}, max {float(d.max()):.4g}, PSNR "
        f"{float(10 * torch.log10(1 / ((cpu - gpu) ** 2).mean())):.1f} dB")


def test_shipped_xnor_model_stylizes_towards_its_painting():
    from artem_vr.style.methods import make_stylizer
    from artem_vr.style.data import load_rgb, rgb8_to_chw
    from artem_vr.style.presets import list_presets, preset

    shipped = [p.name for p in list_presets() if X.XnorStylizer(library=CATALOG).model_path(p.name) is not None]
    if not shipped:
        pytest.skip("no XNOR model in assets/models")
    name = shipped[0]
    s = make_stylizer("xnor", name)
    assert X.binary_layers(s._net) and all(m.frozen for m in X.binary_layers(s._net))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 128), indexing="ij")
    x = torch.stack([xx, yy, (xx * yy) ** 0.5])[None]  # a smooth synthetic photo
    y = s.stylize(x)
    assert (y - x).abs().mean() > 0.05  # it changes the picture
    # ... towards the painting's colours
    paint = rgb8_to_chw(load_rgb(preset(name).image)).mean(dim=(1, 2))
    dist = lambda img: float((img[0].mean(dim=(1, 2)) - paint).norm())  # noqa: E731
    assert dist(y) < dist(x)
