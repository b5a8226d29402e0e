"""Reference for tests/explain/test_layer_cam.cpp (Debian's torch 1.13 + torchvision).

usage: layer_cam_reference.py DIR
Builds torchvision models with random weights, saves them scripted (torch.jit.script, the way a
user brings a model: no forward_features, no convention) as DIR/<name>.pt, and computes
Grad-CAM, Grad-CAM++ and HiResCAM of a named inner layer as pytorch-grad-cam defines them, with
a forward hook on that layer of the eager model the script was made from (same weights):

  Grad-CAM   w_c = mean over space of dS/dA_c;                 CAM = ReLU(sum_c w_c A_c)
  Grad-CAM++ a = g^2 / (2 g^2 + sum_space(A) g^3 + eps), 0 where g = 0 (eps = 1e-7 in
             pytorch-grad-cam, 1e-6 in Lumen: both far below g^2 here);
             w_c = sum over space of a relu(g);                CAM = ReLU(sum_c w_c A_c)
  HiResCAM   CAM = ReLU(sum_c g_c A_c)                          (elementwise)

with S the sum over the batch of one output's logit, and for transformer tokens (N, L, D) the
reshape_transform of pytorch-grad-cam's ViT example (drop the class token, (N, s, s, D) ->
(N, D, s, s)) — on the last block's first LayerNorm, the layer its README uses for ViTs: at a
block's output only the class token reaches the head, so the grid's gradients are zero. Everything goes to DIR/layer_ref.pt as a dict of tensors.
"""
import os
import sys

import torch
import torch.nn.functional as F  # noqa: F401  (kept for interactive checks)
import torchvision.models as tvm
from torchvision.models.vision_transformer import VisionTransformer

torch.manual_seed(5)
torch.set_num_threads(1)
d = sys.argv[1]
ref = {}


def cam_methods(a, g):
    dims = tuple(range(2, a.dim()))
    out = {}
    w = g.mean(dim=dims)
    shape = w.shape + (1,) * len(dims)
    out["gradcam"] = torch.relu((w.view(shape) * a).sum(1))
    g2 = g * g
    g3 = g2 * g
    sum_a = a.sum(dim=dims, keepdim=True)
    alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)
    alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
    w = (torch.relu(g) * alpha).sum(dim=dims)
    out["gradcam++"] = torch.relu((w.view(shape) * a).sum(1))
    out["hirescam"] = torch.relu((g * a).sum(1))
    return out


def vit_grid(t):
    n, l, dim = t.shape
    s = int(round((l - 1) ** 0.5))
    return t[:, 1:, :].reshape(n, s, s, dim).transpose(2, 3).transpose(1, 2)


def reference(name, model, x, layers, targets, grid=None):
    model.eval()
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, os.path.join(d, name + ".pt"))
    ref[name + ".x"] = x
    with torch.no_grad():
        ref[name + ".logits"] = model(x)
        # the scripted module computes the same logits (what Lumen runs)
        assert torch.allclose(scripted(x), ref[name + ".logits"], atol=1e-5)
    for layer in layers:
        module = model.get_submodule(layer)
        for t in targets:
            acts = {}
            hook = module.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
            out = model(x)
            hook.remove()
            a = acts["a"]
            g = torch.autograd.grad(out[:, t].sum(), a)[0]
            if grid is not None:
                a, g = grid(a), grid(g)
            ref["%s.%s.shape" % (name, layer)] = torch.tensor(list(a.shape), dtype=torch.float64)
            for method, cam in cam_methods(a.detach(), g.detach()).items():
                ref["%s.%s.%s_%d" % (name, layer, method, t)] = cam


resnet = tvm.resnet18(num_classes=15)
reference("resnet18", resnet, torch.randn(2, 3, 64, 64), ["layer3", "layer4"], [0, 7])

densenet = tvm.densenet121(num_classes=5)
reference("densenet121", densenet, torch.randn(1, 3, 96, 96), ["features.denseblock4", "features.denseblock3"],
          [1, 4])

convnext = tvm.convnext_tiny(num_classes=4)
with torch.no_grad():  # visible blocks (torchvision initialises the layer scales at 1e-6)
    for n_, p in convnext.named_parameters():
        if "layer_scale" in n_:
            p.uniform_(0.2, 1.0)
reference("convnext_tiny", convnext, torch.randn(1, 3, 64, 64), ["features.5"], [2])

r3d = tvm.video.r3d_18(num_classes=3)
reference("r3d_18", r3d, torch.randn(1, 3, 8, 32, 32), ["layer3"], [0, 2])

vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                        num_classes=3)
with torch.no_grad():  # torchvision initialises the head at zero: no gradient would reach the tokens
    vit.heads.head.weight.normal_(0, 0.5)
reference("vit_tiny", vit, torch.randn(2, 3, 32, 32), ["encoder.layers.encoder_layer_1.ln_1"], [0, 1],
          grid=vit_grid)

class SeqRelu(torch.nn.Module):
    """A Sequential ending in ReLU, explained at the Sequential: the profiling executor's optimised
    graph (second call on) once left that output outside the logits' autograd graph."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(),
                                            torch.nn.Conv2d(8, 16, 3, 1, 1), torch.nn.ReLU())
        self.head = torch.nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


reference("seqrelu", SeqRelu(), torch.randn(3, 3, 16, 16), ["features"], [0, 3])

torch.save(ref, os.path.join(d, "layer_ref.pt"))
print("ok", len(ref))
