"""The one image convention's host → network step (artem_vr.frames.to_tensor): each eye copied
once — a side-by-side frame's halves are views of it, and on CUDA they go straight into
page-locked staging — and
the batch the same whatever the path; frames of one batch that differ in size are one clear error. The
frame loop's Uploader: the same batch, timed as the upload stage; on CUDA its copy runs beside the
network on a stream of its own."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from artem_vr.cuda.device import cuda_available
from artem_vr.errors import ConventionError
from artem_vr.frames import Frame, Uploader, check_rgb8, to_rgb8, to_rgb8_batch, to_tensor
from artem_vr.timing import StageClock

CUDA_OK, CUDA_WHY = cuda_available()


def _sbs(h: int = 24, w: int = 40) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _want(eyes: list[np.ndarray]) -> torch.Tensor:
    arr = np.stack([np.ascontiguousarray(e) for e in eyes]).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


def _halves(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return Frame(img, stereo="sbs").eyes()  # what the frame loop does with a side-by-side frame


def test_a_side_by_side_frames_eyes_are_views_of_it():
    img = _sbs(24, 41)  # an odd width: the last column is neither eye's
    left, right = _halves(img)
    assert np.shares_memory(left, img) and np.shares_memory(right, img)  # no copy in the frame loop
    assert np.array_equal(left, img[:, :20]) and np.array_equal(right, img[:, 20:40])


def test_strided_eyes_are_taken_as_they_are():
    left, right = _halves(_sbs())
    assert not left.flags.c_contiguous  # a strided view: copied once, into the batch
    t = to_tensor([left, right])
    assert t.shape == (2, 3, 24, 20) and t.dtype == torch.float32 and t.is_contiguous()
    assert torch.equal(t, _want([left, right]))
    assert check_rgb8(left).flags.c_contiguous  # the checker's own contract is unchanged
    assert torch.equal(to_tensor(left), _want([left]))  # one frame, not in a list


def test_any_view_and_dtype_the_same_numbers():
    """A view with a negative stride (a flipped image), a read-only array and a half-precision batch: the same
    numbers as converting a contiguous copy in float32, in the asked dtype, contiguous."""
    img = _sbs(24, 40)
    flipped = img[::-1, ::-1]
    assert min(flipped.strides) < 0
    t = to_tensor([flipped, img[:, :40]])
    assert t.is_contiguous() and torch.equal(t, _want([np.ascontiguousarray(flipped), img]))
    frozen = img.copy()
    frozen.setflags(write=False)  # as a decoded image file can be
    assert torch.equal(to_tensor(frozen), _want([img]))
    h = to_tensor(img[:, 10:30], dtype=torch.float16)
    assert h.dtype == torch.float16 and h.is_contiguous()
    assert torch.equal(h, (torch.from_numpy(np.ascontiguousarray(img[:, 10:30])).permute(2, 0, 1)[None]
                           .to(torch.float16) / 255.0))


def test_back_to_host_images_rounded_and_clamped_each_contiguous():
    """The network → host step (the readback): each image rounded to the nearest level, out-of-range
    values clamped, channel-last and C-contiguous; the input tensor is left as it is."""
    t = torch.rand(2, 3, 5, 7) * 1.4 - 0.2  # some values under 0 and over 1
    before = t.clone()
    want = (t.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    got = to_rgb8_batch(t)
    assert torch.equal(t, before) and len(got) == 2
    for i, img in enumerate(got):
        assert img.dtype == np.uint8 and img.shape == (5, 7, 3) and img.flags.c_contiguous
        assert np.array_equal(img, want[i])
    assert np.array_equal(to_rgb8(t, -1), want[1]) and np.array_equal(to_rgb8(t.half(), 0), to_rgb8_batch(t.half())[0])
    rgb = _sbs(6, 8)
    assert np.array_equal(to_rgb8(to_tensor(rgb)), rgb)  # there and back: the same image


def test_a_read_only_frame_is_read_without_a_warning():
    """torch warns, once a process, when it views a read-only array: on a command's terminal that
    is a second line after a one-line error (tests/faults). A fresh process sees the first one."""
    code = ("import numpy as np; from artem_vr.frames import to_tensor; "
            "a = np.zeros((4, 6, 3), np.uint8); a.setflags(write=False); to_tensor([a, a[:, ::-1]])")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_frames_of_one_batch_that_differ_in_size_are_one_clear_error():
    with pytest.raises(ConventionError, match="differ in size"):
        to_tensor([_sbs(24, 40), _sbs(24, 42)])
    with pytest.raises(ConventionError, match=r"uint8 \(H, W, 3\)"):
        to_tensor([_sbs().astype(np.float32)])


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")
def test_on_cuda_through_page_locked_staging_the_same_batch():
    """On CUDA the eyes go through pinned staging, asynchronously: the same numbers as the CPU
    path, frame after frame (each staging block is reused only after its copy ran)."""
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for seed in range(6):
            img = np.random.default_rng(seed).integers(0, 256, (32, 48, 3), dtype=np.uint8)
            left, right = _halves(img)
            t = to_tensor([left, right], device="cuda")
            assert t.is_cuda and torch.equal(t.cpu(), _want([left, right])), seed


def test_the_frame_loops_upload_is_to_tensor_timed_as_the_upload_stage():
    clock = StageClock()
    up = Uploader("cpu")
    assert up.stream is None  # the CPU: no streams, to_tensor as it is
    for seed in range(3):
        left, right = _halves(np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8))
        assert torch.equal(up([left, right], clock), _want([left, right]))
    assert clock.summary()["upload"]["n"] == 3


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")
def test_on_cuda_the_upload_runs_beside_the_network_and_the_network_waits_for_it():
    """The copy does not queue behind the caller's stream's work (it finishes while that stream is
    still busy), and what the caller's stream reads after it is the frame, frame after frame."""
    worker = torch.cuda.Stream()
    clock = StageClock()
    up = Uploader("cuda")
    with torch.cuda.stream(worker):
        for seed in range(5):
            left, right = _halves(np.random.default_rng(seed).integers(0, 256, (480, 1280, 3), dtype=np.uint8))
            torch.cuda._sleep(200_000_000)  # the previous frame's network: ~0.1 s of a busy stream
            x = up([left, right], clock)
            y = x * 2.0  # the network's first kernel, on the worker's stream
            up.stream.synchronize()  # the copy alone
            # the first frame allocates (page-locked and device memory, as the app's first frame
            # does), and CUDA may serialise streams across an allocation: from the second, as in the app
            assert seed == 0 or not worker.query(), "the copy waited for the worker's stream"
            worker.synchronize()
            assert torch.equal((y / 2.0).cpu(), _want([left, right])), seed
    assert clock.summary()["upload"]["n"] == 5
