"""Reference for tests/explain/test_grad_cam.cpp (Debian's torch 1.13), Grad-CAM by hand.

usage: grad_cam_reference.py DIR
Writes TorchScript toy models (torch.jit.save of scripted modules) that Lumen loads, computes
Grad-CAM and Grad-CAM++ for them with autograd, and also for Lumen's own ConvNeXt export
DIR/atto_ts.pt on DIR/atto_x.npy (written by the test). Everything goes to DIR/ref.pt as a
dict of tensors, plus the faithfulness numbers of one toy image (DIR/faith_x.npy).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(3)
torch.set_num_threads(1)
d = sys.argv[1]


class Toy2d(nn.Module):
    """3 -> 6 -> 5 channels, stride-2 pooling: features (N,5,H/2,W/2); head: mean + linear."""

    def __init__(self, quadrant: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=not quadrant)
        self.conv2 = nn.Conv2d(6, 5, 3, padding=1, bias=not quadrant)
        self.fc = nn.Linear(5, 4)
        self.quadrant = quadrant
        if quadrant:  # positive weights: the class rises with any feature
            with torch.no_grad():
                self.conv1.weight.abs_()
                self.conv2.weight.abs_()
                self.fc.weight.abs_()

    @torch.jit.export
    def forward_features(self, x):
        if self.quadrant:  # the model only ever sees the top-left quadrant
            h, w = x.shape[2], x.shape[3]
            mask = torch.zeros_like(x)
            mask[:, :, : h // 2, : w // 2] = 1.0
            x = x * mask
        y = F.relu(self.conv2(F.relu(self.conv1(x))))
        return F.avg_pool2d(y, 2)

    @torch.jit.export
    def forward_head(self, f):
        return self.fc(f.mean(dim=(2, 3)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class Toy2dTuple(Toy2d):
    """forward returns (logits, features) and has no forward_head."""

    def forward(self, x):
        f = self.forward_features(x)
        return self.fc(f.mean(dim=(2, 3))), f


class Toy3d(nn.Module):
    def __init__(self, octant: bool):
        super().__init__()
        self.conv = nn.Conv3d(1, 4, 3, padding=1, bias=not octant)
        self.fc = nn.Linear(4, 3)
        self.octant = octant
        if octant:
            with torch.no_grad():
                self.conv.weight.abs_()
                self.fc.weight.abs_()

    @torch.jit.export
    def forward_features(self, x):
        if self.octant:  # only the front-top-left octant
            dd, h, w = x.shape[2], x.shape[3], x.shape[4]
            mask = torch.zeros_like(x)
            mask[:, :, : dd // 2, : h // 2, : w // 2] = 1.0
            x = x * mask
        return F.avg_pool3d(F.relu(self.conv(x)), 2)

    @torch.jit.export
    def forward_head(self, f):
        return self.fc(f.mean(dim=(2, 3, 4)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def cam(f, g, method):
    dims = tuple(range(2, f.dim()))
    if method == "hirescam":  # Draelos & Carin: the gradient kept per position
        return F.relu((g * f).sum(dim=1))
    if method == "gradcam":
        w = g.mean(dim=dims)
    else:  # pytorch-grad-cam's GradCAMPlusPlus, in torch
        g2 = g * g
        g3 = g2 * g
        s = f.sum(dim=dims, keepdim=True)
        a = g2 / (2 * g2 + s * g3 + 1e-6)
        a = torch.where(g != 0, a, torch.zeros_like(a))
        w = (F.relu(g) * a).sum(dim=dims)
    w = w.view(w.shape + (1,) * len(dims))
    return F.relu((w * f).sum(dim=1))


def reference(model, x, targets, tuple_mode=False):
    out = {}
    if tuple_mode:
        logits, f = model(x.clone().requires_grad_(True))
    else:
        f = model.forward_features(x).detach().requires_grad_(True)
        logits = model.forward_head(f)
    out["logits"] = logits.detach()
    for t in targets:
        g, = torch.autograd.grad(logits[:, t].sum(), f, retain_graph=True)
        for method in ("gradcam", "gradcam++", "hirescam"):
            out["%s_%d" % (method, t)] = cam(f.detach(), g, method)
    return out


ref = {}
models = {
    "toy2d": (torch.jit.script(Toy2d(False)), torch.randn(2, 3, 16, 12), [0, 3], False),
    "quad2d": (torch.jit.script(Toy2d(True)), torch.rand(2, 3, 32, 32), [1], False),
    "tuple2d": (torch.jit.script(Toy2dTuple(False)), torch.randn(2, 3, 16, 12), [2], True),
    "toy3d": (torch.jit.script(Toy3d(False)), torch.randn(2, 1, 8, 12, 10), [0, 2], False),
    "oct3d": (torch.jit.script(Toy3d(True)), torch.rand(2, 1, 16, 16, 16), [1], False),
}
for name, (m, x, targets, tuple_mode) in models.items():
    m.eval()
    torch.jit.save(m, os.path.join(d, name + ".pt"))
    ref[name + ".x"] = x
    for k, v in reference(m, x, targets, tuple_mode).items():
        ref[name + "." + k] = v

# Lumen's own ConvNeXt export (forward_features / forward_head), loaded in Python.
atto = torch.jit.load(os.path.join(d, "atto_ts.pt"))
ax = torch.from_numpy(np.load(os.path.join(d, "atto_x.npy")))
for k, v in reference(atto, ax, [0, 4]).items():
    ref["atto." + k] = v

# Faithfulness of the toy2d CAM on one normalised input (what generateCams does):
# bilinear upsample to the input, k = floor(0.1 n) largest (stable, ties to the lower index),
# image * (1 - mask), sigmoid of the target logit.
fx = torch.from_numpy(np.load(os.path.join(d, "faith_x.npy")))[None]
toy = models["toy2d"][0]
for method in ("gradcam", "gradcam++"):
    for t in (0, 3):
        r = reference(toy, fx, [t])
        c = r["%s_%d" % (method, t)]
        up = F.interpolate(c[:, None], size=fx.shape[2:], mode="bilinear", align_corners=False)[0, 0]
        flat = up.reshape(-1)
        k = int(0.1 * flat.numel())
        order = torch.sort(flat, descending=True, stable=True)[1]
        mask = torch.zeros_like(flat)
        mask[order[:k]] = 1
        mask = mask.view(up.shape)
        with torch.no_grad():
            prob = torch.sigmoid(toy(fx)[0, t])
            drop = torch.sigmoid(toy(fx * (1 - mask))[0, t])
        key = "faith.%s_%d" % (method, t)
        ref[key + ".cam"] = c[0]
        ref[key + ".prob"] = prob
        ref[key + ".prob_drop"] = drop

class Plain(nn.Module):
    """Nothing to split: Lumen must say what it expected."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


torch.jit.save(torch.jit.script(Plain()), os.path.join(d, "plain.pt"))
torch.save(ref, os.path.join(d, "ref.pt"))
print("ok", len(ref))
