"""The torch view of the device choice, and what `artem-vr doctor` says about torch/CUDA."""

from __future__ import annotations

import torch

from artem_vr.checks import Check
from artem_vr.cuda import device as cuda_device


def cuda_available() -> bool:
    """Driver and torch both see a CUDA device (:func:`artem_vr.cuda.device.cuda_available`)."""
    return cuda_device.cuda_available()[0]


def pick_device(requested: str | None = "auto") -> torch.device:
    """:func:`artem_vr.cuda.device.resolve_device` (the one resolver) as a ``torch.device``."""
    return torch.device(cuda_device.resolve_device(requested))


def doctor_checks():
    checks = [Check("torch", None, f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")]
    ok, why = cuda_device.cuda_available()
    if ok:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("cuda", True, f"CUDA {torch.version.cuda}: {names}"))
    else:  # why: no driver, no device, or a torch that sees none
        checks.append(
            Check("cuda", None, f"{why}: CPU path (stylizing runs on the CPU; use the compact models)",
                  "for GPU speed install an NVIDIA driver and a CUDA build of torch")
        )
    return checks
