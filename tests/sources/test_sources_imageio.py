"""read_image / write_image / VideoReaderRGB / VideoWriterRGB on real files, good and bad."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from artem_vr.encode import VideoWriterRGB, write_image
from artem_vr.errors import ConventionError, ImageError
from artem_vr.sources.imageio import VideoReaderRGB, decode_image, read_image, sniff_image


def _pattern(h=40, w=60) -> np.ndarray:
    """RGB uint8 with distinct red/green/blue quadrants (tells RGB from BGR)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[: h // 2, w // 2 :] = (0, 255, 0)
    img[h // 2 :, : w // 2] = (0, 0, 255)
    img[h // 2 :, w // 2 :] = (250, 200, 40)
    return img


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_write_then_read_round_trip_keeps_rgb_order(tmp_path, ext):
    src = _pattern()
    p = write_image(tmp_path / f"a{ext}", src)
    got = read_image(p)
    assert got.dtype == np.uint8 and got.shape == src.shape and got.flags.c_contiguous
    tol = 0 if ext in (".png", ".bmp", ".tiff") else 12
    # compare away from the quadrant edges (JPEG/WebP blur them)
    assert np.abs(got[5:15, 5:25].astype(int) - (255, 0, 0)).max() <= tol
    assert np.abs(got[5:15, 35:55].astype(int) - (0, 255, 0)).max() <= tol
    assert np.abs(got[25:35, 5:25].astype(int) - (0, 0, 255)).max() <= tol


def test_missing_file_says_not_found(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_directory_is_refused(tmp_path):
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)


def test_zero_size_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(p)


def test_garbage_bytes(tmp_path):
    p = tmp_path / "garbage.png"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageError, match="not an image"):
        read_image(p)


def _photo_like(h=120, w=160) -> np.ndarray:
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    return np.ascontiguousarray(img)


@pytest.mark.parametrize("ext,keep", [(".jpg", 0.5), (".jpg", 0.9), (".png", 0.5), (".png", 0.98)])
def test_truncated_jpeg_and_png_are_detected(tmp_path, ext, keep):
    full = write_image(tmp_path / f"full{ext}", _photo_like())
    data = full.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: int(len(data) * keep)])
    # OpenCV alone would hand back a partly grey image for the JPEG case
    with pytest.raises(ImageError, match="truncated"):
        read_image(cut)
    assert read_image(full).shape == (120, 160, 3)  # the complete file still reads


def test_jpeg_cut_exactly_before_end_marker(tmp_path):
    data = write_image(tmp_path / "full.jpg", _photo_like()).read_bytes()
    assert data.endswith(b"\xff\xd9")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:-2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(cut)


def test_grayscale_becomes_rgb(tmp_path):
    g = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (10, 1))
    p = tmp_path / "g.png"
    assert cv2.imwrite(str(p), g)
    got = read_image(p)
    assert got.shape == (10, 50, 3)
    assert (got[:, :, 0] == g).all() and (got[:, :, 1] == g).all() and (got[:, :, 2] == g).all()


def test_16bit_gray_and_colour_become_8bit(tmp_path):
    g16 = np.tile(np.arange(0, 65536, 4096, dtype=np.uint16), (4, 1))  # 16 values
    p = tmp_path / "g16.png"
    assert cv2.imwrite(str(p), g16)
    got = read_image(p)
    assert got.dtype == np.uint8 and got.shape == (4, 16, 3)
    assert (got[:, :, 1] == (g16 >> 8)).all()

    rgb16 = np.zeros((4, 4, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32768, 4096  # R, G, B
    p2 = tmp_path / "c16.png"
    assert cv2.imwrite(str(p2), rgb16[:, :, ::-1])  # OpenCV writes BGR
    got2 = read_image(p2)
    assert got2.dtype == np.uint8
    assert tuple(got2[0, 0]) == (255, 128, 16)


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (200, 0, 0, 255)  # opaque red
    rgba[:, 4:] = (0, 0, 200, 0)  # fully transparent blue → white
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    got = read_image(p)
    assert got.shape == (8, 8, 3)
    assert tuple(got[0, 0]) == (200, 0, 0)
    assert tuple(got[0, 7]) == (255, 255, 255)
    half = rgba.copy()
    half[:, :, 3] = 128
    Image.fromarray(half, "RGBA").save(p)
    r = read_image(p)[0, 0]
    assert abs(int(r[0]) - round(200 * 128 / 255 + 255 * 127 / 255)) <= 1 and abs(int(r[1]) - 127) <= 1


def test_palette_gif_and_exif_rotation(tmp_path):
    img = _pattern()
    Image.fromarray(img).convert("P").save(tmp_path / "p.gif")
    got = read_image(tmp_path / "p.gif")
    assert got.shape == img.shape and np.abs(got[5, 5].astype(int) - (255, 0, 0)).max() <= 8

    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    got = read_image(tmp_path / "rot.jpg")
    assert got.shape == (60, 40, 3)  # shown upright: width and height swap


def test_decode_and_sniff():
    data = cv2.imencode(".png", np.zeros((3, 4, 3), np.uint8))[1].tobytes()
    assert sniff_image(data[:16]) == "png"
    assert sniff_image(b"\x00\x00\x00\x18ftypmp42") is None
    assert decode_image(data).shape == (3, 4, 3)
    with pytest.raises(ImageError):
        decode_image(b"")


def test_write_image_refuses_bad_input(tmp_path):
    with pytest.raises(ImageError, match="extension"):
        write_image(tmp_path / "x.txt", _pattern())
    with pytest.raises(ConventionError, match="float32"):
        write_image(tmp_path / "x.png", _pattern().astype(np.float32))
    write_image(tmp_path / "deep" / "dir" / "x.png", _pattern())
    assert (tmp_path / "deep" / "dir" / "x.png").is_file()


@pytest.mark.parametrize("name,fourcc", [("v.mp4", "mp4v"), ("v.avi", "MJPG")])
def test_video_writer_and_reader_round_trip(tmp_path, name, fourcc):
    frames = [np.full((48, 64, 3), (i * 20, 255 - i * 20, 100), np.uint8) for i in range(10)]
    with VideoWriterRGB(tmp_path / name, fps=25) as w:
        for f in frames:
            w.write(f)
    assert w.fourcc == fourcc and w.frames_written == 10 and w.path.stat().st_size > 0
    with VideoReaderRGB(w.path) as r:
        assert r.size == (64, 48) and abs(r.fps - 25) < 0.5
        got = list(r)
    assert len(got) == 10
    for f, g in zip(frames, got):
        assert np.abs(g[10:38, 10:54].astype(int) - f[10:38, 10:54]).mean() < 6  # RGB order kept


def test_video_writer_rejects_size_change_and_bad_path(tmp_path):
    with VideoWriterRGB(tmp_path / "v.mp4", fps=10) as w:
        w.write(np.zeros((16, 16, 3), np.uint8))
        with pytest.raises(ImageError, match="size"):
            w.write(np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(ImageError, match="closed"):
        w.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ImageError, match="extension"):
        VideoWriterRGB(tmp_path / "v.gif")


def test_video_reader_errors(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        VideoReaderRGB(tmp_path / "none.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(ImageError, match="cannot open"):
        VideoReaderRGB(bad)


def test_jpeg_with_data_after_the_end_and_a_thumbnail_is_fine(tmp_path):
    """Phone 'motion photos' append a video after EOI; EXIF thumbnails hold their own FFD9."""
    main = write_image(tmp_path / "m.jpg", _photo_like()).read_bytes()
    thumb = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    # an APP1 segment carrying a whole JPEG (with its own SOI..EOI) before the main image
    app1 = b"\xff\xe1" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    p = tmp_path / "motion.jpg"
    p.write_bytes(main[:2] + app1 + main[2:] + b"\x00\x00\x00\x18ftypmp42" + bytes(10000))
    assert read_image(p).shape == (120, 160, 3)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(main[:2] + app1 + main[2 : len(main) // 2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(cut)


@pytest.mark.parametrize("progressive", [False, True])
def test_progressive_and_baseline_jpeg_end_detection(tmp_path, progressive):
    p = tmp_path / "p.jpg"
    Image.fromarray(_photo_like()).save(p, quality=90, progressive=progressive)
    data = p.read_bytes()
    assert read_image(p).shape == (120, 160, 3)
    p.write_bytes(data[:-2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(p)
