#!/usr/bin/python3
"""Samples/s of one clip_contrastive training step: Lumen (build/bench/clip_step_bench) vs the
same step in Python PyTorch (Debian's python3-torch 1.13 + torchvision 0.14), same threads and
sizes, runs interleaved in one session. Prints a markdown table (docs/benchmarks.md).

    /usr/bin/python3 bench/run_clip_step_bench.py [--build build] [--threads 2] [--steps 5] [--rounds 2]

The step is the demo recipe's (resources/configs/clip_contrastive_demo.yaml): ConvNeXt-atto at
128 px (torchvision's ConvNeXt with atto's block settings), a 2-layer BERT (hidden 128) written
as BERT is, projections to 128, CLIP's symmetric InfoNCE with a learnable temperature, a 2-layer
transformer caption decoder (PyTorch's TransformerDecoderLayer, GELU) by teacher forcing, BERT's
MLM head, loss 2.0 / 0.3 / 0.1, backward, clip_grad_norm_(1.0), AdamW; batch 32 of 48 tokens.
"""
import argparse
import json
import math
import sys
from pathlib import Path

from bench_common import common_arguments, cpu_name, interleaved, speed_table

SIZES = dict(size=128, batch=32, tokens=48, vocab=104, hidden=128, layers=2, heads=4, inter=256, embed=128,
             dec_width=128, dec_layers=2, dec_heads=4)


def python_worker(args):
    import time
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = SIZES
    H, HEADS = s["hidden"], s["heads"]

    class BertLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
            self.attn_out, self.attn_norm = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
            self.inter, self.out, self.out_norm = nn.Linear(H, s["inter"]), nn.Linear(s["inter"], H), nn.LayerNorm(H, eps=1e-12)
            self.drop = nn.Dropout(0.1)

        def forward(self, x, mask):
            b, l, _ = x.shape
            d = H // HEADS
            split = lambda t: t.view(b, l, HEADS, d).permute(0, 2, 1, 3)
            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            a = self.drop((q @ k.transpose(-1, -2) / math.sqrt(d) + mask).softmax(-1)) @ v
            x = self.attn_norm(x + self.drop(self.attn_out(a.permute(0, 2, 1, 3).reshape(b, l, H))))
            return self.out_norm(x + self.drop(self.out(F.gelu(self.inter(x)))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.words, self.pos, self.types = nn.Embedding(s["vocab"], H), nn.Embedding(s["tokens"], H), nn.Embedding(2, H)
            self.norm, self.drop = nn.LayerNorm(H, eps=1e-12), nn.Dropout(0.1)
            self.layers = nn.ModuleList([BertLayer() for _ in range(s["layers"])])

        def forward(self, ids, mask):
            pos = torch.arange(ids.shape[1])
            x = self.drop(self.norm(self.words(ids) + self.pos(pos)[None] + self.types(torch.zeros_like(ids))))
            additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
            for layer in self.layers:
                x = layer(x, additive)
            return x

    class Clip(nn.Module):
        def __init__(self):
            super().__init__()
            atto = [CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2), CNBlockConfig(160, 320, 6), CNBlockConfig(320, None, 2)]
            self.vision = ConvNeXt(atto, num_classes=1).features
            self.text = Bert()
            self.image_norm, self.image_proj = nn.LayerNorm(320), nn.Linear(320, s["embed"])
            self.text_proj = nn.Linear(H, s["embed"])
            self.log_t = nn.Parameter(torch.tensor(math.log(0.1)))
            W = s["dec_width"]
            self.tok, self.tpos = nn.Embedding(s["vocab"], W), nn.Embedding(s["tokens"], W)
            self.mem_proj = nn.Linear(320, W)
            self.mem_pos = nn.Parameter(torch.randn((s["size"] // 32) ** 2, W) * 0.02)
            layer = nn.TransformerDecoderLayer(W, s["dec_heads"], 2 * W, 0.1, activation="gelu")
            self.decoder, self.dec_norm, self.dec_out = nn.TransformerDecoder(layer, s["dec_layers"]), nn.LayerNorm(W), nn.Linear(W, s["vocab"])
            self.mlm = nn.Sequential(nn.Linear(H, H), nn.GELU(), nn.LayerNorm(H, eps=1e-12), nn.Linear(H, s["vocab"]))

        def step_loss(self, images, ids, mask, corrupted, mlm_labels, cap_target):
            tokens = self.vision(images).flatten(2).transpose(1, 2)
            img = F.normalize(self.image_proj(self.image_norm(tokens.mean(1))), dim=-1)
            hidden = self.text(ids, mask)
            txt = F.normalize(self.text_proj(hidden[:, 0]), dim=-1)
            t = self.log_t.clamp(math.log(0.01), 0).exp()
            logits = img @ txt.t() / t
            target = torch.arange(len(ids))
            contrastive = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
            inp = ids[:, :-1]
            x = self.tok(inp) + self.tpos(torch.arange(inp.shape[1]))[None]
            mem = self.mem_proj(tokens) + self.mem_pos[: tokens.shape[1]][None]
            causal = torch.full((inp.shape[1], inp.shape[1]), float("-inf")).triu(1)
            y = self.decoder(x.transpose(0, 1), mem.transpose(0, 1), tgt_mask=causal,
                             tgt_key_padding_mask=mask[:, :-1] == 0).transpose(0, 1)
            caption = F.cross_entropy(self.dec_out(self.dec_norm(y)).reshape(-1, s["vocab"]), cap_target.reshape(-1),
                                      ignore_index=-100)
            mlm = F.cross_entropy(self.mlm(self.text(corrupted, mask)).reshape(-1, s["vocab"]), mlm_labels.reshape(-1),
                                  ignore_index=-100)
            return 2.0 * contrastive + 0.3 * caption + 0.1 * mlm

    model = Clip().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    b, L, V = s["batch"], s["tokens"], s["vocab"]
    images = torch.randn(b, 3, s["size"], s["size"])
    ids = torch.randint(5, V, (b, L))
    mask = torch.zeros(b, L, dtype=torch.long)
    for i, n in enumerate(torch.randint(L // 2, L + 1, (b,)).tolist()):
        ids[i, 0], ids[i, n - 1] = 2, 3
        ids[i, n:] = 0
        mask[i, :n] = 1
    maskable = (mask == 1) & (ids != 2) & (ids != 3)
    chosen = maskable & (torch.rand(b, L) < 0.15)
    corrupted = torch.where(chosen, torch.full_like(ids, 4), ids)
    mlm_labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    cap_target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    times, cpu = [], []
    for step in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss = model.step_loss(images, ids, mask, corrupted, mlm_labels, cap_target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        last = loss.item()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"python step {step}: {dt:.3f} s loss {last:.5f}", file=sys.stderr)
        if step >= args.warmup:
            times.append(dt)
            cpu.append(dc)
    print(json.dumps({"impl": "python", "samples_per_s": b * len(times) / sum(times), "step_s": times, "cpu_s": cpu,
                      "last_loss": last}))


def main():
    p = argparse.ArgumentParser()
    common_arguments(p, steps=5)
    args = p.parse_args()
    if args.python_worker:
        python_worker(args)
        return
    s = SIZES
    lumen_cmd = [str(Path(args.build) / "bench" / "clip_step_bench"), "--size", str(s["size"]), "--batch", str(s["batch"]),
                 "--tokens", str(s["tokens"]), "--vocab", str(s["vocab"]), "--text-hidden", str(s["hidden"]),
                 "--text-layers", str(s["layers"]), "--text-heads", str(s["heads"]), "--text-inter", str(s["inter"]),
                 "--embed", str(s["embed"]), "--dec-width", str(s["dec_width"]), "--dec-layers", str(s["dec_layers"]),
                 "--dec-heads", str(s["dec_heads"]), "--threads", str(args.threads), "--warmup", str(args.warmup),
                 "--steps", str(args.steps)]
    python_cmd = [sys.executable, __file__, "--python-worker", "--threads", str(args.threads), "--warmup",
                  str(args.warmup), "--steps", str(args.steps)]
    results = interleaved({"python": python_cmd, "lumen": lumen_cmd}, args.rounds)
    print(f"clip_contrastive training step, {cpu_name()}, {args.threads} threads, batch {s['batch']}, "
          f"{s['size']} px, {args.steps} steps x {args.rounds} rounds (best round)\n")
    speed_table(results, s["batch"], {"python": "Python PyTorch 1.13", "lumen": "Lumen (LibTorch 1.13)"}, digits=1)


if __name__ == "__main__":
    main()
