"""Per-eye colour swapchains: format choice, size, and acquire → wait → release as ``with``.

Colour format: the runtime lists what it can composite; we take the first of
:data:`FORMAT_PREFERENCE` it offers. sRGB formats come first: our eye images are sRGB-encoded
RGB8, and an sRGB swapchain lets the compositor treat them correctly (SteamVR on Linux offers
*only* sRGB formats for GL). The renderer is told ``srgb_target=True`` for those, so the bytes
stored in the swapchain image are the sRGB values of the feed either way.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from artem_vr.errors import RuntimeUnavailable
from artem_vr.xr.handles import HandleLedger, owned

GL_SRGB8_ALPHA8 = 0x8C43
GL_SRGB8 = 0x8C41
GL_RGBA8 = 0x8058
GL_RGB10_A2 = 0x8059
GL_RGBA16F = 0x881A

#: (GL internal format, is sRGB), best first
FORMAT_PREFERENCE: tuple[tuple[int, bool], ...] = (
    (GL_SRGB8_ALPHA8, True),
    (GL_SRGB8, True),
    (GL_RGBA8, False),
    (GL_RGB10_A2, False),
    (GL_RGBA16F, False),
)


def pick_color_format(offered: list[int]) -> tuple[int, bool]:
    """The best colour format the runtime offers → (GL internal format, srgb)."""
    for fmt, srgb in FORMAT_PREFERENCE:
        if fmt in offered:
            return fmt, srgb
    raise RuntimeUnavailable(
        f"the OpenXR runtime offers no colour swapchain format we can render to ({[hex(f) for f in offered]})",
        "use a runtime offering GL_SRGB8_ALPHA8 or GL_RGBA8 swapchains")


def eye_size(recommended: tuple[int, int], maximum: tuple[int, int], scale: float) -> tuple[int, int]:
    """recommended × scale, at least 16 and at most the runtime's maximum, per side."""
    if not scale > 0:
        raise ValueError(f"swapchain scale must be > 0, got {scale}")
    return tuple(max(16, min(int(m), int(round(r * scale)))) for r, m in zip(recommended, maximum))  # type: ignore[return-value]


@dataclass
class Swapchain:
    """One eye's swapchain: handle, GL texture names of its images, size, format."""

    handle: object
    images: list[int]
    width: int
    height: int
    format: int
    srgb: bool


@contextmanager
def open_swapchain(xr, session, ledger: HandleLedger, width: int, height: int, fmt: int, srgb: bool) -> Iterator[Swapchain]:
    info = xr.SwapchainCreateInfo(
        usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT | xr.SwapchainUsageFlags.SAMPLED_BIT,
        format=fmt, sample_count=1, width=width, height=height, face_count=1, array_size=1, mip_count=1)
    with owned(ledger, "swapchain", lambda: xr.create_swapchain(session, info), xr.destroy_swapchain) as handle:
        images = [int(img.image) for img in xr.enumerate_swapchain_images(handle, xr.SwapchainImageOpenGLKHR)]
        yield Swapchain(handle, images, width, height, fmt, srgb)


@contextmanager
def acquired(xr, swapchain: Swapchain) -> Iterator[int]:
    """Acquire and wait for the next image; yield its GL texture; always release it."""
    index = xr.acquire_swapchain_image(swapchain.handle, xr.SwapchainImageAcquireInfo())
    # A failed wait leaves the image acquired but not waited (release is not allowed then);
    # the error propagates and the session teardown destroys the swapchain.
    xr.wait_swapchain_image(swapchain.handle, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
    try:
        yield swapchain.images[index]
    finally:
        xr.release_swapchain_image(swapchain.handle, xr.SwapchainImageReleaseInfo())
