"""Reference for test_contrastive_loss: each loss of core/nn/contrastive_loss written in
PyTorch from its definition (CLIP's symmetric InfoNCE with cross_entropy, SigLIP's sigmoid loss
from the paper, multi-positive InfoNCE with logsumexp, the hard-negative weighting with plain
loops), in float64, with gradients. usage: contrastive_reference.py FOLDER
"""
import math
import os
import sys

import torch
import torch.nn.functional as F


def cos(a, b):
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()


def clip_loss(a, b, t):
    logits = cos(a, b) / t
    target = torch.arange(a.shape[0])
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def siglip_loss(a, b, log_scale, bias):
    logits = cos(a, b) * log_scale.exp() + bias
    labels = 2 * torch.eye(a.shape[0], dtype=logits.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / a.shape[0]


def multi_positive(a, b, positive, t):
    logits = cos(a, b) / t

    def rows(l, m):
        losses = []
        for i in range(l.shape[0]):
            if m[i].any():
                losses.append(-(torch.logsumexp(l[i][m[i]], 0) - torch.logsumexp(l[i], 0)))
        return torch.stack(losses).mean()

    return (rows(logits, positive) + rows(logits.t(), positive.t())) / 2


def hard_negative(a, b, t, k, w):
    logits = cos(a, b) / t

    def direction(l):
        n = l.shape[0]
        losses = []
        for i in range(n):
            negatives = sorted((j for j in range(n) if j != i), key=lambda j: -float(l[i, j]))[:k]
            denominator = sum((w if j in negatives else 1.0) * torch.exp(l[i, j]) for j in range(n))
            losses.append(-(l[i, i] - torch.log(denominator)))
        return torch.stack(losses).mean()

    return (direction(logits) + direction(logits.t())) / 2


def main():
    folder = sys.argv[1]
    torch.manual_seed(11)
    n, d = 6, 8
    a = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    log_t = torch.tensor(math.log(0.1), dtype=torch.float64, requires_grad=True)
    log_scale = torch.tensor(math.log(10.0), dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-10.0, dtype=torch.float64, requires_grad=True)
    temperature = lambda: log_t.clamp(math.log(0.01), 0.0).exp()
    out = {"a": a.detach().clone(), "b": b.detach().clone()}
    positive = torch.eye(n, dtype=torch.bool)
    positive[0, 3] = positive[2, 5] = positive[4, 1] = True
    positive[5, 5] = False  # an item whose only report was dropped
    b_many = torch.randn(n + 3, d, dtype=torch.float64, requires_grad=True)
    positive_many = torch.zeros(n, n + 3, dtype=torch.bool)
    for i in range(n):
        positive_many[i, i] = True
    positive_many[1, n] = positive_many[1, n + 1] = positive_many[3, n + 2] = True
    out.update({"positive": positive.to(torch.int64), "b_many": b_many.detach().clone(),
                "positive_many": positive_many.to(torch.int64)})
    losses = {
        "clip": lambda: clip_loss(a, b, temperature()),
        "siglip": lambda: siglip_loss(a, b, log_scale, bias),
        "multi": lambda: multi_positive(a, b, positive, 0.1),
        "multi_many": lambda: multi_positive(a, b_many, positive_many, 0.1),
        "multi_identity": lambda: multi_positive(a, b, torch.eye(n, dtype=torch.bool), 0.1),
        "hard": lambda: hard_negative(a, b, 0.1, 2, 3.0),
    }
    for name, f in losses.items():
        for p in (a, b, b_many, log_t, log_scale, bias):
            p.grad = None
        loss = f()
        loss.backward()
        out[name] = loss.detach()
        out[name + "_grad_a"] = a.grad.clone()
        if name == "clip":
            out["clip_grad_log_t"] = log_t.grad.clone()
        if name == "siglip":
            out["siglip_grad_log_scale"] = log_scale.grad.clone()
            out["siglip_grad_bias"] = bias.grad.clone()
    # Zero-shot: softmax over ("present", "not present") of cos / T, taken at "present".
    present = torch.randn(4, d, dtype=torch.float64)
    absent = torch.randn(4, d, dtype=torch.float64)
    pair = torch.stack([cos(a.detach(), present), cos(a.detach(), absent)], -1) / 0.1
    out.update({"present": present, "absent": absent, "zero_shot": pair.softmax(-1)[..., 0]})
    torch.save(out, os.path.join(folder, "contrastive.pt"))


main()
