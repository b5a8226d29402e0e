"""What one training step of the CT demo recipe's model costs on this CPU, per convolution backend.

    /usr/bin/python3 bench/ct_conv_backends.py [--steps 30]

The model is resources/configs/ct_multilabel_demo.yaml's (3-channel 24 x 32 x 32 input, widths
8-16-48, one basic block per stage, strides 2-1-1, BatchNorm, global max pool, 18 outputs), a
batch of 8, AdamW, in Python PyTorch 1.13 (the same LibTorch Lumen links). Backends: oneDNN on
contiguous tensors (what Lumen does), oneDNN on channels-last-3d tensors, and ATen's own
vol2col + BLAS convolution (oneDNN off). A recipe epoch is 60 such steps plus the validation
forward passes (docs/building.md: why the CT recipe takes 2.6x longer without AVX-512).
"""
import argparse
import time

import torch
import torch.nn as nn

from bench_common import cpu_name
from ct_recipe_model import RecipeNet


# (label, channels-last-3d tensors, oneDNN on)
BACKENDS = [("oneDNN, contiguous (Lumen)", False, True), ("oneDNN, channels-last-3d", True, True),
            ("vol2col + BLAS (oneDNN off)", False, False)]


def ms_per_step(channels_last, onednn, steps):
    torch.manual_seed(0)
    model = RecipeNet(3, [8, 16, 48], [2, 1, 1], 18)
    x = torch.randn(8, 3, 24, 32, 32)
    y = torch.rand(8, 18).round()
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    with torch.backends.mkldnn.flags(enabled=onednn):
        for i in range(steps + 5):
            if i == 5:
                start = time.perf_counter()
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()
    return (time.perf_counter() - start) / steps * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    print(f"CPU: {cpu_name()}; {a.threads} threads; PyTorch {torch.__version__}; {a.steps} steps after 5 warm-up")
    print("| backend | ms / step | recipe epoch estimate (60 steps) |")
    print("|---|---:|---:|")
    for label, channels_last, onednn in BACKENDS:
        ms = ms_per_step(channels_last, onednn, a.steps)
        print(f"| {label} | {ms:.1f} | {ms * 60 / 1000:.1f} s |")


if __name__ == "__main__":
    main()
