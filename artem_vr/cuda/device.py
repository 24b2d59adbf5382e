"""Is there a CUDA driver and device? Asked once, answered without ever crashing.

Two views of "CUDA": torch's (``torch.cuda.is_available()``: its own runtime sees a device)
and the driver API's (``cuInit`` through cuda-python, which the NVRTC kernels and the GL
interop need). The kernels run on torch tensors, so both must agree before a GPU path is
taken; :func:`cuda_available` checks both and says which one failed.
"""

from __future__ import annotations

import functools

from artem_vr.errors import CudaUnavailable, UsageError


#: the reason when libcuda (the NVIDIA driver's library) cannot be loaded at all
NO_DRIVER = "no CUDA driver (no NVIDIA driver found)"


@functools.lru_cache(maxsize=1)
def driver_status() -> tuple[bool, str]:
    """(True, "driver 13.0, 1 device(s)") or (False, why) from the CUDA driver API (cuInit)."""
    try:
        from cuda.bindings import driver
    except Exception as e:  # cuda-python not installed or broken
        return False, f"cuda-python not importable ({type(e).__name__}: {e})"
    try:
        (err,) = driver.cuInit(0)
    except Exception as e:  # libcuda.so missing: cuda.pathfinder raises DynamicLibNotFoundError
        if type(e).__name__ == "DynamicLibNotFoundError" or isinstance(e, OSError):  # its text: a paragraph on search paths
            return False, NO_DRIVER
        msg = str(e).splitlines()[0] if str(e) else ""
        return False, f"no CUDA driver (cuInit failed: {type(e).__name__}: {msg})"
    if err != driver.CUresult.CUDA_SUCCESS:
        return False, f"no CUDA device (cuInit returned {err.name})"
    err, count = driver.cuDeviceGetCount()
    if err != driver.CUresult.CUDA_SUCCESS or count == 0:
        return False, f"CUDA driver present but no device (cuDeviceGetCount: {getattr(err, 'name', err)}, {count})"
    err, ver = driver.cuDriverGetVersion()
    return True, f"driver {ver // 1000}.{(ver % 1000) // 10}, {count} device(s)"


@functools.lru_cache(maxsize=1)
def cuda_available() -> tuple[bool, str]:
    """(ok, reason): True only when both the driver API and torch see a CUDA device.

    Never raises: a machine without libcuda.so answers ``(False, "no CUDA driver (...)")``.
    """
    ok, why = driver_status()
    if not ok:
        return False, why
    try:
        import torch

        if not torch.cuda.is_available():
            return False, f"{why}, but torch {torch.__version__} sees no CUDA device (a CPU-only torch build?)"
        name = torch.cuda.get_device_name(0)
    except Exception as e:
        return False, f"{why}, but torch.cuda failed ({type(e).__name__}: {e})"
    return True, f"{name}; {why}"


def require_cuda(what: str) -> None:
    """Raise :class:`CudaUnavailable` (with the reason) unless CUDA is usable."""
    ok, why = cuda_available()
    if not ok:
        raise CudaUnavailable(f"{what} needs CUDA: {why}", "use the CPU path (--device cpu) or install the NVIDIA driver")


def current_arch(device_index: int | None = None) -> str:
    """``"sm_90"`` for the current (or given) torch CUDA device. Needs CUDA."""
    require_cuda("asking the GPU architecture")
    import torch

    idx = torch.cuda.current_device() if device_index is None else device_index
    major, minor = torch.cuda.get_device_capability(idx)
    return f"sm_{major}{minor}"


DEVICE_HELP = "auto (CUDA when a driver and device answer, else the CPU) | cpu | cuda | cuda:N"


def resolve_device(text: str | None = "auto") -> str:
    """The one device resolver of every command: ``--device`` text → ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    ``auto`` (or None) → ``cuda`` when :func:`cuda_available` (driver and torch both see a
    device), else ``cpu``. ``cuda``/``cuda:N`` without CUDA → :class:`CudaUnavailable` with the
    reason; ``cuda:N`` past the last device, or anything else → :class:`UsageError`.
    """
    req = (text or "auto").strip().lower()
    if req == "auto":
        return "cuda" if cuda_available()[0] else "cpu"
    if req == "cpu":
        return "cpu"
    kind, _, index = req.partition(":")
    if kind != "cuda" or (index and not (index.isascii() and index.isdigit())):
        raise UsageError(f"unknown device {text!r}", "use auto, cpu, cuda or cuda:N")
    ok, why = cuda_available()
    if not ok:
        raise CudaUnavailable(f"--device {text}: {why}", "use --device cpu (or auto) on this machine")
    if index:
        import torch  # torch only once CUDA is there to count devices on

        count = torch.cuda.device_count()
        if int(index) >= count:
            raise UsageError(f"no CUDA device {index} (found {count})", "use cuda:0 … or auto")
    return req
