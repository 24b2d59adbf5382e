"""A short training burst of the generator on the GPU: iterations per second with AMP.

Needs no data set and no VGG weights (neither travels to the GPU machine): random 256 px
crops and a randomly initialised VGG19 to relu4_1 give the same arithmetic as real training
(Johnson perceptual loss: content at relu3_1, Gram style loss at relu1_1..relu4_1).
Prints one JSON object and writes it to --json.

    python3 tools/gpu_train_burst.py --iters 200 --size 256 --batch 8 --json $OUT/train_burst.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--arch", default="full")
    p.add_argument("--amp", choices=("bf16", "fp16", "off"), default="bf16")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()

    from artem_vr.style.generator import ARCHS, TransformNet
    from artem_vr.style.vgg import VGGFeatures

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    vgg = VGGFeatures(layers, weights="random").to(dev)
    net = TransformNet(ARCHS[a.arch]).to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.amp)
    use_amp = amp is not None and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp == torch.float16)
    style = torch.rand(1, 3, a.size, a.size, device=dev)
    with torch.no_grad():
        targets = {k: gram(v) for k, v in vgg(style, layers).items()}
    losses = []

    def step():
        x = torch.rand(a.batch, 3, a.size, a.size, device=dev)
        with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=use_amp):
            y = net(x)
            fy, fx = vgg(y, layers), vgg(x, ("relu3_1",))
            loss = torch.nn.functional.mse_loss(fy["relu3_1"].float(), fx["relu3_1"].float())
            for k in layers:
                loss = loss + 1e4 * torch.nn.functional.mse_loss(gram(fy[k]), targets[k].expand(a.batch, -1, -1))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    for _ in range(5):  # warm-up (cudnn autotune)
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(a.iters):
        loss = step()
        if i % 50 == 0:
            losses.append(float(loss.detach()))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    rec = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "arch": a.arch, "size": a.size, "batch": a.batch, "amp": a.amp if use_amp else "off", "iters": a.iters,
        "seconds": round(dt, 3), "iters_per_s": round(a.iters / dt, 2), "images_per_s": round(a.iters * a.batch / dt, 1),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2) if dev.type == "cuda" else None,
        "loss_samples": losses,
    }
    print(json.dumps(rec))
    if a.json:
        a.json.write_text(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
