"""Reference for test_mvit: torchvision's mvit_v2_s built for 8 frames at 64² (so its relative
position tables are sized for that clip) with random weights and random LayerNorm affines.
Writes its state dict, an input, the eval-mode logits, the gradient of their squares' sum into
the patch embedding, and the same weights under a wrapper's "module." prefix into FOLDER.

usage: mvit_reference.py FOLDER
"""
import os
import sys

import torch
from torch import nn
from torchvision.models.video import mvit

OUT = sys.argv[1]


def save(name, obj):
    torch.save(obj, os.path.join(OUT, name))


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(13)
    # mvit_v2_s fixes 16 frames at 224²; its builder is asked for 8 at 64² (same blocks).
    build = mvit._mvit
    mvit._mvit = lambda **kw: build(**{**kw, "spatial_size": (64, 64), "temporal_size": 8})
    model = mvit.mvit_v2_s(num_classes=10)
    g = torch.Generator().manual_seed(6)
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    model.eval()
    x = torch.randn(2, 3, 8, 64, 64)
    y = model(x)
    y.square().sum().backward()
    save("mvit_v2_s.pt", model.state_dict())
    save("mvit_v2_s_io.pt", {"x": x, "out": y.detach(), "grad_conv_proj": model.conv_proj.weight.grad})
    save("mvit_wrapped.pt", {"epoch": 2, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}})
