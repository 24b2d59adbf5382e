"""The one place that saves and loads network weights: safetensors only, never pickles.

File layout: a safetensors file whose metadata holds ``arch`` (JSON: the architecture dict the
model factory understands) and ``meta`` (JSON: free-form facts — style, iterations, …).
``load_safetensors`` checks the file (exists, is not a pickle, is complete, fits the
architecture), fixes key prefixes left by DDP / ``torch.compile`` (``module.``,
``_orig_mod.``), loads in float32, moves to the device and sets eval + no grad.

Hostile files are refused before they cost memory: a file over :data:`MAX_FILE_BYTES`;
architecture metadata outside :func:`check_arch_bounds` (integers 0–4096, short lists, shallow
nesting); a model whose metadata asks for more numbers than the file holds, or more than
:data:`MAX_PARAMS` (counted on the ``meta`` device, where building allocates nothing); and
tensors holding NaN or Inf.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from artem_vr.atomic import write_file_atomic
from artem_vr.errors import WeightsError, os_error_in

#: the largest weights file loaded (artem-vr's models are a few MB; VGG19 is 80 MB in fp16)
MAX_FILE_BYTES = 1 << 30
#: the most numbers (parameters and buffers) a model built from metadata may have
MAX_PARAMS = 200_000_000
#: bounds on architecture metadata, checked before anything is built
ARCH_MAX_INT = 4096
ARCH_MAX_LIST = 64
ARCH_MAX_DEPTH = 4
ARCH_MAX_JSON = 64 * 1024
#: tighter bounds for keys that count repeated layers or size kernels (building is then cheap)
ARCH_KEY_MAX = {"res_blocks": 64, "edge_kernel": 15}
_RETRAIN = "re-download or retrain it"

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


def safetensors_writer(model: nn.Module, arch: dict, meta: dict | None = None, fp16: bool = True) -> Callable[[Path], None]:
    """A function that writes ``model``'s state dict (fp16 unless ``fp16=False``) to the path
    it is given — for :func:`artem_vr.atomic.write_file_atomic` and :class:`~artem_vr.atomic.AtomicGroup`.
    A failed write (a full disk) raises OSError."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if fp16 and v.is_floating_point():
            v = v.half()
        state[_clean_key(k)] = v.contiguous()
    metadata = {"format": "artem_vr", "arch": json.dumps(arch, sort_keys=True), "meta": json.dumps(meta or {}, sort_keys=True)}

    def write(path: Path) -> None:
        try:
            save_file(state, str(path), metadata=metadata)
        except SafetensorError as e:  # the Rust writer's I/O errors: a full disk, a read-only folder
            found = os_error_in(e)  # its errno, when the message carries one: the typed error names the class
            raise (found if found is not None else OSError(f"safetensors could not write the file ({e})")) from None
        os.chmod(path, 0o644)

    return write


def verify_weights(path: Path, name: Path | None = None) -> None:
    """WeightsError unless ``path`` (written for ``name``) is a complete safetensors file."""
    try:
        read_header(path)
    except WeightsError as e:
        shown = str(name or path)
        raise WeightsError(f"the weights written for {shown} do not read back: {e.what.replace(str(path), shown)}",
                           "check the disk is not full and the folder is writable") from None


def save_safetensors(path, model: nn.Module, arch: dict, meta: dict | None = None, fp16: bool = True,
                     inputs=()) -> Path:
    """Write ``model``'s state dict to ``path`` (atomically: :func:`artem_vr.atomic.write_file_atomic`), fp16 unless ``fp16=False``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomic(path, safetensors_writer(model, arch, meta, fp16), lambda p: verify_weights(p, path), inputs,
                             "weights file")


def read_header(path) -> tuple[dict, dict]:
    """(arch, meta) of a weights file, after the file checks; no tensors are read."""
    path = _check_file(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            md = f.metadata() or {}
    except Exception as e:
        raise WeightsError(f"{path} is not a valid safetensors file ({e})", "re-download or retrain it") from e
    for key in ("arch", "meta"):
        if len(md.get(key, "")) > ARCH_MAX_JSON:
            raise WeightsError(f"{path}: {key} metadata is {len(md[key])} bytes, over {ARCH_MAX_JSON}", _RETRAIN)
    try:
        arch, meta = json.loads(md.get("arch", "{}")), json.loads(md.get("meta", "{}"))
    except (json.JSONDecodeError, RecursionError) as e:
        raise WeightsError(f"{path}: unreadable metadata ({e})", "re-save it with artem_vr.style.weights.save_safetensors") from None
    if not isinstance(arch, dict) or not isinstance(meta, dict):
        raise WeightsError(f"{path}: metadata is not a JSON object", "re-save it with artem_vr.style.weights.save_safetensors")
    return arch, meta


def check_arch_bounds(arch: dict, path="weights") -> None:
    """WeightsError unless every number in ``arch`` is a finite value in 0–4096 (integers; tighter
    for :data:`ARCH_KEY_MAX` keys) and its lists and nesting are short: metadata may not ask for a
    network of any size."""

    def walk(v, where: str, depth: int) -> None:
        if depth > ARCH_MAX_DEPTH:
            raise WeightsError(f"{path}: architecture metadata nests deeper than {ARCH_MAX_DEPTH} at {where}", _RETRAIN)
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return
        if isinstance(v, int):
            top = ARCH_KEY_MAX.get(where.rsplit(".", 1)[-1], ARCH_MAX_INT)
            if not 0 <= v <= top:
                raise WeightsError(f"{path}: architecture metadata {where}={v} is outside 0–{top}", _RETRAIN)
        elif isinstance(v, float):
            if not math.isfinite(v) or abs(v) > ARCH_MAX_INT:
                raise WeightsError(f"{path}: architecture metadata {where}={v} is not a sane number", _RETRAIN)
        elif isinstance(v, list):
            if len(v) > ARCH_MAX_LIST:
                raise WeightsError(f"{path}: architecture metadata {where} has {len(v)} entries, over {ARCH_MAX_LIST}", _RETRAIN)
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]", depth + 1)
        elif isinstance(v, dict):
            if len(v) > ARCH_MAX_LIST:
                raise WeightsError(f"{path}: architecture metadata {where} has {len(v)} keys, over {ARCH_MAX_LIST}", _RETRAIN)
            for k, x in v.items():
                walk(x, f"{where}.{k}" if where else str(k), depth + 1)
        else:
            raise WeightsError(f"{path}: architecture metadata {where} has a {type(v).__name__}", _RETRAIN)

    walk(arch, "", 0)


def _file_numel(path: Path) -> int:
    """How many numbers the file's tensors hold, from its header (no tensor is read)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), "pt") as f:
        for k in f.keys():
            total += math.prod(f.get_slice(k).get_shape())
    return total


def _build_bounded(factory: Callable[[dict], nn.Module], arch: dict, path: Path) -> nn.Module:
    """``factory(arch)``, after building it on the meta device (no memory) and checking its size
    against :data:`MAX_PARAMS` and the numbers the file holds (``arch`` passed :func:`check_arch_bounds`)."""
    try:
        with torch.device("meta"):
            shell = factory(arch)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{path}: architecture metadata {arch} not understood ({e})", "retrain with this version") from None
    need = sum(t.numel() for t in shell.state_dict().values())
    del shell
    have = _file_numel(path)
    if need > MAX_PARAMS:
        raise WeightsError(f"{path}: architecture metadata asks for {need:,} numbers, over the limit of {MAX_PARAMS:,}", _RETRAIN)
    if need > have:
        raise WeightsError(f"{path}: architecture metadata asks for {need:,} numbers but the file holds {have:,}",
                           "the metadata does not describe these weights: re-download or retrain it")
    try:
        return factory(arch)
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{path}: architecture metadata {arch} not understood ({e})", "retrain with this version") from None


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist", "check the path, or train it with `artem-vr train`")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise WeightsError(f"{path} is {size / 2**30:.1f} GiB, larger than any artem-vr model (limit {MAX_FILE_BYTES >> 30} GiB)",
                           "check it is the right file")
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
    path = Path(path)
    check_arch_bounds(arch, path)
    if expect_arch is not None:
        diff = {k: (arch.get(k), v) for k, v in expect_arch.items() if arch.get(k) != v}
        if diff:
            k, (got, want) = next(iter(diff.items()))
            raise WeightsError(f"{path} is for another architecture: {k}={got!r}, expected {want!r}", "pick the matching --arch or retrain")
    if not isinstance(model, nn.Module):
        if not arch:
            raise WeightsError(f"{path} has no architecture metadata", "re-save it with artem_vr.style.weights.save_safetensors")
        model = _build_bounded(model, arch, path)  # before any tensor of the file is read
    try:
        state = load_file(str(path))
    except Exception as e:
        raise WeightsError(f"{path} cannot be read as safetensors ({e}); truncated?", "re-download or retrain it") from e
    state = {_clean_key(k): v for k, v in state.items()}
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise WeightsError(f"{path}: tensor {k!r} holds {bad} NaN/Inf values", "the weights are broken: " + _RETRAIN)
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
