"""`artem-vr stylize IN OUT`: one image or one video file, with a progress bar (its options:
:func:`artem_vr.options.add_stylize_options`).

OUT is written atomically (:mod:`artem_vr.atomic`): it appears only once complete and verified
(every frame decodes), an OUT that is the same file as IN (or the style image) is refused
before anything is read, and an interrupted run (Ctrl-C, SIGTERM, SIGHUP) discards the partial
result and leaves OUT as it was. Inputs smaller than 16 px a side, or larger than
``--max-megapixels``, are one-line errors.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from artem_vr.app import plan_style, stylizer_factory, stylizer_options
from artem_vr.atomic import AtomicVideoWriter, InputsRead, check_can_create, refuse_inputs, write_image_atomic
from artem_vr.cuda.device import resolve_device
from artem_vr.errors import ImageError, Interrupted, UsageError, WeightsError, shown
from artem_vr.frames import MIN_SIDE, check_size, to_rgb8, to_tensor
from artem_vr.limits import DEFAULT_MAX_MEGAPIXELS, check_max_megapixels
from artem_vr.sources.imageio import VideoReaderRGB, read_image, sniff_image, sniff_video
from artem_vr.status import Progress
from artem_vr.style.catalog import style_files
from artem_vr.temporal import stabilize_for_video
from artem_vr.text import printable, say

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}


def _fit(img, max_side):
    import cv2

    h, w = img.shape[:2]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


@dataclass(frozen=True)
class StylizeConfig:
    """`artem-vr stylize`, parsed once and checked before anything is read (see :meth:`from_args`)."""

    src: Path
    dst: Path
    is_video: bool
    inputs: tuple  # files the output must never replace (the input, a style image)
    style: str | None
    method: str | None
    strength: float
    max_side: int
    temporal: bool  # stabilize a video's frames
    device: str  # resolved: cpu | cuda | cuda:N
    internal_scale: float
    stylizer_options: Mapping  # per-method options (app.stylizer_options), read-only
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS  # the decode limit of the input and the style images (--max-megapixels)

    @classmethod
    def from_args(cls, args) -> "StylizeConfig":
        """The command line's values, checked; the Namespace goes no further than this."""
        max_megapixels = check_max_megapixels(args.max_megapixels)  # first, as run does
        src, dst, is_video, inputs = _plan(args.input, args.output, args.max_side, args.style)
        if not 0.0 <= args.strength <= 1.0:
            raise UsageError(f"--strength {shown(args.strength)} is outside 0–1", "use e.g. --strength 0.7")
        return cls(src, dst, is_video, tuple(inputs), args.style, args.method, float(args.strength), int(args.max_side),
                   is_video and args.temporal == "on", resolve_device(args.device), float(args.internal_scale),
                   MappingProxyType(dict(stylizer_options(args))), max_megapixels)


def make_stylizer_for(config: StylizeConfig):
    """The stylizer ``config`` asks for (and the method and style it settled on)."""
    method, _methods, styles, style_file = plan_style(config.method, config.style)
    style = style_file or (config.style if config.style in styles else styles[0])
    s = stylizer_factory(dict(config.stylizer_options), config.internal_scale,
                         max_megapixels=config.max_megapixels, live=False)(method, style, device=config.device)
    s.strength = config.strength
    if config.temporal:
        s = stabilize_for_video(s)
    return s, method, style


def stylize_rgb(stylizer, rgb, name):
    """One RGB uint8 frame through ``stylizer`` → RGB uint8; a non-finite result is an error, not a black picture."""
    import torch

    y = stylizer.stylize(to_tensor(rgb, device=stylizer.device))
    if not bool(torch.isfinite(y).all()):
        raise WeightsError(f"the {stylizer.method} stylizer produced NaN/Inf values for {name}",
                           "its weights are broken: retrain or re-download them")
    return to_rgb8(y)


def _plan(input: str, output: str, max_side: int, style: str | None) -> tuple[Path, Path, bool, list]:
    """Check the command line before anything is read: (input, output, is_video, inputs)."""
    src, dst = Path(input), Path(output)
    if not src.exists():
        raise ImageError(f"{src} does not exist", "check the path")
    if src.is_dir():
        raise ImageError(f"{src} is a folder", "give one image or video file")
    if not 0 <= max_side <= 16384:
        raise UsageError(f"--max-side {max_side} is out of range", "use 0 (never downscale) or 16–16384, e.g. 1024")
    if 0 < max_side < MIN_SIDE:
        raise UsageError(f"--max-side {max_side} is too small", f"use at least {MIN_SIDE}, or 0 to never downscale")
    if dst.is_dir():
        raise UsageError(f"output {dst} is a folder", f"give a file name, e.g. {dst / ('stylized' + src.suffix.lower())}")
    check_can_create(dst)  # a file in the way, a folder it may not write: before the model loads (missing folders are made at the write)
    # what the command reads: the input, and the style's files (a style image, a model and the
    # files beside it, a user style's or a preset's painting and models), named or not
    inputs = [src, *style_files(style)]
    refuse_inputs(dst, inputs)
    ext_in, ext_out = src.suffix.lower(), dst.suffix.lower()
    if ext_in in VIDEO_EXT:
        is_video = True
    elif ext_in in IMAGE_EXT:  # named an image: its first bytes say whether it is one, before the model loads
        is_video = False
        with open(src, "rb") as f:
            head = f.read(16)
        if not head:
            raise ImageError(f"{src} is empty (0 bytes)", "re-copy or re-download the file")
        if sniff_image(head) is None and (container := sniff_video(head)):
            raise ImageError(f"{src} is a video ({container}) named as an image",
                             "give it a video's name (.mp4, .avi, .mkv, ...) and OUT one too, e.g. out.mp4")
        if sniff_image(head) is None:
            raise ImageError(f"{src} is not an image file (by its content: no png, jpg, bmp, webp, gif or tiff header)",
                             "give a png/jpg/bmp/webp/tiff image (a video file: give it its own name, e.g. .mp4)")
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
    return src, dst, is_video, inputs


def run(args) -> int:
    return stylize(StylizeConfig.from_args(args))


def stylize(config: StylizeConfig) -> int:
    """Stylize ``config.src`` into ``config.dst`` (an image, or a video frame by frame). The input
    is read (an image) or opened and its first frame decoded (a video) before the stylizer's model
    loads: a file that cannot be used is said at once."""
    src, dst, inputs = config.src, config.dst, InputsRead(config.inputs)  # grows with what the run reads
    before = _file_identity(dst)
    try:
        if not config.is_video:
            img = _read_image(src, inputs, config.max_megapixels)
            stylizer, method, style = make_stylizer_for(config)
            return _image(config.max_side, img, src, dst, inputs, stylizer, f"{method}: {style}")
        with VideoReaderRGB(src, inputs, max_megapixels=config.max_megapixels) as reader:
            check_size(*reader.size, src)
            stylizer, method, style = make_stylizer_for(config)
            return _video(config.max_side, reader, src, dst, inputs, stylizer, f"{method}: {style}")
    except Interrupted as e:  # said on the CLI's one "interrupted by" line
        if _file_identity(dst) != before:  # the signal came after the complete output was renamed into place
            e.outcome = f"{dst} was complete and had been written"
        else:
            e.outcome = f"the partial output was discarded, {dst} {'was not written' if before is None else 'is untouched'}"
        raise


def _file_identity(path: Path) -> tuple | None:
    """What tells one file at ``path`` from another written there later (None: no file)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_image(src: Path, inputs: InputsRead, max_megapixels: float):
    """The input image (RGB uint8), checked: decodable, under the limit, not too small."""
    img = read_image(src, inputs, max_megapixels=max_megapixels)
    check_size(img.shape[1], img.shape[0], src)
    if (n := _animated_frames(src)) > 1:  # an animated GIF/PNG/WebP: stated, never silent
        print(printable(f"note: {src} is animated ({n} frames): only its first frame is stylized; to stylize every "
                        f"frame, make it a video first (ffmpeg -i {src.name} clip.mp4) and stylize that"),
              file=sys.stderr)
    return img


def _image(max_side, img, src, dst, inputs, stylizer, what) -> int:
    fitted = _fit(img, max_side)
    _say_downscaled(img, fitted, max_side)
    out = stylize_rgb(stylizer, fitted, src)
    dst.parent.mkdir(parents=True, exist_ok=True)  # as every command's outputs: its folder made when it is written
    write_image_atomic(dst, out, inputs)
    say(printable(f"wrote {dst} ({out.shape[1]}x{out.shape[0]}, {what})"))
    return 0


def _say_downscaled(before, after, max_side: int) -> None:
    """A note on stderr when --max-side made the picture smaller (never silent about the output's size)."""
    if before.shape[:2] != after.shape[:2]:
        print(f"note: downscaled from {before.shape[1]}x{before.shape[0]} to {after.shape[1]}x{after.shape[0]} "
              f"(--max-side {max_side}; --max-side 0 keeps the size)", file=sys.stderr)


def _animated_frames(path: Path) -> int:
    """How many frames the still image file ``path`` holds (an animated GIF, APNG or WebP: more than 1)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1))
    except (OSError, ValueError, EOFError):
        return 1


def _video(max_side, reader, src, dst, inputs, stylizer, what) -> int:
    """``reader``'s frames (an open VideoReaderRGB) stylized into ``dst``; the progress on stderr (a
    bar on a terminal, else a line every few seconds: :class:`~artem_vr.status.Progress`)."""
    dst.parent.mkdir(parents=True, exist_ok=True)  # as every command's outputs: its folder made when it is written
    with AtomicVideoWriter(dst, reader.fps, inputs) as writer:
        with Progress(reader.frame_count, what.replace(": ", ":")) as progress:
            for i, rgb in enumerate(reader):
                fitted = _fit(rgb, max_side)
                if i == 0:
                    progress.clear()  # the note on a line of its own, then the bar again
                    _say_downscaled(rgb, fitted, max_side)
                writer.write(stylize_rgb(stylizer, fitted, src))
                progress.update()
        if writer.frames == 0:
            raise ImageError(f"{src}: no frame could be decoded", "is the video complete and of a supported codec?")
        final = writer.close()
    say(printable(f"wrote {final} ({writer.frames} frames, {what})"))
    return 0
