"""`artem-vr doctor`: what this machine has, each with what to do when it is missing."""

from __future__ import annotations

import importlib

from artem_vr.checks import Check


#: modules providing ``doctor_checks() -> list[Check]``; each is imported lazily and a
#: failure to import is itself reported.
PROBES = [
    "artem_vr.style.catalog",  # data files found, where user styles live and how many
    "artem_vr.style.device",
    "artem_vr.cuda.nvrtc",
    "artem_vr.render.context",
    "artem_vr.render.upload",  # cuda-gl interop or host, tried on an EGL context
    "artem_vr.xr.probe",
    "artem_vr.sources.probe",
]


def gather() -> list[Check]:
    out: list[Check] = []
    for mod in PROBES:
        try:
            out.extend(importlib.import_module(mod).doctor_checks())
        except ModuleNotFoundError as e:
            out.append(Check(mod, False, f"module missing: {e}", "reinstall artem-vr (pip install -e .)"))
        except Exception as e:  # a probe must never crash doctor
            out.append(Check(mod, False, f"probe failed: {type(e).__name__}: {e}", "run with --debug for details"))
    return out


def run(args) -> int:
    checks = gather()
    width = max(len(c.name) for c in checks) if checks else 10
    for c in checks:
        mark = {True: "ok  ", False: "MISS", None: "info"}[c.ok]
        print(f"[{mark}] {c.name:<{width}}  {c.detail}")
        if c.ok is False and c.fix:
            print(f"       {'':<{width}}  → {c.fix}")
    return 0
