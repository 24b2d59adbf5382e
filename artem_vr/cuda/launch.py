"""Load NVRTC-compiled kernels and launch them on torch's current CUDA stream.

Needs a CUDA driver (:func:`artem_vr.cuda.device.require_cuda` raises CudaUnavailable
otherwise). Kernels are compiled to CUBIN for the current device's architecture
(:mod:`artem_vr.cuda.nvrtc`, disk-cached) and loaded once per (file, device) through
``cuda.core``; arguments are torch tensors (passed as device pointers), None (NULL),
Python ints (int32) and floats (float32).
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from artem_vr.cuda.device import require_cuda
from artem_vr.cuda.nvrtc import compile_kernel_file, normalize_arch
from artem_vr.errors import ConventionError

_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def _device(index: int):
    from cuda.core import Device

    return Device(index)


def set_current(index: int | None = None):
    """Make the primary context of torch's current device current in this thread (cuda.core)."""
    import torch

    dev = _device(torch.cuda.current_device() if index is None else index)
    dev.set_current()
    return dev


@functools.lru_cache(maxsize=None)
def _module(file: str, device_index: int):
    from cuda.core import ObjectCode

    import torch

    major, minor = torch.cuda.get_device_capability(device_index)
    cubin = compile_kernel_file(file, normalize_arch(f"sm_{major}{minor}"), target="cubin")
    return ObjectCode.from_cubin(cubin, name=file)


def get_kernel(file: str, name: str):
    """The kernel ``name`` of ``artem_vr/cuda/<file>.cu`` on torch's current device."""
    require_cuda(f"kernel {file}:{name}")
    with _lock:
        dev = set_current()
        return _module(file, dev.device_id).get_kernel(name)


class TorchStream:
    """Adapter: torch's current CUDA stream as a cuda.core ``IsStreamType``."""

    def __init__(self, torch_stream=None):
        import torch

        self.s = torch.cuda.current_stream() if torch_stream is None else torch_stream

    def __cuda_stream__(self):
        return (0, int(self.s.cuda_stream))


def torch_stream(torch_stream=None):
    """A cuda.core Stream over torch's current (or the given) stream; no new stream is made."""
    dev = set_current()
    return dev.create_stream(TorchStream(torch_stream))


def _arg(a):
    import torch

    if a is None:
        return np.uint64(0)
    if isinstance(a, torch.Tensor):
        if not a.is_cuda:
            raise ConventionError(f"kernel argument: expected a CUDA tensor, got one on {a.device}")
        if not a.is_contiguous():
            raise ConventionError(f"kernel argument: expected a contiguous tensor, got strides {a.stride()}")
        return np.uint64(a.data_ptr())
    if isinstance(a, bool):
        return np.int32(int(a))
    if isinstance(a, int):
        return np.int32(a)
    if isinstance(a, float):
        return np.float32(a)
    if isinstance(a, (np.generic,)):
        return a
    raise ConventionError(f"kernel argument of unsupported type {type(a).__name__}")


def launch(kernel, grid, block, *args, shmem: int = 0, stream=None) -> None:
    """Launch ``kernel`` on torch's current stream (or ``stream``, a cuda.core Stream)."""
    from cuda.core import LaunchConfig
    from cuda.core import launch as cc_launch

    cfg = LaunchConfig(grid=grid, block=block, shmem_size=shmem)
    cc_launch(stream if stream is not None else torch_stream(), cfg, kernel, *[_arg(a) for a in args])
