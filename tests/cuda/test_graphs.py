"""The frame capturers: a replay is the function's result on the new input, and what a CUDA graph
bakes in (Python numbers, tensors read from outside) the traced replay bakes in alike; on CUDA the
XNOR network's NVRTC kernels are captured like torch's own ops."""

import pytest
import torch

from artem_vr.cuda.device import cuda_available
from artem_vr.cuda.graphs import CudaGraphCapture, TracedCapture
from artem_vr.style.generator import ARCHS, TransformNet


def test_traced_replay_runs_the_ops_not_the_python():
    net = TransformNet(ARCHS["compact"]).eval()
    state = {"calls": 0}
    scale = torch.ones(1)  # read from outside, updated in place between frames

    def fn(x):
        state["calls"] += 1
        return net(x) * scale + state["calls"]  # a Python number: baked in at the capture

    x0, x1 = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 40)
    with torch.inference_mode():
        replay, y0 = TracedCapture().capture(fn, x0)
        assert torch.allclose(y0, net(x0) + 1)
        scale.fill_(2.0)
        assert torch.allclose(replay(x1), net(x1) * 2 + 1)  # the new input and the buffer's new value; calls stays 1
    assert state["calls"] == 1


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available()[0], reason=f"needs CUDA: {cuda_available()[1]}")
@pytest.mark.parametrize("xnor", [False, True])
def test_cuda_graph_replay_equals_eager(xnor):
    net = TransformNet(ARCHS["full"])
    if xnor:
        from artem_vr.style.xnor import binarize_generator, freeze

        net = freeze(binarize_generator(net))
    net = net.cuda().eval()
    capture = CudaGraphCapture()
    with torch.inference_mode():
        for _ in range(2):  # as the frame graph does: frames as they are before the capture (cuDNN's choice)
            net(torch.rand(2, 3, 64, 80, device="cuda"))
        x = torch.rand(2, 3, 64, 80, device="cuda")
        replay, y = capture.capture(net, x)
        assert torch.allclose(y, net(x), atol=1e-6)
        x2 = torch.rand(2, 3, 64, 80, device="cuda")
        got = replay(x2)
        replay(x)  # a copy was returned: the next replay does not overwrite it
        assert torch.allclose(got, net(x2), atol=1e-6)
