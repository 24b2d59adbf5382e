"""What every measurement record names: the commit, the device and the time (the bench, the
per-layer profile and the GPU check write them the same way)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

import torch


def commit_id(given: str | None = None) -> str:
    """The commit to record: given, else $ARTEM_COMMIT (the GPU machine has no .git), else git."""
    if given:
        return given
    if os.environ.get("ARTEM_COMMIT"):
        return os.environ["ARTEM_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return "unknown"
    r = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                       timeout=5)
    return r.stdout.strip() or "unknown"


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def now_utc() -> str:
    """The time a record was made (UTC, ISO 8601, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
