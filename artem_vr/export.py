"""`artem-vr export`: the project's models as ONNX files, each checked against torch.

Every shipped model (``assets/models``) or a user's weights file becomes ``<name>.onnx`` (opset
:data:`OPSET`, batch, height and width dynamic) plus its model card ``<name>.md`` with an
"ONNX export" section appended (input/output, the check below):

* generators (``<preset>_<arch>``: compact, full) — ``image`` float (N, 3, H, W) RGB 0–1, any
  H, W >= 5 (padded to a multiple of 4 inside the graph, as the torch network does; the first
  layer's 4 px reflection padding needs more than 4) →
  ``stylized`` same shape, RGB 0–1;
* XNOR generators (``<preset>_xnor_<arch>``) — the same, as their float fallback: the ±1 signs
  as float convolutions (the CPU path of :mod:`artem_vr.style.xnor`, exact in float32);
* AdaIN (``adain_<variant>``) — two files: ``adain_<v>_encoder`` (``image`` → ``features``
  (N, C, H/s, W/s), the frozen VGG19 to relu3_1 or relu4_1) and ``adain_<v>_decoder``
  (``features`` → ``image`` (N, 3, h·s, w·s), unclamped). AdaIN itself (content statistics to
  the style's) is a few lines between them: :func:`artem_vr.style.adain.adain`. The encoder takes
  H, W >= its downsampling (4 fast, 8 full), the decoder h, w >= 2 (reflection padding of 1).

Each export is run with ONNX Runtime on random frames and real ones (the built-in sample scene,
the preset paintings) and compared with the torch output; the largest absolute difference is
printed and written into the card. Output is written to a temporary file, checked, then renamed:
a file that did not pass is never left under its final name. Nothing is written over an input.

:func:`onnx_model` (in memory, no files) is also what the ``ort`` inference engine uses
(:mod:`artem_vr.style.engine`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from artem_vr.atomic import AtomicGroup, InputsRead
from artem_vr.errors import ArtemError, UsageError, WeightsError
from artem_vr.frames import to_tensor
from artem_vr.options import DEFAULT_TOLERANCE
from artem_vr.paths import MODELS_DIR
from artem_vr.style.generator_net import generator_from_arch
from artem_vr.style.onnx import OPSET, EncoderOutput, PadToMultiple, exportable, onnx_model, ort_session  # noqa: F401 (OPSET: re-exported)
from artem_vr.style.presets import list_presets
from artem_vr.style.weights import load_safetensors, read_header
from artem_vr.style.xnor import load_xnor
from artem_vr.text import did_you_mean, say

#: the smallest H, W a generator's graph takes: padded to a multiple of 4, then the first layer's
#: 4 px reflection padding needs more than 4 (measured by tests/faults/test_fault_messages.py)
GENERATOR_MIN_SIDE = 5


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
    from artem_vr.sources.sample import SampleScene  # lazy: OpenCV only when this runs
    from artem_vr.style.adain import read_style_image  # lazy: OpenCV only when this runs
    h, w = size
    out = [("sample scene", to_tensor(SampleScene(width=max(w, 64), height=max(h, 36)).render(45)))]
    out += [(f"painting {p.name}", read_style_image(p.image)) for p in list_presets()[:2] if Path(p.image).is_file()]
    return [(k, F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)) for k, t in out]


def model_kind(path: Path) -> str:
    """``generator``, ``xnor`` or ``adain`` from a weights file's architecture metadata."""
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
    kind = model_kind(path)
    stem = path.stem
    img_in = "image: float32 (N, 3, H, W) RGB 0–1; N, H, W dynamic (H, W >= {})"
    if kind in ("generator", "xnor"):
        if kind == "generator":
            net = load_safetensors(path, generator_from_arch)
        else:
            net = exportable(load_xnor(path))
        return [Part(stem, PadToMultiple(net, 4), "image", "stylized", 3, 1, img_in.format(GENERATOR_MIN_SIDE),
                     "stylized: float32 (N, 3, H, W) RGB 0–1", _real_images, binary=kind == "xnor")]
    from artem_vr.style.adain import AdaINModel  # lazy: OpenCV only when this runs

    arch, _meta = read_header(path)
    model = AdaINModel(arch["variant"])
    load_safetensors(path, model.decoder, expect_arch=model.variant.arch)
    v = model.variant
    feats = f"features: float32 (N, {v.channels}, h, w) VGG19 {v.layer} (Caffe scale)"
    return [
        Part(f"{stem}_encoder", EncoderOutput(model.encoder, v.layer).eval(), "image", "features", 3, v.downsample,
             img_in.format(v.downsample) + f"; multiples of {v.downsample} give exactly H/{v.downsample} × W/{v.downsample} features",
             feats.replace("h, w", f"H/{v.downsample}, W/{v.downsample}"), _real_images),
        Part(f"{stem}_decoder", model.decoder.eval(), "features", "image", v.channels, 1, feats + "; h, w dynamic (>= 2)",
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
    return sorted(MODELS_DIR.glob("*.safetensors"))


def resolve_model(spec: str) -> Path:
    """A weights file path, or the stem of a shipped model (``starry_night_full``, ``adain_fast``)."""
    p = Path(spec)
    if p.suffix == ".safetensors" or os.sep in spec or "/" in spec:
        if not p.is_file():
            raise UsageError(f"model file {spec!r} not found", "give a .safetensors file or a shipped model name")
        return p
    cand = MODELS_DIR / f"{spec}.safetensors"
    if not cand.is_file():
        names = [q.stem for q in shipped_models()]
        raise UsageError(f"no shipped model named {spec!r}{did_you_mean(spec, names)}",
                         f"choose one of: {', '.join(names)}, or give a .safetensors file")
    return cand


# ----------------------------------------------------------------------------- command
# (its options: artem_vr.options.add_export_options)


@dataclass(frozen=True)
class ExportConfig:
    """`artem-vr export`, parsed once and checked: the weights files, the output folder, the tolerance."""

    models: tuple[Path, ...]
    out_dir: Path
    tolerance: float = DEFAULT_TOLERANCE
    force: bool = False  # replace .onnx files and cards already in out_dir

    def __post_init__(self):
        if not self.models:
            raise UsageError("no models to export", "give a .safetensors file, or train one (artem-vr train)")
        if not self.tolerance > 0:
            raise UsageError(f"--tolerance {self.tolerance} must be above 0", f"e.g. --tolerance {DEFAULT_TOLERANCE:g}")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UsageError(f"--out {self.out_dir} is not a folder", "give a folder (created if missing)")
        for p in self.models:  # the card written beside the .onnx must never replace the input's own card
            if self.out_dir.resolve() == p.resolve().parent:
                raise UsageError(f"--out {self.out_dir} is the folder of {p.name}: its model card would be overwritten",
                                 "export to another folder, e.g. --out out/onnx")

    @classmethod
    def from_args(cls, args) -> "ExportConfig":
        """The command line's values (names resolved to files here); the Namespace goes no further."""
        models = tuple(resolve_model(m) for m in args.models) if args.models else tuple(shipped_models())
        return cls(models, Path(args.out), float(args.tolerance), bool(args.force))


def run(args) -> int:
    return export(ExportConfig.from_args(args))


def export(config: ExportConfig) -> int:
    """Export every model of ``config`` (each part checked against torch) with its card."""
    out_dir = config.out_dir
    if not config.force:
        for p in config.models:
            names = [f"{p.stem}_encoder", f"{p.stem}_decoder"] if model_kind(p) == "adain" else [p.stem]
            for target in (out_dir / f"{n}{ext}" for n in names for ext in (".onnx", ".md")):
                if target.exists():
                    raise UsageError(f"{target} already exists", "pass --force to replace it, or choose another --out folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    inputs = InputsRead([*config.models, *(p.with_suffix(".md") for p in config.models)])  # never replaced by the export
    with torch.no_grad():  # for this export only: the process's grad mode is not ours to change
        for p in config.models:
            say(f"{p.stem} ({model_kind(p)}):", flush=True)
            card_path = p.with_suffix(".md")
            card = card_path.read_text() if card_path.is_file() else None
            for part in parts_for(p):
                done.append(export_part(part, out_dir, config.tolerance, card, printer=say, inputs=inputs))
    say(f"exported {len(done)} ONNX file{'' if len(done) == 1 else 's'} to {out_dir}, each checked against torch "
        "(differences in each card)")
    return 0
