#!/usr/bin/python3
"""Writes the PyTorch cross-check fixture for LoraEmbedding (Lora.Tests/Fixtures/embedding/lora_embedding.json).

A torch.nn.Embedding table T (num, dim) with one LoRA adapter in PEFT's layout and formula
(peft/tuners/lora/layer.py, class Embedding):

    result = embedding(x, T) + (embedding(x, Aᵀ) @ Bᵀ) · s        A = lora_embedding_A (r, num), B = lora_embedding_B (dim, r)
    merged T = T + transpose(B @ A) · s                            (get_delta_weight)

evaluated in float64 from float32 inputs for ids of shape (3, 5) with repeats and unused rows, with the loss
mean(tanh(y)²) and its gradients for A and B (T frozen, as in LoRA training). The C# test
(Lora.Tests/Core/Lora/LoraEmbeddingTorchTests.cs) rebuilds it with LoraEmbedding in float32 and compares.

Run with Debian's python3-torch:  /usr/bin/python3 tools/make_lora_embedding_fixture.py
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Lora.Tests", "Fixtures", "embedding")


def f32(rng, *shape, scale=1.0):
    return torch.tensor(rng.uniform(-scale, scale, size=shape).astype(np.float32), dtype=torch.float64)


def pack(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def main():
    rng = np.random.default_rng(7)
    num, dim, r, alpha = 23, 10, 4, 8.0
    s = alpha / r
    emb = torch.nn.Embedding(num, dim).double()
    with torch.no_grad():
        emb.weight.copy_(f32(rng, num, dim))
    emb.weight.requires_grad_(False)
    a = f32(rng, r, num, scale=0.5).requires_grad_(True)
    b = f32(rng, dim, r, scale=0.5).requires_grad_(True)
    ids = torch.tensor(rng.integers(0, num // 2, size=(3, 5)), dtype=torch.long)  # rows ≥ num/2 unused
    y = emb(ids) + (F.embedding(ids, a.T) @ b.T) * s
    loss = (torch.tanh(y) ** 2).mean()
    loss.backward()
    merged = emb.weight + (b @ a).T * s
    case = {
        "name": "lora_embedding", "scale": s, "ids": ids.tolist(),
        "inputs": {"T": pack(emb.weight), "A": pack(a), "B": pack(b)},
        "y": pack(y), "loss": float(loss), "merged": pack(merged),
        "grads": {"A": pack(a.grad), "B": pack(b.grad)},
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "lora_embedding.json"), "w") as f:
        json.dump(case, f)
        f.write("\n")


if __name__ == "__main__":
    main()
