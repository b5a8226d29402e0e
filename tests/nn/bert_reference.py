"""Reference for test_bert: a BERT encoder written from the published model (post-LayerNorm
blocks, erf GELU, additive attention mask, tanh pooler) with the usual state-dict names, as a
Hugging Face BertModel has them. Saves its weights the way a user would keep a pre-training
checkpoint (under "bert.", with an MLM head's "cls.*" keys and a position_ids buffer beside
them), the inputs, and the outputs in eval mode.

usage: bert_reference.py FOLDER
"""
import math
import os
import sys

import torch
from torch import nn

H, LAYERS, HEADS, INTER, VOCAB, POS, TYPES = 32, 2, 4, 64, 50, 24, 2


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)

    def forward(self, x, mask):
        b, l, _ = x.shape
        d = H // HEADS
        split = lambda t: t.view(b, l, HEADS, d).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask
        return (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, l, H)


class Residual(nn.Module):
    def __init__(self, size_in):
        super().__init__()
        self.dense = nn.Linear(size_in, H)
        self.LayerNorm = nn.LayerNorm(H, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = Residual(H)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(H, INTER)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = Residual(INTER)

    def forward(self, x, mask):
        a = self.attention.output(self.attention.self(x, mask), x)
        return self.output(nn.functional.gelu(self.intermediate.dense(a)), a)


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, H)
        self.position_embeddings = nn.Embedding(POS, H)
        self.token_type_embeddings = nn.Embedding(TYPES, H)
        self.LayerNorm = nn.LayerNorm(H, eps=1e-12)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(LAYERS)])


class Pooler(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(H, H)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings, self.encoder, self.pooler = Embeddings(), Encoder(), Pooler()

    def forward(self, ids, mask, types):
        e = self.embeddings
        positions = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        x = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(types) + e.position_embeddings(positions))
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.encoder.layer:
            x = layer(x, additive)
        return x, torch.tanh(self.pooler.dense(x[:, 0]))


def main():
    folder = sys.argv[1]
    torch.manual_seed(3)
    model = Bert().eval()
    with torch.no_grad():
        for p in model.parameters():  # every weight visible, LayerNorm included
            p.normal_(0.0, 0.3)
    ids = torch.randint(0, VOCAB, (3, 11))
    mask = torch.ones(3, 11, dtype=torch.int64)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    types = torch.zeros(3, 11, dtype=torch.int64)
    types[:, 6:] = 1
    with torch.no_grad():
        hidden, pooled = model(ids, mask, types)
    checkpoint = {"bert." + k: v for k, v in model.state_dict().items()}
    checkpoint["bert.embeddings.position_ids"] = torch.arange(POS).unsqueeze(0)
    checkpoint["cls.predictions.bias"] = torch.zeros(VOCAB)
    checkpoint["cls.predictions.transform.dense.weight"] = torch.zeros(H, H)
    torch.save(checkpoint, os.path.join(folder, "bert_pretraining.pt"))
    wrapped = {"state_dict": {"text_encoder." + k: v for k, v in model.state_dict().items()}}
    torch.save(wrapped, os.path.join(folder, "bert_wrapped.pt"))
    partial = {k: v for k, v in model.state_dict().items() if k != "encoder.layer.1.output.LayerNorm.weight"}
    torch.save(partial, os.path.join(folder, "bert_partial.pt"))
    torch.save({"ids": ids, "mask": mask, "types": types, "hidden": hidden, "pooled": pooled,
                "names": torch.tensor([len(model.state_dict())])}, os.path.join(folder, "bert_io.pt"))
    with open(os.path.join(folder, "bert_names.txt"), "w") as f:
        f.write("\n".join(sorted(model.state_dict().keys())) + "\n")


main()
