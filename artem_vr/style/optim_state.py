"""Adam's state saved beside a training checkpoint and read back on ``--resume``, as safetensors
(tensors per parameter index; the step counts and the caller's metadata as JSON in the header);
and a whole checkpoint — the network's float weights with that state — replaced together."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from artem_vr.atomic import AtomicGroup
from artem_vr.errors import UsageError
from artem_vr.style.weights import safetensors_writer, verify_weights

#: the optimizer state's file beside a checkpoint (``checkpoint.safetensors``) in a run folder
OPTIMIZER_FILE = "optimizer.safetensors"


def optimizer_writer(opt: torch.optim.Adam, meta: dict) -> Callable[[Path], None]:
    """A function that writes Adam's state as safetensors (tensors per parameter index; step and
    ``meta`` in the metadata) to the path it is given — for :func:`artem_vr.atomic.write_file_atomic`
    and :class:`~artem_vr.atomic.AtomicGroup`."""
    tensors, steps = {}, {}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        st = opt.state.get(p, {})
        if "exp_avg" in st:
            tensors[f"p{i}.exp_avg"] = st["exp_avg"].detach().cpu().contiguous()
            tensors[f"p{i}.exp_avg_sq"] = st["exp_avg_sq"].detach().cpu().contiguous()
            steps[i] = float(st["step"])
    metadata = {"steps": json.dumps(steps), "meta": json.dumps(meta)}

    def write(path: Path) -> None:
        save_file(tensors, str(path), metadata=metadata)
        os.chmod(path, 0o644)  # as the weights beside it (a partial file is created private)

    return write


def save_checkpoint(ckpt: Path, model: torch.nn.Module, arch: dict, weights_meta: dict, opt: torch.optim.Adam,
                    meta: dict) -> None:
    """A training checkpoint: ``model``'s float32 weights to ``ckpt`` (``arch`` and ``weights_meta``
    in its header, as :func:`~artem_vr.style.weights.save_safetensors` writes them) and Adam's state
    with ``meta`` beside it (:data:`OPTIMIZER_FILE`), replaced together or not at all: a run cut
    between the two never leaves weights of one step with the optimizer of another."""
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    with AtomicGroup(what="checkpoint") as group:
        group.add(ckpt, safetensors_writer(model, arch, weights_meta, fp16=False), lambda p: verify_weights(p, ckpt))
        group.add(ckpt.with_name(OPTIMIZER_FILE), optimizer_writer(opt, meta))
        group.commit()


def check_resumable(ckpt: Path) -> None:
    """``--resume`` of every train kind: one line, before anything is loaded, when the run folder
    has no checkpoint or no optimizer state beside it."""
    if not ckpt.is_file():
        raise UsageError(f"--resume: no checkpoint at {ckpt}", "start without --resume, or point --run-dir at the run")
    if not ckpt.with_name(OPTIMIZER_FILE).is_file():
        raise UsageError(f"--resume: the checkpoint {ckpt} has no optimizer state beside it ({OPTIMIZER_FILE})",
                         "start without --resume (the run starts afresh)")


def load_optimizer(path: Path, opt: torch.optim.Adam) -> dict:
    """Restore what :func:`optimizer_writer` wrote (in :func:`save_checkpoint`) into ``opt``; returns
    the metadata saved with it. A file without that metadata (another program's, or a run folder
    of an artem-vr before 0.1's checkpoints were one format) is one line: resuming from it would
    silently start the optimizer afresh."""
    with safe_open(str(path), "pt") as f:
        md = f.metadata() or {}
    if "steps" not in md or "meta" not in md:
        raise UsageError(f"--resume: {path} is not an optimizer state this artem-vr wrote",
                         "start without --resume (the run starts afresh), or point --run-dir at the run")
    tensors = load_file(str(path))
    steps = {int(k): v for k, v in json.loads(md.get("steps", "{}")).items()}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        if i in steps:
            opt.state[p] = {
                "step": torch.tensor(steps[i]),
                "exp_avg": tensors[f"p{i}.exp_avg"].to(p.device),
                "exp_avg_sq": tensors[f"p{i}.exp_avg_sq"].to(p.device),
            }
    return json.loads(md.get("meta", "{}"))
