"""The constants of the torch comfort path (pixel grids, box border counts) are held by the wrapper
that uses them (:class:`artem_vr.temporal.devflow.PixelGrids`): two wrappers never share or
alter each other's, each table is bounded, and the module keeps none of its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from temporal_helpers import NetStylizer, texture

from artem_vr.cuda.device import cuda_available
from artem_vr.frames import to_tensor
from artem_vr.temporal import StereoConsistentStylizer, TemporalStabilizer, devflow
from artem_vr.temporal.devflow import PixelGrids

CUDA_OK, CUDA_WHY = cuda_available()


def _tables(grids: PixelGrids) -> dict:
    """What a PixelGrids holds: each entry's key → the identity of its tensors/arrays."""
    out = {}
    for name in ("_torch", "_host", "_counts"):
        for key, v in getattr(grids, name).items():
            out[(name, key)] = tuple(id(t) for t in (v if isinstance(v, tuple) else (v,)))
    return out


def test_two_stabilizers_keep_their_own_constants():
    net = NetStylizer()
    a, b = TemporalStabilizer(net, backend="torch"), TemporalStabilizer(net, backend="torch")
    assert a._grids is not b._grids
    small, large = texture(64, 96, seed=1), texture(80, 144, seed=2)
    for _ in range(2):
        a.stylize(to_tensor(small))
    held = _tables(a._grids)
    assert held and a._grids.held() == len(held)
    for _ in range(3):
        b.stylize(to_tensor(large))
    assert _tables(a._grids) == held  # b's frames neither added to a's constants nor replaced them
    assert not set(_tables(b._grids)) & set(held)  # b made its own (other sizes)
    a.stylize(to_tensor(small))
    assert _tables(a._grids) == held  # a frame of a size seen before costs no allocation


def test_stereo_wrapper_keeps_its_own_constants_and_reuses_them():
    net = NetStylizer()
    img = texture(64, 96, seed=3)
    pair = torch.cat([to_tensor(img), to_tensor(np.ascontiguousarray(np.roll(img, -4, axis=1)))])
    s1 = StereoConsistentStylizer(net, mode="warp", disp_width=96, backend="torch")
    s2 = StereoConsistentStylizer(net, mode="warp", disp_width=96, backend="torch")
    s1.stylize(pair)
    held = _tables(s1._grids)
    assert held
    s1.stylize(pair)
    assert _tables(s1._grids) == held  # the second pair reuses every constant
    s2.stylize(pair)
    assert s2._grids is not s1._grids and _tables(s1._grids) == held
    # the same constants in another owner: equal values, other tensors
    assert set(_tables(s2._grids)) == set(held)
    assert not {v for v in _tables(s2._grids).values()} & {v for v in held.values()}


def test_each_table_is_bounded_and_right():
    g = PixelGrids(keep=4)
    for i in range(20):
        h, w = 5 + i, 7 + 2 * i
        xs, ys = g.torch_grid(h, w, "cpu", torch.float32)
        assert xs.shape == (h, w) and xs[0, w - 1] == w - 1 and ys[h - 1, 0] == h - 1
        hx, hy = g.host_grid(h, w)
        assert hx.dtype == np.float32 and hx[0, w - 1] == w - 1 and hy[h - 1, 0] == h - 1
        counts = g.box_counts(h, w, 3, 5, "cpu")
        ref = F.avg_pool2d(torch.ones(1, 1, h, w), (3, 5), stride=1, padding=(1, 2), count_include_pad=False,
                           divisor_override=1)
        assert torch.equal(counts, ref)
        assert len(g._torch) <= 4 and len(g._host) <= 4 and len(g._counts) <= 4
    assert g.held() <= 12


def test_a_running_stabilizer_stays_bounded():
    net = NetStylizer()
    stab = TemporalStabilizer(net, backend="torch")
    for i in range(12):  # a new frame size every two frames
        x = to_tensor(texture(48 + 8 * (i // 2), 64 + 8 * (i // 2), seed=i))
        stab.stylize(x)
        assert len(stab._grids._torch) <= stab._grids.keep and len(stab._grids._counts) <= stab._grids.keep


def test_the_same_results_with_or_without_an_owner():
    torch.manual_seed(0)
    a, b = torch.rand(1, 1, 40, 56), torch.rand(1, 1, 40, 56)
    g = PixelGrids()
    assert torch.equal(devflow.pyramid_flow(a, b), devflow.pyramid_flow(a, b, grids=g))
    assert torch.equal(devflow.pyramid_flow(a, b), devflow.pyramid_flow(a, b, grids=g))  # from the cache
    d1, v1 = devflow.right_disparity(a, b)
    d2, v2 = devflow.right_disparity(a, b, grids=g)
    assert torch.equal(d1, d2) and torch.equal(v1, v2)


def test_the_module_keeps_no_cache():
    held = [n for n, v in vars(devflow).items() if not n.startswith("__") and isinstance(v, (dict, list, set))]
    assert held == []


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_OK, reason=f"needs CUDA: {CUDA_WHY}")
def test_on_cuda_each_stream_gets_its_own_constants():
    """A constant belongs to the CUDA stream it was made on: the same size on another stream is
    another entry (no kernel on one stream races the one filling it on another)."""
    g = PixelGrids()
    on_default = g.torch_grid(8, 12, "cuda", torch.float32)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        on_side = g.torch_grid(8, 12, "cuda", torch.float32)
        counts = g.box_counts(8, 12, 3, 3, "cuda")
    torch.cuda.synchronize()
    assert on_side[0] is not on_default[0] and torch.equal(on_side[0], on_default[0])
    assert g.torch_grid(8, 12, "cuda", torch.float32)[0] is on_default[0]
    assert counts.is_cuda and len(g._torch) == 2 and len(g._counts) == 1
