"""The AdaIN variants as data (no torch): which VGG19 layer each encodes to, its decoder's layout,
its stride and input scale. The networks are :mod:`artem_vr.style.adain_net`; the command lines
(``train adain --variant``) name and check these without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

from artem_vr.errors import UsageError


@dataclass(frozen=True)
class Variant:
    name: str
    layer: str  # encoder output layer
    decoder: tuple  # ints: conv 3x3 + ReLU to that many channels; "U": nearest x2 upsample
    downsample: int  # total stride of the encoder
    in_scale: float  # fixed factor on the decoder input: Caffe-VGG features are O(100s)

    @property
    def arch(self) -> dict:
        """What the weights file records (and what loading checks)."""
        return {"kind": "adain-decoder", "variant": self.name, "layer": self.layer, "decoder": list(self.decoder), "in_scale": self.in_scale}

    @property
    def channels(self) -> int:
        return {"relu3_1": 256, "relu4_1": 512}[self.layer]


# in_scale ≈ 1 / (std of the layer's features on photos): the unnormalized Caffe VGG19 on 0–255
# input gives relu3_1 std ≈ 250 and relu4_1 std ≈ 800; a decoder fed O(100) inputs starts with
# enormous outputs, and training kills its ReLUs before it learns to reconstruct.
VARIANTS: dict[str, Variant] = {
    # The paper's decoder: VGG19 relu4_1 → conv1_1 mirrored.
    "full": Variant("full", "relu4_1", (256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64), 8, 1 / 800),
    # Faster: encoder stops at relu3_1 (about half the encoder FLOPs), a thinner decoder.
    "fast": Variant("fast", "relu3_1", (128, "U", 128, 64, "U", 32), 4, 1 / 256),
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UsageError(f"unknown AdaIN variant {name!r}", f"choose one of: {', '.join(VARIANTS)}")
    return VARIANTS[name]
