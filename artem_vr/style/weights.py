"""The one place that saves and loads network weights: safetensors only, never pickles.

File layout: a safetensors file whose metadata holds ``arch`` (JSON: the architecture dict the
model factory understands) and ``meta`` (JSON: free-form facts — style, iterations, …).
``load_safetensors`` checks the file (exists, is not a pickle, is complete, fits the
architecture), fixes key prefixes left by DDP / ``torch.compile`` (``module.``,
``_orig_mod.``), loads in float32, moves to the device and sets eval + no grad.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from artem_vr.errors import WeightsError

_STRIP_PREFIXES = ("module.", "_orig_mod.")
_CONVERT_FIX = (
    "convert it once with: python -c \"import torch; from safetensors.torch import save_file; "
    "save_file({k: v.contiguous() for k, v in torch.load('IN.pt', weights_only=True).items()}, 'OUT.safetensors')\" "
    "(only for files you trust), or retrain with `artem-vr train`"
)


def _clean_key(k: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _STRIP_PREFIXES:
            if k.startswith(p):
                k, changed = k[len(p) :], True
    return k


def save_safetensors(path, model: nn.Module, arch: dict, meta: dict | None = None, fp16: bool = True) -> Path:
    """Write ``model``'s state dict to ``path`` (atomically), fp16 unless ``fp16=False``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if fp16 and v.is_floating_point():
            v = v.half()
        state[_clean_key(k)] = v.contiguous()
    metadata = {"format": "artem_vr", "arch": json.dumps(arch, sort_keys=True), "meta": json.dumps(meta or {}, sort_keys=True)}
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(state, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def read_header(path) -> tuple[dict, dict]:
    """(arch, meta) of a weights file, after the file checks; no tensors are read."""
    path = _check_file(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            md = f.metadata() or {}
    except Exception as e:
        raise WeightsError(f"{path} is not a valid safetensors file ({e})", "re-download or retrain it") from e
    try:
        return json.loads(md.get("arch", "{}")), json.loads(md.get("meta", "{}"))
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path}: unreadable metadata ({e})", "re-save it with artem_vr.style.weights.save_safetensors") from e


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist", "check the path, or train it with `artem-vr train`")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise WeightsError(f"{path} is a pickle (torch.save); artem-vr only loads safetensors", _CONVERT_FIX)
    if size < 8:
        raise WeightsError(f"{path} is truncated ({size} bytes)", "re-download or retrain it")
    n = int.from_bytes(head, "little")
    if n <= 0 or 8 + n > size:
        raise WeightsError(
            f"{path} is truncated or not safetensors (header says {n} bytes, file has {size})", "re-download or retrain it"
        )
    return path


def load_safetensors(
    path,
    model: nn.Module | Callable[[dict], nn.Module],
    expect_arch: dict | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Load ``path`` into ``model`` (a module, or a factory ``arch_dict -> module``).

    ``expect_arch``: when given, the file's architecture must match it (keys present in both
    are compared). Returns the model in eval mode, on ``device``, with ``requires_grad=False``.
    Raises :class:`WeightsError` on a missing, pickled, truncated or mismatching file.
    """
    from safetensors.torch import load_file

    arch, _meta = read_header(path)
    if expect_arch is not None:
        diff = {k: (arch.get(k), v) for k, v in expect_arch.items() if arch.get(k) != v}
        if diff:
            k, (got, want) = next(iter(diff.items()))
            raise WeightsError(f"{path} is for another architecture: {k}={got!r}, expected {want!r}", "pick the matching --arch or retrain")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise WeightsError(f"{path} cannot be read as safetensors ({e}); truncated?", "re-download or retrain it") from e
    state = {_clean_key(k): v for k, v in state.items()}
    if not isinstance(model, nn.Module):
        if not arch:
            raise WeightsError(f"{path} has no architecture metadata", "re-save it with artem_vr.style.weights.save_safetensors")
        try:
            model = model(arch)
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(f"{path}: architecture metadata {arch} not understood ({e})", "retrain with this version") from e
    own = model.state_dict()
    for k, v in own.items():
        if k not in state:
            raise WeightsError(f"{path} does not fit the model: tensor {k!r} {tuple(v.shape)} is missing", "wrong architecture? pick the matching one or retrain")
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(
                f"{path} does not fit the model: {k!r} has shape {tuple(state[k].shape)}, the model needs {tuple(v.shape)}",
                "wrong architecture? pick the matching one or retrain",
            )
    extra = sorted(set(state) - set(own))
    if extra:
        raise WeightsError(f"{path} does not fit the model: unexpected tensor {extra[0]!r} (+{len(extra) - 1} more)", "wrong architecture?")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    model.to(device=device, dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model
