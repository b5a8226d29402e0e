#!/usr/bin/python3
"""Python references for core/nn (run by tests/nn/test_nn.cpp with /usr/bin/python3, i.e.
Debian's python3-torch 1.13 and python3-torchvision 0.14).

Usage: nn_reference.py DIR
Reads the tensors the C++ test wrote into DIR (torch.load of Lumen's writeTensorFile files),
computes the same things with torchvision's ConvNeXt and the original recipe's formulas
(train_roi_consistency.py of the original walkthrough) and writes the results back with torch.save.
Also writes torchvision convnext_tiny weights in the three file forms Lumen loads.
"""
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

torch.set_num_threads(1)


def convnext_atto(num_classes):
    # timm's atto widths in torchvision's layout (what Lumen's "atto" is).
    setting = [CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2), CNBlockConfig(160, 320, 6),
               CNBlockConfig(320, None, 2)]
    return ConvNeXt(setting, stochastic_depth_prob=0.0, num_classes=num_classes)


def mask_net():
    # The original's mask_net.
    return nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 1, kernel_size=1))


def sub_state(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def topk_mask_exact(soft, keep_ratio):
    """Exactly k = max(1, int(keep_ratio*h*w)) pixels, ties to the lower index; written with
    numpy's lexsort so it is independent of torch.sort."""
    b = soft.shape[0]
    flat = soft.detach().reshape(b, -1).float().numpy()
    k = max(1, int(keep_ratio * flat.shape[1]))
    out = np.zeros_like(flat)
    idx = np.arange(flat.shape[1])
    for i in range(b):
        order = np.lexsort((idx, -flat[i]))  # primary: value descending, secondary: index
        out[i, order[:k]] = 1.0
    return torch.from_numpy(out).reshape(soft.shape)


def topk_mask_original(mask, keep_ratio):
    # The original's topk_mask: keeps every pixel tied with the k-th value.
    b, _, h, w = mask.shape
    flat = mask.view(b, -1)
    k = max(1, int(keep_ratio * h * w))
    vals, _ = torch.topk(flat, k=k, dim=1)
    thresh = vals[:, -1].unsqueeze(1)
    return (flat >= thresh).float().view_as(mask)


def total_variation(mask):
    dh = torch.abs(mask[:, :, 1:, :] - mask[:, :, :-1, :]).mean()
    dw = torch.abs(mask[:, :, :, 1:] - mask[:, :, :, :-1]).mean()
    return dh + dw


def losses(logits_full, logits_crop, logits_drop, mask, targets, w):
    prob_full = torch.sigmoid(logits_full)
    prob_crop = torch.sigmoid(logits_crop)
    prob_drop = torch.sigmoid(logits_drop)
    c = {
        "full": nn.BCEWithLogitsLoss()(logits_full, targets),
        "consist": F.l1_loss(prob_full, prob_crop),
        "drop": F.relu(prob_drop - prob_full.detach()).mean(),
        "sparse": mask.mean(),
        "tv": total_variation(mask),
    }
    total = (w["full"] * c["full"] + w["consist"] * c["consist"] + w["drop"] * c["drop"]
             + w["sparse"] * c["sparse"] + w["tv"] * c["tv"])
    return c, total


def run_atto(d):
    inp = torch.load(d / "atto_in.pt")
    params = torch.load(d / "atto_params.pt")
    model = convnext_atto(int(inp["num_classes"].item()))
    model.load_state_dict(params, strict=True)  # every Lumen name is torchvision's
    model.eval()
    with torch.no_grad():
        feats = model.features(inp["x"])
        logits = model(inp["x"])
    out = {"logits": logits, "features": feats}
    if (d / "atto_ts.pt").exists():  # Lumen's TorchScript export
        ts = torch.jit.load(str(d / "atto_ts.pt"))
        with torch.no_grad():
            out["ts_logits"] = ts(inp["x"])
            out["ts_features"] = ts.forward_features(inp["x"])
        out["ts_names"] = torch.tensor([n == m for n, m in zip(sorted(ts.state_dict()), sorted(params))]
                                       + [len(ts.state_dict()) == len(params)])
    torch.save(out, d / "atto_out.pt")


def run_tv_tiny(d):
    torch.manual_seed(1234)
    model = torchvision.models.convnext_tiny()
    with torch.no_grad():  # make every block matter (layer_scale 1e-6 would hide them)
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.uniform_(0.2, 1.0)
            elif p.dim() == 1:
                p.normal_(0.0 if name.endswith("bias") else 1.0, 0.1)
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
    torch.save(model.state_dict(), d / "tiny_state_dict.pt")  # an OrderedDict with _metadata
    torch.save({"model": model.state_dict(), "epoch": 3, "args": {"save": Path("ckpt.pt"), "lr": 1e-4}},
               d / "tiny_checkpoint.pt")
    torch.jit.save(torch.jit.script(model), d / "tiny_scripted.pt")
    torch.save({"x": x, "logits": logits, "features": feats}, d / "tiny_out.pt")


def run_roi(d):
    inp = torch.load(d / "roi_in.pt")
    params = torch.load(d / "roi_params.pt")
    keep_ratio = float(inp["keep_ratio"].item())
    w = {k: float(inp["w_" + k].item()) for k in ("full", "consist", "drop", "sparse", "tv")}
    model = convnext_atto(inp["targets"].shape[1])
    model.load_state_dict(sub_state(params, "classifier."), strict=True)
    mnet = mask_net()
    mnet.load_state_dict(sub_state(params, "maskNet.net."), strict=True)
    model.train()
    mnet.train()
    images, targets = inp["images"], inp["targets"]

    # The original's forward ("full" mode), with the exact-k top-k mask.
    mask = torch.sigmoid(mnet(images))
    mask_bin = topk_mask_exact(mask, keep_ratio)
    img_crop = images * mask_bin
    img_drop = images * (1.0 - mask_bin)
    logits_full = model(images)
    logits_crop = model(img_crop)
    logits_drop = model(img_drop)
    comps, total = losses(logits_full, logits_crop, logits_drop, mask, targets, w)
    total.backward()
    out = {"soft": mask.detach(), "hard": mask_bin, "logits_full": logits_full.detach(),
           "logits_crop": logits_crop.detach(), "logits_drop": logits_drop.detach(), "total": total.detach(),
           "hard_original_count": topk_mask_original(mask.detach(), keep_ratio).sum(dim=(1, 2, 3))}
    for k, v in comps.items():
        out["loss_" + k] = v.detach()
    named = dict(("classifier." + n, p) for n, p in model.named_parameters())
    named.update(("maskNet.net." + n, p) for n, p in mnet.named_parameters())
    for n, p in named.items():
        out["grad." + n] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    if (d / "roi_ts.pt").exists():
        ts = torch.jit.load(str(d / "roi_ts.pt"))
        with torch.no_grad():
            r = ts(images)
        for i, n in enumerate(("logits_full", "logits_crop", "logits_drop", "soft", "hard")):
            out["ts_" + n] = r[i]
    torch.save(out, d / "roi_out.pt")


def run_losses(d):
    inp = torch.load(d / "loss_in.pt")
    w = {k: float(inp["w_" + k].item()) for k in ("full", "consist", "drop", "sparse", "tv")}
    lf = inp["logits_full"].clone().requires_grad_(True)
    lc = inp["logits_crop"].clone().requires_grad_(True)
    ld = inp["logits_drop"].clone().requires_grad_(True)
    m = inp["soft"].clone().requires_grad_(True)
    comps, total = losses(lf, lc, ld, m, inp["targets"], w)
    total.backward()
    out = {"total": total.detach(), "grad_full": lf.grad, "grad_crop": lc.grad, "grad_drop": ld.grad,
           "grad_soft": m.grad}
    for k, v in comps.items():
        out["loss_" + k] = v.detach()
    torch.save(out, d / "loss_out.pt")


def run_topk(d):
    inp = torch.load(d / "topk_in.pt")
    keep_ratio = float(inp["keep_ratio"].item())
    soft = inp["soft"]
    torch.save({"exact": topk_mask_exact(soft, keep_ratio),
                "original_count": topk_mask_original(soft, keep_ratio).sum(dim=(1, 2, 3))},
               d / "topk_out.pt")


def main():
    d = Path(sys.argv[1])
    for name, fn in (("atto_in.pt", run_atto), ("roi_in.pt", run_roi), ("loss_in.pt", run_losses),
                     ("topk_in.pt", run_topk)):
        if (d / name).exists():
            fn(d)
    run_tv_tiny(d)
    print("nn_reference: ok")


if __name__ == "__main__":
    main()
