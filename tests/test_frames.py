"""The one image convention's host → network step (artem_vr.frames.to_tensor): each eye copied
once — on CUDA straight into page-locked staging, a strided view (an eye cut from a bigger frame) too — and
the batch the same whatever the path; frames of one batch that differ in size are one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artem_vr.cuda.device import cuda_available
from artem_vr.errors import ConventionError
from artem_vr.frames import check_rgb8, to_tensor

CUDA_OK, CUDA_WHY = cuda_available()


def _sbs(h: int = 24, w: int = 40) -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _want(eyes: list[np.ndarray]) -> torch.Tensor:
    arr = np.stack([np.ascontiguousarray(e) for e in eyes]).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


def _halves(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = img.shape[1] // 2
    return img[:, :half], img[:, half:]  # strided views


def test_strided_eyes_are_taken_as_they_are():
    left, right = _halves(_sbs())
    assert not left.flags.c_contiguous  # a strided view: copied once, into the batch
    t = to_tensor([left, right])
    assert t.shape == (2, 3, 24, 20) and t.dtype == torch.float32 and t.is_contiguous()
    assert torch.equal(t, _want([left, right]))
    assert check_rgb8(left).flags.c_contiguous  # the checker's own contract is unchanged
    assert torch.equal(to_tensor(left), _want([left]))  # one frame, not in a list


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
