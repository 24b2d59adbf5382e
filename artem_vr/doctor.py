"""`artem-vr doctor`: what this machine has, each with what to do when it is missing."""

from __future__ import annotations

import importlib

from artem_vr.checks import Check
from artem_vr.text import printable, say
from artem_vr.xr.monado import monado_built, monado_dir  # stdlib only: no pyopenxr


#: modules providing ``doctor_checks() -> list[Check]``; each is imported lazily and a
#: failure to import is itself reported.
PROBES = [
    "artem_vr.style.styles_cli",  # data files found, where user styles live and how many
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
    return out + tool_checks()


def tool_checks() -> list[Check]:
    """What is installed beside the package: a built headless Monado (``$ARTEM_XR_DIR``, default
    /var/cache/artem-xr) and Xvfb (a virtual display for the mirror window and screen capture)."""
    import shutil

    root = monado_dir()
    built, _why = monado_built()
    checks = [Check("Monado (headless)", None,
                    f"built at {root}: to use it, `. {root}/env.sh && {root}/install/bin/monado-service &`"
                    if built else f"not built at {root} (set ARTEM_XR_DIR if it is elsewhere; only tests and "
                                  "benchmarks need it)")]
    xvfb = shutil.which("Xvfb")
    checks.append(Check("Xvfb", None,
                        f"installed at {xvfb}: a virtual display for --output mirror and screen capture "
                        "(`xvfb-run -a artem-vr run --output mirror`)" if xvfb else
                        "not installed (only needed for a mirror window without a screen: apt-get install xvfb)"))
    return checks


def run(args) -> int:
    checks = gather()
    width = max(len(c.name) for c in checks) if checks else 10
    for c in checks:
        mark = {True: "ok  ", False: "MISS", None: "info"}[c.ok]
        say(f"[{mark}] {c.name:<{width}}  {printable(c.detail)}")  # details quote files, drivers, runtimes
        if c.ok is False and c.fix:
            say(f"       {'':<{width}}  → {printable(c.fix)}")
    return 0
