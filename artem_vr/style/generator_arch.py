"""The generator's architectures as data (no torch): :class:`GeneratorArch` (what the weights'
metadata records) and the named ones, ``compact`` and ``full``. The network is
:mod:`artem_vr.style.generator_net`; the command lines (``train generator --arch``) name these
without loading torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from artem_vr.errors import UsageError, WeightsError


@dataclass(frozen=True)
class GeneratorArch:
    """The whole architecture as data (saved in the weights' metadata)."""

    channels: tuple[int, int, int] = (32, 64, 128)
    res_blocks: int = 5
    edge_kernel: int = 9  # kernel of the first and last conv

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return {"type": "transform_net", **d}

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorArch":
        if d.get("type", "transform_net") != "transform_net":
            raise WeightsError(f"architecture type {d.get('type')!r} is not a generator (transform_net)")
        return cls(channels=tuple(int(c) for c in d["channels"]), res_blocks=int(d["res_blocks"]), edge_kernel=int(d["edge_kernel"]))


#: named variants. ``compact`` is sized for real time on a CPU (see docs / bench numbers).
ARCHS: dict[str, GeneratorArch] = {
    "full": GeneratorArch((32, 64, 128), 5, 9),
    "compact": GeneratorArch((12, 24, 48), 3, 7),  # ~20 FPS at 256x256 on 2 CPU cores (eager fp32)
}


def arch_by_name(name: str) -> GeneratorArch:
    if name not in ARCHS:
        raise UsageError(f"unknown generator architecture {name!r}", f"choose one of: {', '.join(ARCHS)}")
    return ARCHS[name]
