#!/usr/bin/python3
"""Plain PyTorch references of the two BERT flavours kbert runs, written from their
public descriptions: the Hugging Face BERT architecture, and the UER encoder of the
original K-BERT (docs/KBERT_SPEC.md section 5). Used only by the tests, on Debian's
python3-torch, with small random weights.

Both take (ids, positions, segments, visible) where visible is a [B, L, L] 0/1 matrix
and return the last hidden states; the K-BERT classifier head pools and classifies.
"""
import collections
import json
import math
import struct

import numpy as np
import torch


class UerLayerNorm(torch.nn.Module):
    """gamma * (x - mean) / (std + eps) + beta, std unbiased."""

    def __init__(self, h, eps=1e-6):
        super().__init__()
        self.gamma = torch.nn.Parameter(torch.ones(h))
        self.beta = torch.nn.Parameter(torch.zeros(h))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.gamma * (x - mean) / (std + self.eps) + self.beta


class HfLayerNorm(torch.nn.Module):
    def __init__(self, h, eps=1e-12):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(h))
        self.bias = torch.nn.Parameter(torch.zeros(h))
        self.eps = eps

    def forward(self, x):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


def attention(q, k, v, visible, heads):
    b, l, h = q.shape
    d = h // heads
    split = lambda t: t.view(b, l, heads, d).transpose(1, 2)
    scores = torch.matmul(split(q), split(k).transpose(-1, -2)) / math.sqrt(d)
    scores = scores + (1.0 - visible.unsqueeze(1).float()) * -10000.0
    probs = torch.softmax(scores, -1)
    return torch.matmul(probs, split(v)).transpose(1, 2).reshape(b, l, h)


def gelu(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Bert(torch.nn.Module):
    """flavour "uer": UER names and LayerNorm; "hf": Hugging Face names and LayerNorm."""

    def __init__(self, vocab, hidden, layers, heads, ff, flavour, positions=512, segments=None):
        super().__init__()
        self.flavour, self.heads, self.nl = flavour, heads, layers
        Ln = UerLayerNorm if flavour == "uer" else HfLayerNorm
        segments = segments or (3 if flavour == "uer" else 2)
        self.word = torch.nn.Embedding(vocab, hidden)
        self.pos = torch.nn.Embedding(positions, hidden)
        self.seg = torch.nn.Embedding(segments, hidden)
        self.ln = Ln(hidden)
        self.q = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.k = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.v = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.o = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.ln1 = torch.nn.ModuleList(Ln(hidden) for _ in range(layers))
        self.f1 = torch.nn.ModuleList(torch.nn.Linear(hidden, ff) for _ in range(layers))
        self.f2 = torch.nn.ModuleList(torch.nn.Linear(ff, hidden) for _ in range(layers))
        self.ln2 = torch.nn.ModuleList(Ln(hidden) for _ in range(layers))
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0, 0.05)
            for m in self.modules():  # LayerNorms away from identity, so that mistakes show
                if isinstance(m, (UerLayerNorm, HfLayerNorm)):
                    for p in m.parameters():
                        p.normal_(1.0 if p is list(m.parameters())[0] else 0.0, 0.1)

    def forward(self, ids, positions, segments, visible):
        x = self.ln(self.word(ids) + self.pos(positions) + self.seg(segments))
        for i in range(self.nl):
            a = self.o[i](attention(self.q[i](x), self.k[i](x), self.v[i](x), visible, self.heads))
            x = self.ln1[i](a + x)
            x = self.ln2[i](self.f2[i](gelu(self.f1[i](x))) + x)
        return x

    def state(self, prefix=""):
        """Parameters under the flavour's checkpoint names (docs/KBERT_SPEC.md sections 5 and 8)."""
        s = collections.OrderedDict()
        if self.flavour == "uer":
            s["embedding.word_embedding.weight"] = self.word.weight
            s["embedding.position_embedding.weight"] = self.pos.weight
            s["embedding.segment_embedding.weight"] = self.seg.weight
            s["embedding.layer_norm.gamma"] = self.ln.gamma
            s["embedding.layer_norm.beta"] = self.ln.beta
            for i in range(self.nl):
                p = f"encoder.transformer.{i}."
                for j, m in enumerate((self.q[i], self.k[i], self.v[i])):
                    s[f"{p}self_attn.linear_layers.{j}.weight"] = m.weight
                    s[f"{p}self_attn.linear_layers.{j}.bias"] = m.bias
                s[p + "self_attn.final_linear.weight"], s[p + "self_attn.final_linear.bias"] = self.o[i].weight, self.o[i].bias
                s[p + "layer_norm_1.gamma"], s[p + "layer_norm_1.beta"] = self.ln1[i].gamma, self.ln1[i].beta
                s[p + "feed_forward.linear_1.weight"], s[p + "feed_forward.linear_1.bias"] = self.f1[i].weight, self.f1[i].bias
                s[p + "feed_forward.linear_2.weight"], s[p + "feed_forward.linear_2.bias"] = self.f2[i].weight, self.f2[i].bias
                s[p + "layer_norm_2.gamma"], s[p + "layer_norm_2.beta"] = self.ln2[i].gamma, self.ln2[i].beta
        else:
            e = prefix + "embeddings."
            s[e + "word_embeddings.weight"] = self.word.weight
            s[e + "position_embeddings.weight"] = self.pos.weight
            s[e + "token_type_embeddings.weight"] = self.seg.weight
            s[e + "LayerNorm.weight"], s[e + "LayerNorm.bias"] = self.ln.weight, self.ln.bias
            for i in range(self.nl):
                p = f"{prefix}encoder.layer.{i}."
                for name, m in (("query", self.q[i]), ("key", self.k[i]), ("value", self.v[i])):
                    s[f"{p}attention.self.{name}.weight"], s[f"{p}attention.self.{name}.bias"] = m.weight, m.bias
                s[p + "attention.output.dense.weight"], s[p + "attention.output.dense.bias"] = self.o[i].weight, self.o[i].bias
                s[p + "attention.output.LayerNorm.weight"] = self.ln1[i].weight
                s[p + "attention.output.LayerNorm.bias"] = self.ln1[i].bias
                s[p + "intermediate.dense.weight"], s[p + "intermediate.dense.bias"] = self.f1[i].weight, self.f1[i].bias
                s[p + "output.dense.weight"], s[p + "output.dense.bias"] = self.f2[i].weight, self.f2[i].bias
                s[p + "output.LayerNorm.weight"], s[p + "output.LayerNorm.bias"] = self.ln2[i].weight, self.ln2[i].bias
        return collections.OrderedDict((k, v.detach().clone()) for k, v in s.items())


class KbertClassifier(torch.nn.Module):
    """run_kbert_cls.py's BertClassifier: pool, tanh(output_layer_1), output_layer_2."""

    def __init__(self, bert, labels, pooling):
        super().__init__()
        h = bert.word.weight.shape[1]
        self.bert, self.pooling = bert, pooling
        self.output_layer_1 = torch.nn.Linear(h, h)
        self.output_layer_2 = torch.nn.Linear(h, labels)
        with torch.no_grad():
            for p in list(self.output_layer_1.parameters()) + list(self.output_layer_2.parameters()):
                p.normal_(0, 0.3)

    def forward(self, ids, positions, segments, visible):
        out = self.bert(ids, positions, segments, visible)
        if self.pooling == "mean":
            out = out.mean(1)
        elif self.pooling == "max":
            out = out.max(1)[0]
        elif self.pooling == "last":
            out = out[:, -1, :]
        else:
            out = out[:, 0, :]
        return self.output_layer_2(torch.tanh(self.output_layer_1(out)))

    def state(self):
        s = self.bert.state()
        for name in ("output_layer_1", "output_layer_2"):
            m = getattr(self, name)
            s[name + ".weight"], s[name + ".bias"] = m.weight.detach().clone(), m.bias.detach().clone()
        return s


def save_safetensors(path, tensors, dtype="F32"):
    """A safetensors file written by hand (Debian has no safetensors package)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if dtype == "F16":
            raw = t.to(torch.float16).numpy().tobytes()
        elif dtype == "BF16":
            raw = (t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2")).tobytes()
        else:
            raw = t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rounded(model, dtype):
    """The same model with weights rounded through F16 or BF16, as a file in that dtype holds them."""
    t = {"F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(t).to(torch.float32))
    return model


def tree_tensors(trees, length=None, uer_segments=False, pairs=False):
    """Batch of `kbert tree` JSON rows -> ids, positions, segments, visible (K-BERT padding)."""
    L = length or max(len(t["tokens"]) for t in trees)
    B = len(trees)
    ids = torch.zeros(B, L, dtype=torch.long)
    pos = torch.full((B, L), L - 1, dtype=torch.long)
    seg = torch.zeros(B, L, dtype=torch.long)
    vis = torch.zeros(B, L, L)
    for b, t in enumerate(trees):
        n = len(t["tokens"])
        ids[b, :n] = torch.tensor(t["ids"])
        pos[b, :n] = torch.tensor(t["positions"])
        tag = 1
        for i, tok in enumerate(t["tokens"]):
            if uer_segments:
                seg[b, i] = 0 if tok == "[PAD]" else tag
                if pairs and tok == "[SEP]" and t["segments"][i] == 0:
                    tag += 1
            else:
                seg[b, i] = min(tag - 1, 1)
                if tok == "[SEP]" and t["segments"][i] == 0:
                    tag += 1
        for i, row in enumerate(t["visible"]):
            vis[b, i, row] = 1
    return ids, pos, seg, vis
