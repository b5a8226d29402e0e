"""A Python PyTorch model of the ct_multilabel plugin's small 3-D ResNet (core/nn/resnet3d.cpp,
`model.variant: small`), shared by the bench scripts that probe the CT recipe:
ct_recipe_probe.py (what it learns) and ct_conv_backends.py (how fast a step is)."""
import torch
import torch.nn as nn


def norm_layer(kind, channels):
    """bn: BatchNorm (the recipe's); gn / gn2: GroupNorm with up to 8 / 2 groups; none."""
    if kind == "bn":
        return nn.BatchNorm3d(channels)
    if kind in ("gn", "gn2"):
        return nn.GroupNorm(min(8 if kind == "gn" else 2, channels), channels)
    return nn.Identity()


class Block(nn.Module):
    def __init__(self, cin, cout, stride, norm):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = norm_layer(norm, cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = norm_layer(norm, cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), norm_layer(norm, cout))

    def forward(self, x):
        y = self.n2(self.conv2(torch.relu(self.n1(self.conv1(x)))))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


class RecipeNet(nn.Module):
    """Stem 3 x 3 x 3 conv, one basic block per (width, stride), global pooling (avg, max or
    both concatenated: avgmax), a linear layer to `outputs` logits."""

    def __init__(self, in_channels, widths, strides, outputs, stem_stride=1, norm="bn", pool="max"):
        super().__init__()
        layers = [nn.Conv3d(in_channels, widths[0], 3, stem_stride, 1, bias=False), norm_layer(norm, widths[0]),
                  nn.ReLU()]
        c = widths[0]
        for w, s in zip(widths, strides):
            layers.append(Block(c, w, s, norm))
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = pool
        self.fc = nn.Linear(c * (2 if pool == "avgmax" else 1), outputs)

    def forward(self, x):
        f = self.features(x)
        if self.pool == "avg":
            p = f.mean((2, 3, 4))
        elif self.pool == "max":
            p = f.amax((2, 3, 4))
        else:
            p = torch.cat([f.mean((2, 3, 4)), f.amax((2, 3, 4))], 1)
        return self.fc(p)
