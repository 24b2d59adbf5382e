"""Whether the XR tests can run here: skip with the reason, or fail under CI."""

from __future__ import annotations

import os

import pytest

from artem_vr.xr.monado import FIX_BUILD, monado_built


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_monado(inproc: bool = False) -> None:
    ok, why = monado_built(inproc)
    if not ok:
        if _under_ci():
            pytest.fail(f"CI must run the XR tests: {why}")
        pytest.skip(FIX_BUILD)
