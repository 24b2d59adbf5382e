"""`artem-vr export`: the project's models as ONNX files, each checked against torch.

Every shipped model (``assets/models``) or a user's weights file becomes ``<name>.onnx`` (opset
:data:`OPSET`, batch, height and width dynamic) plus its model card ``<name>.md`` with an
"ONNX export" section appended (input/output, the check below):

* generators (``<preset>_<arch>``: compact, full) — ``image`` float (N, 3, H, W) RGB 0–1, any
  H, W >= 4 (padded to a multiple of 4 inside the graph, as the torch network does) →
  ``stylized`` same shape, RGB 0–1;
* XNOR generators (``<preset>_xnor_<arch>``) — the same, as their float fallback: the ±1 signs
  as float convolutions (the CPU path of :mod:`artem_vr.style.xnor`, exact in float32);
* AdaIN (``adain_<variant>``) — two files: ``adain_<v>_encoder`` (``image`` → ``features``
  (N, C, H/s, W/s), the frozen VGG19 to relu3_1 or relu4_1) and ``adain_<v>_decoder``
  (``features`` → ``image`` (N, 3, h·s, w·s), unclamped). AdaIN itself (content statistics to
  the style's) is a few lines between them: :func:`artem_vr.style.adain.adain`.

Each export is run with ONNX Runtime on random frames and real ones (the built-in sample scene,
the preset paintings) and compared with the torch output; the largest absolute difference is
printed and written into the card. Output is written to a temporary file, checked, then renamed:
a file that did not pass is never left under its final name. Nothing is written over an input.

:func:`onnx_model` (in memory, no files) is also what the ``ort`` inference engine uses
(:mod:`artem_vr.style.engine`).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.errors import ArtemError, UsageError, WeightsError

OPSET = 17
#: largest |onnx − torch| accepted by `artem-vr export` (float32 outputs in 0–1; measured ~2e-6)
DEFAULT_TOLERANCE = 1e-3


class PadToMultiple(nn.Module):
    """``net`` on inputs padded (reflection, bottom/right) to multiples of ``multiple`` and
    cropped back: any H, W >= ``multiple`` in one ONNX graph (the pad amounts are computed from
    the input's shape inside the graph; :class:`~artem_vr.style.generator.TransformNet` pads the
    same way in torch)."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net, self.multiple = net, int(multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        y = self.net(F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect"))
        return y[:, :, :h, :w]


class EncoderOutput(nn.Module):
    """:class:`~artem_vr.style.vgg.VGGFeatures` with one layer → that layer's tensor."""

    def __init__(self, encoder: nn.Module, layer: str):
        super().__init__()
        self.encoder, self.layer = encoder, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[self.layer]


class XnorAsFloat(nn.Module):
    """A frozen :class:`~artem_vr.style.xnor.BinaryConv2d` as float maths (its exact CPU path):
    the signs as a ±1 float32 buffer, then ``xnor_conv2d_float`` — what ONNX can express."""

    def __init__(self, b: nn.Module):
        super().__init__()
        from artem_vr.cuda import xnor_ref as R

        self.stride, self.padding, self.use_k = b.stride, b.padding, b.use_k
        self.register_buffer("w_sign", R.unpack_bits(b.weight_bits, b.cin).float())
        for name in ("alpha", "bias", "thresh"):
            self.register_buffer(name, getattr(b, name).detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from artem_vr.cuda import xnor_ref as R

        return R.xnor_conv2d_float(x.float(), self.w_sign, self.stride, self.padding, self.alpha, self.bias,
                                   self.thresh, self.use_k)


def exportable(net: nn.Module) -> nn.Module:
    """``net`` ready for tracing to ONNX: frozen XNOR layers become :class:`XnorAsFloat` (a
    copy is made then; other networks are returned as they are)."""
    import copy

    from artem_vr.style.xnor import BinaryConv2d

    if not any(isinstance(m, BinaryConv2d) for m in net.modules()):
        return net
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, BinaryConv2d):
                if not child.frozen:
                    raise UsageError("cannot export an XNOR network that is still training", "freeze() it first")
                setattr(parent, name, XnorAsFloat(child))
    return net


def onnx_model(net: nn.Module, example: torch.Tensor, input_name: str = "image", output_name: str = "stylized",
               fold: bool = False):
    """``net`` (one float (N, C, H, W) input, one output) as an ``onnx.ModelProto``, in memory.

    N, H and W are dynamic. ``fold=False`` keeps every parameter as its own initializer named
    after it (the ``ort`` engine swaps weights by name); ONNX Runtime folds constants itself.
    """
    import onnx

    buf = io.BytesIO()
    net = net.eval()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings on shape checks: the shapes are traced symbolically
        torch.onnx.export(net, (example,), buf, dynamo=False, opset_version=OPSET, input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: axes, output_name: axes},
                          do_constant_folding=fold)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    return model


def ort_session(model, threads: int | None = None, spin: bool = False):
    """An ONNX Runtime CPU session for ``model`` (``ModelProto``, bytes or a path), tuned as the
    ``ort`` engine measured best (docs/benchmarks.md): intra-op threads = torch's, graph
    optimisation ALL (NCHWc layout, conv+activation fusions), sequential execution, and worker
    threads that sleep between runs (``spin=False``): spinning ones take the cores from the rest
    of the pipeline (torch upscale, optical flow) on a small CPU."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else (str(model) if isinstance(model, Path) else model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------- what to export


@dataclass
class Part:
    """One ONNX file: ``module`` (float32, CPU, eval) run on ``example``-like inputs."""

    name: str  # file stem
    module: nn.Module
    input_name: str
    output_name: str
    channels: int  # input channels
    multiple: int  # H, W of checked inputs are multiples of this (features: 1)
    inputs: str  # card text
    outputs: str
    real: object = None  # callable (size) -> [(label, real (1, C, H, W) input)], or None
    binary: bool = False  # XNOR layers inside (see export_part's check)


def _real_images(size: tuple[int, int]) -> list[tuple[str, torch.Tensor]]:
    """Real frames, (label, (1, 3, H, W)): the built-in sample scene and two preset paintings,
    at ``size`` (H, W)."""
    from artem_vr.frames import to_tensor
    from artem_vr.sources.sample import SampleScene
    from artem_vr.style.adain import read_style_image
    from artem_vr.style.presets import list_presets

    h, w = size
    out = [("sample scene", to_tensor(SampleScene(width=max(w, 64), height=max(h, 36)).render(45)))]
    out += [(f"painting {p.name}", read_style_image(p.image)) for p in list_presets()[:2] if Path(p.image).is_file()]
    return [(k, F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)) for k, t in out]


def model_kind(path: Path) -> str:
    """``generator``, ``xnor`` or ``adain`` from a weights file's architecture metadata."""
    from artem_vr.style.weights import read_header

    arch, _meta = read_header(path)
    if arch.get("type") == "transform_net":
        return "generator"
    if arch.get("type") == "xnor_transform_net":
        return "xnor"
    if arch.get("kind") == "adain-decoder":
        return "adain"
    raise WeightsError(f"{path}: architecture {arch or '(none)'} is not a model this project exports",
                       "give a generator, XNOR generator or AdaIN decoder .safetensors file")


def parts_for(path: Path) -> list[Part]:
    """The ONNX parts of the model in ``path`` (a weights file with architecture metadata)."""
    from artem_vr.style.weights import load_safetensors, read_header

    kind = model_kind(path)
    stem = path.stem
    img_in = "image: float32 (N, 3, H, W) RGB 0–1; N, H, W dynamic (H, W >= 4)"
    if kind in ("generator", "xnor"):
        if kind == "generator":
            from artem_vr.style.generator import generator_from_arch

            net = load_safetensors(path, generator_from_arch)
        else:
            from artem_vr.style.xnor import load_xnor

            net = exportable(load_xnor(path))
        return [Part(stem, PadToMultiple(net, 4), "image", "stylized", 3, 1, img_in,
                     "stylized: float32 (N, 3, H, W) RGB 0–1", _real_images, binary=kind == "xnor")]
    from artem_vr.style.adain import AdaINModel

    arch, _meta = read_header(path)
    model = AdaINModel(arch["variant"])
    load_safetensors(path, model.decoder, expect_arch=model.variant.arch)
    v = model.variant
    feats = f"features: float32 (N, {v.channels}, h, w) VGG19 {v.layer} (Caffe scale)"
    return [
        Part(f"{stem}_encoder", EncoderOutput(model.encoder, v.layer).eval(), "image", "features", 3, v.downsample,
             img_in + f"; multiples of {v.downsample} give exactly H/{v.downsample} × W/{v.downsample} features",
             feats.replace("h, w", f"H/{v.downsample}, W/{v.downsample}"), _real_images),
        Part(f"{stem}_decoder", model.decoder.eval(), "features", "image", v.channels, 1, feats + "; h, w dynamic",
             f"image: float32 (N, 3, {v.downsample}h, {v.downsample}w) RGB, about 0–1 (clamp it)",
             lambda size, enc=EncoderOutput(model.encoder, v.layer): [(f"{k} features", enc(x)) for k, x in _real_images(
                 (size[0] * v.downsample, size[1] * v.downsample))]),
    ]


def _check_inputs(part: Part) -> list[tuple[str, torch.Tensor]]:
    """Random inputs at two sizes (one a batch of 2 of an odd size), then the real ones."""
    g = torch.Generator().manual_seed(0)
    image = part.channels == 3
    shapes = [(1, 256, 256), (2, 180, 332)] if image else [(1, 32, 32), (2, 23, 41)]  # features: small maps
    out = []
    for n, h, w in shapes:
        h, w = max(h // part.multiple, 1) * part.multiple, max(w // part.multiple, 1) * part.multiple
        x = torch.rand(n, part.channels, h, w, generator=g)
        out.append((f"random {n}x{h}x{w}", x if image else x * 400.0))  # features: Caffe-VGG ReLU scale
    if part.real is not None:
        size = (180, 260) if image else (24, 32)
        out += [(f"real: {k} {t.shape[-2]}x{t.shape[-1]}", t) for k, t in part.real(size)]
    return out


def compare(session, part: Part) -> list[dict]:
    """Per random and real input: ``desc``, ``max`` and ``mean`` of |onnx − torch|, ``over``
    (the fraction of outputs more than one 8-bit level, 1/255, apart) and ``scale`` = max |torch|."""
    rows = []
    for desc, x in _check_inputs(part):
        with torch.inference_mode():
            ref = part.module(x).numpy()
        got = session.run(None, {part.input_name: x.numpy()})[0]
        if got.shape != ref.shape:
            raise ArtemError(f"{part.name}: ONNX output shape {got.shape} differs from torch {ref.shape} on {desc}")
        d = np.abs(got - ref)
        row = {"desc": desc, "max": float(d.max()), "mean": float(d.mean()), "over": float((d > 1 / 255).mean()),
               "scale": float(np.abs(ref).max())}
        if part.binary:  # torch against itself on the input moved by 1e-6 (float rounding's size), 3 draws
            g = torch.Generator().manual_seed(1)
            with torch.inference_mode():
                row["self_mean"] = max(float((part.module(x + torch.randn(x.shape, generator=g) * 1e-6)
                                              - torch.from_numpy(ref)).abs().mean()) for _ in range(3))
        rows.append(row)
    return rows


def export_part(part: Part, out_dir: Path, tolerance: float, card: str | None, printer=print, inputs=()) -> dict:
    """Export, check and write one part (``out_dir/<name>.onnx`` and ``.md``, replaced together
    or not at all: :class:`artem_vr.atomic.AtomicGroup`). Returns the record."""
    import onnx

    from artem_vr.atomic import AtomicGroup

    example = torch.rand(1, part.channels, 64, 64)
    model = onnx_model(part.module, example, part.input_name, part.output_name, fold=True)
    onnx_path, md_path = out_dir / f"{part.name}.onnx", out_dir / f"{part.name}.md"
    with AtomicGroup(inputs, "ONNX export") as group:
        tmp = group.add_bytes(onnx_path, model.SerializeToString())
        onnx.checker.check_model(str(tmp))
        rows = compare(ort_session(tmp), part)  # the file on disk, not the in-memory graph
        worst = max(r["max"] for r in rows)
        for r in rows:
            printer(f"  {part.name}: {r['desc']}: max |onnx - torch| = {r['max']:.2e}, mean {r['mean']:.1e}"
                    + (f" (torch vs itself on the input + 1e-6 noise, worst of 3: mean {r['self_mean']:.1e})" if part.binary else "")
                    + f"; output scale {r['scale']:.3g}")
        # binarized layers take sign(x - t): on an input where some x - t sits within float
        # rounding of 0, torch itself changes when the input moves by 1e-6, and so may ONNX
        # Runtime; such an input passes when ONNX differs no more than torch from itself there
        bad = [r for r in rows if r["max"] / max(r["scale"], 1.0) > tolerance
               and not (part.binary and r["mean"] <= 2 * r["self_mean"])]
        rel = max(r["max"] / max(r["scale"], 1.0) for r in rows)
        if bad:
            raise ArtemError(f"{part.name}: the ONNX output differs from torch by {bad[0]['max']:.2e} on "
                             f"{bad[0]['desc']} (> {tolerance:g} of its scale)", "report it; nothing was written")
        text = (card or f"# Model card: `{part.name}`\n\n(no card was found beside the weights)\n").rstrip() + "\n\n"
        text += onnx_card_section(part, rows)
        group.add_text(md_path, text)
        group.commit()
    printer(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB, max |onnx - torch| {worst:.2e}) and {md_path}")
    return {"name": part.name, "onnx": str(onnx_path), "card": str(md_path), "max_abs_diff": worst, "relative": rel}


def onnx_card_section(part: Part, rows) -> str:
    import onnxruntime

    lines = [
        "## ONNX export",
        f"- file: `{part.name}.onnx`, opset {OPSET}, written by `artem-vr export` (torch {torch.__version__.split('+')[0]}, "
        f"checked with onnxruntime {onnxruntime.__version__} CPU)",
        f"- input `{part.inputs}`",
        f"- output `{part.outputs}`",
        "- check, ONNX Runtime vs torch float32 on the same inputs (absolute differences):",
    ]
    if part.binary:
        lines.append("- binarized layers take sign(x − t): on an input where some x − t sits within float rounding of "
                     "0, torch itself changes when the input moves by 1e-6 (last column), and so may ONNX Runtime; "
                     "such an input passes when ONNX differs no more than twice that from torch")
    lines += ["", "| input | max abs diff | mean abs diff | outputs > 1/255 apart | output max abs |"
              + (" torch vs torch(input + 1e-6 noise), worst mean of 3 |" if part.binary else ""),
              "|---|---|---|---|---|" + ("---|" if part.binary else "")]
    lines += [f"| {r['desc']} | {r['max']:.2e} | {r['mean']:.1e} | {100 * r['over']:.3f} % | {r['scale']:.3g} |"
              + (f" {r['self_mean']:.1e} |" if part.binary else "") for r in rows]
    return "\n".join(lines) + "\n"


def shipped_models() -> list[Path]:
    from artem_vr.paths import MODELS_DIR

    return sorted(MODELS_DIR.glob("*.safetensors"))


def resolve_model(spec: str) -> Path:
    """A weights file path, or the stem of a shipped model (``starry_night_full``, ``adain_fast``)."""
    from artem_vr.paths import MODELS_DIR

    p = Path(spec)
    if p.suffix == ".safetensors" or os.sep in spec or "/" in spec:
        if not p.is_file():
            raise UsageError(f"model file {spec!r} not found", "give a .safetensors file or a shipped model name")
        return p
    cand = MODELS_DIR / f"{spec}.safetensors"
    if not cand.is_file():
        names = ", ".join(q.stem for q in shipped_models())
        raise UsageError(f"no shipped model named {spec!r}", f"choose one of: {names}, or give a .safetensors file")
    return cand


# ----------------------------------------------------------------------------- command


def add_arguments(p) -> None:
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="shipped model names (e.g. starry_night_full, adain_fast) or .safetensors files; "
                        "default: every model in assets/models")
    p.add_argument("--out", default="out/onnx", help="folder for the .onnx files and their cards (default out/onnx)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest accepted |onnx - torch| relative to the output scale (default {DEFAULT_TOLERANCE:g})")


def run(args) -> int:
    paths = [resolve_model(m) for m in args.models] if args.models else shipped_models()
    if not paths:
        raise UsageError("no models to export", "give a .safetensors file, or train one (artem-vr train)")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {args.out} is not a folder", "give a folder (created if missing)")
    for p in paths:  # the card written beside the .onnx must never replace the input's own card
        if out_dir.resolve() == p.resolve().parent:
            raise UsageError(f"--out {args.out} is the folder of {p.name}: its model card would be overwritten",
                             "export to another folder, e.g. --out out/onnx")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    done = []
    from artem_vr.atomic import InputsRead

    inputs = InputsRead([*paths, *(p.with_suffix(".md") for p in paths)])  # an export never replaces what it reads
    for p in paths:
        print(f"{p.stem} ({model_kind(p)}):", flush=True)
        card_path = p.with_suffix(".md")
        card = card_path.read_text() if card_path.is_file() else None
        for part in parts_for(p):
            done.append(export_part(part, out_dir, args.tolerance, card, inputs=inputs))
    print(f"exported {len(done)} ONNX files to {out_dir}, each checked against torch (differences in each card)")
    return 0
