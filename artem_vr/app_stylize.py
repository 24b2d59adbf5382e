"""`artem-vr stylize IN OUT`: one image or one video file, with a progress bar."""

from __future__ import annotations

from pathlib import Path

from artem_vr.errors import ImageError, UsageError

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".ogv"}


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
    from artem_vr.app import plan_style, resolve_device, stylizer_factory

    if not 0.0 <= args.strength <= 1.0:
        raise UsageError(f"--strength {args.strength} is outside 0–1", "use e.g. --strength 0.7")
    method, _methods, styles, style_file = plan_style(args.method, args.style)
    style = style_file or (args.style if args.style in styles else styles[0])
    s = stylizer_factory(args)(method, style, device=resolve_device(args.device))
    s.strength = args.strength
    if temporal:
        try:
            from artem_vr.temporal import stabilize_for_video

            s = stabilize_for_video(s)
        except ImportError:
            pass
    return s, method, style


def run(args) -> int:
    from tqdm import tqdm

    from artem_vr.frames import to_rgb8, to_tensor
    from artem_vr.sources.imageio import VideoWriterRGB, read_image, write_image

    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise ImageError(f"{src} does not exist", "check the path")
    ext_in, ext_out = src.suffix.lower(), dst.suffix.lower()
    is_video = ext_in in VIDEO_EXT
    if not is_video and ext_in not in IMAGE_EXT:
        is_video = _looks_like_video(src)
    if is_video and ext_out not in VIDEO_EXT:
        raise UsageError(f"{src} is a video but {dst} is not a video name", "give OUT a .mp4 or .avi name")
    if not is_video and ext_out not in IMAGE_EXT:
        raise UsageError(f"{dst}: unknown image type {ext_out or '(none)'}", "give OUT a .jpg or .png name")
    if dst.parent and not dst.parent.exists():
        raise UsageError(f"folder {dst.parent} does not exist", "create it first")

    stylizer, method, style = make_stylizer_for(args, temporal=is_video and args.temporal == "on")
    if not is_video:
        img = _fit(read_image(src), args.max_side)
        out = to_rgb8(stylizer.stylize(to_tensor(img, device=stylizer.device)))
        write_image(dst, out)
        print(f"wrote {dst} ({out.shape[1]}x{out.shape[0]}, {method}: {style})")
        return 0

    import cv2

    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise ImageError(f"cannot open video {src}", "is it a complete, supported video file (mp4/avi/mkv)?")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    n = 0
    writer = None
    try:
        with tqdm(total=total, unit="frame", desc=f"{method}:{style}") as bar:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = _fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.max_side)
                out = to_rgb8(stylizer.stylize(to_tensor(rgb, device=stylizer.device)))
                if writer is None:
                    writer = VideoWriterRGB(dst, fps, (out.shape[1], out.shape[0])).__enter__()
                writer.write(out)
                n += 1
                bar.update(1)
    finally:
        cap.release()
        if writer is not None:
            writer.__exit__(None, None, None)
    if n == 0:
        raise ImageError(f"{src}: no frame could be decoded", "is the video complete and of a supported codec?")
    print(f"wrote {getattr(writer, 'path', dst)} ({n} frames, {method}: {style})")
    return 0


def _looks_like_video(path: Path) -> bool:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) > 1
    finally:
        cap.release()
