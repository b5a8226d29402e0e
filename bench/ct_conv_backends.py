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


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.down = None
        if cin != cout or stride != 1:
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


class RecipeModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm3d(8))
        self.layers = nn.Sequential(Block(8, 8, 2), Block(8, 16, 1), Block(16, 48, 1))
        self.fc = nn.Linear(48, 18)

    def forward(self, x):
        return self.fc(torch.amax(self.layers(torch.relu(self.stem(x))), dim=(2, 3, 4)))


def ms_per_step(backend, steps):
    torch.manual_seed(0)
    model = RecipeModel()
    x = torch.randn(8, 3, 24, 32, 32)
    y = torch.rand(8, 18).round()
    if backend == "onednn, channels-last-3d":
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    with torch.backends.mkldnn.flags(enabled=backend != "vol2col + BLAS (oneDNN off)"):
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
    for backend in ["onednn, contiguous (Lumen)", "onednn, channels-last-3d", "vol2col + BLAS (oneDNN off)"]:
        ms = ms_per_step(backend, a.steps)
        print(f"| {backend} | {ms:.1f} | {ms * 60 / 1000:.1f} s |")


if __name__ == "__main__":
    main()
