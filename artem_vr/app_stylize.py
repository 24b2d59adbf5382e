"""`artem-vr stylize IN OUT`: one image or one video file, with a progress bar.

OUT is written atomically (:mod:`artem_vr.atomic`): it appears only once complete and verified
(every frame decodes), an OUT that is the same file as IN (or the style image) is refused
before anything is read, and an interrupted run (Ctrl-C, SIGTERM, SIGHUP) discards the partial
result and leaves OUT as it was. Inputs smaller than 16 px a side, or larger than
``--max-megapixels``, are one-line errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from artem_vr.errors import ImageError, UsageError
from artem_vr.frames import MIN_SIDE, check_size  # noqa: F401  (check_size: the fault tests use it from here)

if TYPE_CHECKING:
    from artem_vr.atomic import InputsRead

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}
#: the smallest side an image or frame may have to be stylized


def add_arguments(p):
    p.add_argument("input", help="an image or a video file")
    p.add_argument("output", help="where to write the result (image → image, video → .mp4/.avi)")
    p.add_argument("--style", default=None, help="a preset or user style name (artem-vr styles), any image file (adain), "
                   "or a model file path/to/NAME.safetensors from `artem-vr train`")
    p.add_argument("--method", default=None, help="generator | adain | xnor | identity (default: best with models)")
    p.add_argument("--strength", type=float, default=1.0, help="0 (input) … 1 (full style)")
    p.add_argument("--max-side", type=int, default=1024, help="downscale larger inputs to this side first (0: never)")
    p.add_argument("--temporal", choices=["on", "off"], default="on", help="temporal stabilization for videos (default on)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    from artem_vr.app import add_stylizer_options

    add_stylizer_options(p)


def _fit(img, max_side):
    import cv2

    h, w = img.shape[:2]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


def make_stylizer_for(args, temporal: bool):
    from artem_vr.app import plan_style, stylizer_factory, stylizer_options
    from artem_vr.cuda.device import resolve_device

    if not 0.0 <= args.strength <= 1.0:
        raise UsageError(f"--strength {args.strength} is outside 0–1", "use e.g. --strength 0.7")
    method, _methods, styles, style_file = plan_style(args.method, args.style)
    style = style_file or (args.style if args.style in styles else styles[0])
    s = stylizer_factory(stylizer_options(args), args.internal_scale)(method, style, device=resolve_device(args.device))
    s.strength = args.strength
    if temporal:
        try:
            from artem_vr.temporal import stabilize_for_video

            s = stabilize_for_video(s)
        except ImportError:
            pass
    return s, method, style


def stylize_rgb(stylizer, rgb, name):
    """One RGB uint8 frame through ``stylizer`` → RGB uint8; a non-finite result is an error, not a black picture."""
    import torch

    from artem_vr.errors import WeightsError
    from artem_vr.frames import to_rgb8, to_tensor

    y = stylizer.stylize(to_tensor(rgb, device=stylizer.device))
    if not bool(torch.isfinite(y).all()):
        raise WeightsError(f"the {stylizer.method} stylizer produced NaN/Inf values for {name}",
                           "its weights are broken: retrain or re-download them")
    return to_rgb8(y)


def _plan(args) -> tuple[Path, Path, bool, InputsRead]:
    """Check the command line before anything is read: (input, output, is_video, inputs)."""
    from artem_vr.atomic import InputsRead, refuse_inputs
    from artem_vr.sources.imageio import sniff_image
    from artem_vr.style.catalog import style_files

    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise ImageError(f"{src} does not exist", "check the path")
    if src.is_dir():
        raise ImageError(f"{src} is a folder", "give one image or video file")
    if not 0 <= args.max_side <= 16384:
        raise UsageError(f"--max-side {args.max_side} is out of range", "use 0 (never downscale) or 16–16384, e.g. 1024")
    if 0 < args.max_side < MIN_SIDE:
        raise UsageError(f"--max-side {args.max_side} is too small", f"use at least {MIN_SIDE}, or 0 to never downscale")
    # what the command reads: the input, and the style's files (a style image, a model and the
    # files beside it, a user style's or a preset's painting and models), named or not
    inputs = InputsRead([src, *style_files(args.style)])
    refuse_inputs(dst, inputs)
    ext_in, ext_out = src.suffix.lower(), dst.suffix.lower()
    if ext_in in VIDEO_EXT:
        is_video = True
    elif ext_in in IMAGE_EXT:
        is_video = False
    else:  # by content: a still image by its magic bytes, anything else is tried as a video
        with open(src, "rb") as f:
            is_video = sniff_image(f.read(16)) is None
        if is_video and ext_out in IMAGE_EXT:
            raise ImageError(f"{src} is not an image file (by its content)",
                             "give a png/jpg/bmp/webp/tiff image, or for a video an .mp4 OUT")
    if is_video and ext_out not in VIDEO_EXT:
        raise UsageError(f"{src} is a video but {dst} is not a video name", "give OUT a .mp4 or .avi name")
    if not is_video and ext_out not in IMAGE_EXT:
        raise UsageError(f"{dst}: unknown image type {ext_out or '(none)'}", "give OUT a .jpg or .png name")
    if dst.parent and not dst.parent.exists():
        raise UsageError(f"folder {dst.parent} does not exist", "create it first")
    return src, dst, is_video, inputs


def run(args) -> int:
    from artem_vr.errors import Interrupted

    src, dst, is_video, inputs = _plan(args)
    stylizer, method, style = make_stylizer_for(args, temporal=is_video and args.temporal == "on")
    try:
        if not is_video:
            return _image(args, src, dst, inputs, stylizer, f"{method}: {style}")
        return _video(args, src, dst, inputs, stylizer, f"{method}: {style}")
    except Interrupted as e:
        print(f"stylize: interrupted by {e.name}: the partial output was discarded, {dst} is untouched", file=sys.stderr)
        raise


def _image(args, src, dst, inputs, stylizer, what) -> int:
    from artem_vr.atomic import write_image_atomic
    from artem_vr.sources.imageio import read_image

    img = read_image(src, inputs)
    check_size(img.shape[1], img.shape[0], src)
    out = stylize_rgb(stylizer, _fit(img, args.max_side), src)
    write_image_atomic(dst, out, inputs)
    print(f"wrote {dst} ({out.shape[1]}x{out.shape[0]}, {what})")
    return 0


def _video(args, src, dst, inputs, stylizer, what) -> int:
    from tqdm import tqdm

    from artem_vr.atomic import AtomicVideoWriter
    from artem_vr.sources.imageio import VideoReaderRGB

    with VideoReaderRGB(src, inputs) as reader, AtomicVideoWriter(dst, reader.fps, inputs) as writer:
        check_size(*reader.size, src)
        with tqdm(total=reader.frame_count or None, unit="frame", desc=what.replace(": ", ":")) as bar:
            for rgb in reader:
                writer.write(stylize_rgb(stylizer, _fit(rgb, args.max_side), src))
                bar.update(1)
        if writer.frames == 0:
            raise ImageError(f"{src}: no frame could be decoded", "is the video complete and of a supported codec?")
        final = writer.close()
    print(f"wrote {final} ({writer.frames} frames, {what})")
    return 0
