"""What one `artem-vr doctor` probe found (a leaf: every layer's probe returns these;
:mod:`artem_vr.doctor` collects them by calling down, never the reverse)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool | None  # True: present, False: missing/broken, None: informational
    detail: str
    fix: str = ""
