"""Reference for test_video: torchvision's video ResNets (random weights, random BatchNorm
statistics), MIL aggregators written from their definitions (docs/angio.md) on PyTorch's own
TransformerEncoderLayer and MultiheadAttention, and the masked angiography loss from
torch.nn.functional. Writes state dicts, inputs and outputs into FOLDER.

usage: video_reference.py FOLDER
"""
import os
import sys

import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models import video

OUT = sys.argv[1]


def save(name, obj):
    torch.save(obj, os.path.join(OUT, name))


def randomise_batchnorm(model):
    g = torch.Generator().manual_seed(5)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def encoders():
    for arch in ("r3d_18", "mc3_18", "r2plus1d_18"):
        torch.manual_seed(11)
        model = getattr(video, arch)(num_classes=10)
        randomise_batchnorm(model)
        x = torch.randn(2, 3, 4, 32, 32)
        model.eval()
        with torch.no_grad():
            out = model(x)
        io = {"x": x, "out": out}
        save(arch + ".pt", model.state_dict())
        if arch == "r3d_18":
            # training mode (batch statistics) and a gradient, from the same weights
            model.train()
            y = model(x)
            (y.square().sum()).backward()
            io["out_train"] = y.detach()
            io["grad_stem"] = model.stem[0].weight.grad
            io["grad_fc"] = model.fc.weight.grad
            # a wrapper's checkpoint: {"epoch", "model_state_dict": {"video_encoder.<name>": ...}}
            wrapped = {"video_encoder." + k: v for k, v in torch.load(os.path.join(OUT, arch + ".pt")).items()}
            save("wrapped_checkpoint.pt", {"epoch": 3, "model_state_dict": wrapped})
        save(arch + "_io.pt", io)


D, HIDDEN, HEADS, FF = 16, 8, 4, 32


class Aggregator(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        if mode in ("attention", "attention_cls"):
            self.attention_V = nn.Linear(D, HIDDEN)
            self.attention_U = nn.Linear(D, HIDDEN)
            self.attention_w = nn.Linear(HIDDEN, 1)
        if mode in ("cls_token", "attention_cls"):
            self.cls_token = nn.Parameter(torch.randn(1, 1, D))
            self.cls_layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)

    def gated(self, x, mask):
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        a = self.attention_w(torch.tanh(self.attention_V(x)) * torch.sigmoid(self.attention_U(x)))
        a = a.masked_fill(~mask.unsqueeze(-1), float("-inf")).softmax(1)
        return (a * x).sum(1), a.squeeze(-1)

    def cls(self, x, mask):
        b = x.shape[0]
        seq = torch.cat([self.cls_token.expand(b, 1, D), x], 1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool), ~mask], 1)
        pooled = self.cls_layer(seq, src_key_padding_mask=pad)[:, 0]
        _, w = self.cls_layer.self_attn(seq, seq, seq, key_padding_mask=pad, need_weights=True)
        w = w[:, 0, 1:]
        return pooled, w / w.sum(1, keepdim=True)

    def forward(self, x, mask):
        if self.mode == "mean":
            m = mask.float()
            w = m / m.sum(1, keepdim=True)
            return (x * w.unsqueeze(-1)).sum(1), w
        if self.mode == "max":
            pooled, winner = x.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1)
            w = torch.stack([(winner == v).float().sum(1) / D for v in range(x.shape[1])], 1)
            return pooled, w
        if self.mode == "attention":
            return self.gated(x, mask)
        if self.mode == "cls_token":
            return self.cls(x, mask)
        pg, wg = self.gated(x, mask)
        pc, wc = self.cls(x, mask)
        return torch.cat([pg, pc], 1), 0.5 * (wg + wc)


def aggregators():
    x = torch.randn(3, 4, D)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    for mode in ("mean", "max", "attention", "cls_token", "attention_cls"):
        torch.manual_seed(21)
        agg = Aggregator(mode).eval()
        with torch.no_grad():
            pooled, weights = agg(x, mask)
        save("mil_" + mode + ".pt", agg.state_dict())
        save("mil_" + mode + "_io.pt", {"x": x, "mask": mask.float(), "pooled": pooled, "weights": weights})


def masked_loss():
    torch.manual_seed(31)
    segments = 3
    outputs = torch.randn(4, segments * 5, dtype=torch.float64, requires_grad=True)
    targets = torch.empty(4, segments * 5, dtype=torch.float64)
    for c in range(segments * 5):
        if c % 5 == 0:
            targets[:, c] = torch.rand(4, dtype=torch.float64) * 100
        else:
            targets[:, c] = (torch.rand(4) > 0.5).double()
    targets[torch.rand(4, segments * 5) < 0.35] = float("nan")
    labelled = ~targets.isnan()
    stenosis = (torch.arange(segments * 5) % 5 == 0).expand(4, -1)
    reg, binary = labelled & stenosis, labelled & ~stenosis
    huber = F.huber_loss(outputs[reg], targets[reg] / 100, delta=0.1)
    bce = F.binary_cross_entropy_with_logits(outputs[binary], targets[binary])
    total = 2.0 * huber + 1.0 * bce
    total.backward()
    save("loss_io.pt", {"outputs": outputs.detach(), "targets": targets, "huber": huber.detach(),
                        "bce": bce.detach(), "total": total.detach(), "grad": outputs.grad})


if __name__ == "__main__":
    torch.set_num_threads(1)
    encoders()
    aggregators()
    masked_loss()
