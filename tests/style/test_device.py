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
