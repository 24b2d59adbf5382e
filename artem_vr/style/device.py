"""Which torch device to use, and what `artem-vr doctor` says about torch/CUDA."""

from __future__ import annotations

import torch

from artem_vr.errors import CudaUnavailable, UsageError


def cuda_available() -> bool:
    try:
        return torch.cuda.is_available()
    except Exception:  # a broken driver must read as "no CUDA", never crash
        return False


def pick_device(requested: str | None = "auto") -> torch.device:
    """``auto``: CUDA when a driver and device are there, else CPU. ``cuda[:i]`` without CUDA →
    CudaUnavailable; anything torch does not parse → UsageError."""
    req = (requested or "auto").strip().lower()
    if req == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    try:
        dev = torch.device(req)
    except RuntimeError as e:
        raise UsageError(f"unknown device {requested!r}", "use auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not cuda_available():
        raise CudaUnavailable(f"device {requested!r} asked for, but there is no CUDA driver/device", "use --device cpu (or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"no CUDA device {dev.index} (found {torch.cuda.device_count()})", "use cuda:0 … or auto")
    return dev


def doctor_checks():
    from artem_vr.doctor import Check

    checks = [Check("torch", None, f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")]
    if cuda_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("cuda", True, f"CUDA {torch.version.cuda}: {names}"))
    else:
        checks.append(
            Check("cuda", None, "no CUDA driver: CPU path (stylizing runs on the CPU; use the compact models)",
                  "for GPU speed install an NVIDIA driver and a CUDA build of torch")
        )
    return checks
