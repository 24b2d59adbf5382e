"""Device choice and the doctor's torch/CUDA lines."""

import pytest
import torch

from artem_vr.errors import CudaUnavailable, UsageError
from artem_vr.style.device import cuda_available, doctor_checks, pick_device


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if cuda_available() else "cpu")
    with pytest.raises(UsageError, match="unknown device"):
        pick_device("tpu9000")


@pytest.mark.skipif(cuda_available(), reason="checks the no-CUDA error path; this machine has CUDA")
def test_cuda_without_driver_is_a_clear_error():
    with pytest.raises(CudaUnavailable, match="no CUDA driver"):
        pick_device("cuda")


def test_doctor_lines():
    checks = {c.name: c for c in doctor_checks()}
    assert torch.__version__ in checks["torch"].detail
    assert ("CPU path" in checks["cuda"].detail) != cuda_available()


# ------------------------------------------------------------------ the one resolver (cuda/device.py)
def test_resolve_device_auto_and_cpu():
    from artem_vr.cuda.device import resolve_device

    assert resolve_device("cpu") == "cpu" == resolve_device(" CPU ")
    assert resolve_device("auto") == resolve_device(None) == ("cuda" if cuda_available() else "cpu")


@pytest.mark.skipif(cuda_available(), reason="checks the no-CUDA error path; this machine has CUDA")
def test_resolve_device_cuda_without_driver_says_why():
    from artem_vr.cuda.device import resolve_device

    for text in ("cuda", "cuda:0"):
        with pytest.raises(CudaUnavailable, match="no CUDA driver") as ei:
            resolve_device(text)
        assert "--device cpu" in ei.value.fix


@pytest.mark.parametrize("text", ["tpu9000", "cuda:x", "gpu", "cuda:-1", "", "cuda:\u0663", "cuda:\u00b2"])
def test_resolve_device_unknown_is_a_usage_error(text):
    from artem_vr.cuda.device import resolve_device

    if text == "":
        assert resolve_device(text) == resolve_device("auto")  # empty: the default
        return
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device(text)


@pytest.mark.parametrize("text", ["cuda:\u0663", "cuda:\u00b2"])
def test_a_device_number_in_other_digits_is_refused_by_the_cli(cli, tmp_path, text):
    """"cuda:٣" (an Arabic-Indic 3) passed the CLI's check (its \\d took any digit) on its way to torch."""
    code, _, err = cli("bench", "--device", text)
    assert code == 2 and "is not a device artem-vr can use" in err and "Traceback" not in err


def test_every_command_resolves_through_the_one_resolver():
    """pick_device is the torch.device view of resolve_device; no other resolver exists."""
    import ast
    from pathlib import Path

    from artem_vr.cuda.device import resolve_device

    assert pick_device("cpu") == torch.device(resolve_device("cpu"))
    pkg = Path(__file__).resolve().parents[2] / "artem_vr"
    defs = [f"{p.relative_to(pkg)}:{n.name}" for p in pkg.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, ast.FunctionDef) and n.name in ("pick_device", "resolve_device")]
    assert sorted(defs) == ["cuda/device.py:resolve_device", "style/device.py:pick_device"]
