"""GraphedForward: eager passthrough on the CPU; on CUDA the replay equals eager and re-captures per shape."""

import pytest
import torch

from artem_vr.cuda.device import cuda_available
from artem_vr.cuda.graphs import GraphedForward
from artem_vr.style.generator import ARCHS, TransformNet


def test_cpu_is_eager_passthrough():
    net = TransformNet(ARCHS["compact"]).eval()
    g = GraphedForward(net)
    x = torch.rand(1, 3, 32, 40)
    with torch.inference_mode():
        assert torch.equal(g(x), net(x))
    assert g.captures == 0


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available()[0], reason=f"needs CUDA: {cuda_available()[1]}")
@pytest.mark.parametrize("xnor", [False, True])
def test_cuda_graph_replay_equals_eager(xnor):
    net = TransformNet(ARCHS["full"])
    if xnor:
        from artem_vr.style.xnor import binarize_generator, freeze

        net = freeze(binarize_generator(net))
    net = net.cuda().eval()
    g = GraphedForward(net)
    for shape in [(2, 3, 64, 80), (2, 3, 64, 80), (1, 3, 48, 48)]:
        x = torch.rand(*shape, device="cuda")
        with torch.inference_mode():
            want = net(x)
            got = g(x).clone()
        assert torch.allclose(got, want, atol=1e-6)
    assert g.captures == 2
