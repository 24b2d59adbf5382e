"""Adam's state saved beside a training checkpoint and read back on ``--resume``, as safetensors
(tensors per parameter index; the step counts and the caller's metadata as JSON in the header)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from artem_vr.atomic import write_file_atomic


def save_optimizer(path: Path, opt: torch.optim.Adam, meta: dict) -> None:
    """Adam state as safetensors (tensors per parameter index; step in the metadata)."""
    tensors, steps = {}, {}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        st = opt.state.get(p, {})
        if "exp_avg" in st:
            tensors[f"p{i}.exp_avg"] = st["exp_avg"].detach().cpu().contiguous()
            tensors[f"p{i}.exp_avg_sq"] = st["exp_avg_sq"].detach().cpu().contiguous()
            steps[i] = float(st["step"])
    write_file_atomic(path, lambda p: save_file(tensors, str(p), metadata={"steps": json.dumps(steps), "meta": json.dumps(meta)}),
                      what="optimizer checkpoint")


def load_optimizer(path: Path, opt: torch.optim.Adam) -> dict:
    """Restore what :func:`save_optimizer` wrote into ``opt``; returns the metadata saved with it."""
    with safe_open(str(path), "pt") as f:
        md = f.metadata() or {}
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
