#!/usr/bin/python3
"""Writes the PyTorch cross-check fixtures for Lora.Autograd (Lora.Tests/Fixtures/autograd/*.json).

Cases: a 2-layer LoRA MLP with GELU and cross-entropy, an MLP with LayerNorm and ReLU, a conv net (Conv2d with
padding, ReLU, MaxPool2d with stride and padding, Linear), and Embedding → Tanh → Linear → Sigmoid → MSE.
Each case is a small network built from the same float32 inputs Lora uses, evaluated by PyTorch in float64
(so the expected values carry no float32 rounding of their own), with the loss, the logits and the gradient of
every trainable tensor. The C# tests (Lora.Tests/Autograd/TorchFixtureTests.cs) rebuild the network with
Lora.Autograd in float32 and compare. Dropout is off: PyTorch's generator and Lora's counter-based masks differ.

Run with Debian's python3-torch:  /usr/bin/python3 tools/make_autograd_fixtures.py
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Lora.Tests", "Fixtures", "autograd")


def f32(rng, *shape, scale=1.0):
    """Uniform(-scale, scale) values rounded to float32, then held in float64 for the reference computation."""
    return torch.tensor(rng.uniform(-scale, scale, size=shape).astype(np.float32), dtype=torch.float64)


def pack(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def lora_linear(x, w, b, a, bb, scale):
    # y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ (PEFT's LoRA Linear, no dropout)
    return x @ w.T + b + scale * ((x @ a.T) @ bb.T)


def lora_mlp_gelu(rng):
    n, k, hidden, classes, r, alpha = 8, 12, 16, 5, 4, 8.0
    scale = alpha / r
    t = {
        "x": f32(rng, n, k),
        "W1": f32(rng, hidden, k, scale=0.4), "b1": f32(rng, hidden, scale=0.1),
        "A1": f32(rng, r, k, scale=0.4), "B1": f32(rng, hidden, r, scale=0.3),
        "W2": f32(rng, classes, hidden, scale=0.4), "b2": f32(rng, classes, scale=0.1),
        "A2": f32(rng, r, hidden, scale=0.4), "B2": f32(rng, classes, r, scale=0.3),
    }
    labels = torch.tensor(rng.integers(0, classes, size=n), dtype=torch.long)
    trainable = ["x", "b1", "A1", "B1", "b2", "A2", "B2"]  # W1, W2 frozen; x checks the dx path
    for name in trainable:
        t[name].requires_grad_(True)
    h = F.gelu(lora_linear(t["x"], t["W1"], t["b1"], t["A1"], t["B1"], scale), approximate="tanh")
    logits = lora_linear(h, t["W2"], t["b2"], t["A2"], t["B2"], scale)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return {
        "name": "lora_mlp_gelu", "scale": scale, "labels": labels.tolist(),
        "inputs": {k2: pack(v) for k2, v in t.items()},
        "logits": pack(logits), "loss": float(loss),
        "grads": {k2: pack(t[k2].grad) for k2 in trainable},
    }


def mlp_layernorm_relu(rng):
    n, k, hidden, classes = 6, 10, 14, 4
    t = {
        "x": f32(rng, n, k),
        "W1": f32(rng, hidden, k, scale=0.4), "b1": f32(rng, hidden, scale=0.1),
        "gamma": f32(rng, hidden, scale=0.3) + 1.0, "beta": f32(rng, hidden, scale=0.1),
        "W2": f32(rng, classes, hidden, scale=0.4), "b2": f32(rng, classes, scale=0.1),
    }
    t["gamma"] = torch.tensor(t["gamma"].numpy().astype(np.float32), dtype=torch.float64)
    labels = torch.tensor(rng.integers(0, classes, size=n), dtype=torch.long)
    trainable = list(t.keys())
    for name in trainable:
        t[name].requires_grad_(True)
    h = F.linear(t["x"], t["W1"], t["b1"])
    h = F.relu(F.layer_norm(h, (hidden,), t["gamma"], t["beta"], eps=1e-5))
    logits = F.linear(h, t["W2"], t["b2"])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return {
        "name": "mlp_layernorm_relu", "labels": labels.tolist(),
        "inputs": {k2: pack(v) for k2, v in t.items()},
        "logits": pack(logits), "loss": float(loss),
        "grads": {k2: pack(t[k2].grad) for k2 in trainable},
    }


def conv_pool_net(rng):
    n, c, hw, co, classes = 2, 2, 7, 3, 4
    t = {
        "x": f32(rng, n, c, hw, hw),
        "Wc": f32(rng, co, c, 3, 3, scale=0.5), "bc": f32(rng, co, scale=0.1),
        "Wf": f32(rng, classes, co * 4 * 4, scale=0.3), "bf": f32(rng, classes, scale=0.1),
    }
    labels = torch.tensor(rng.integers(0, classes, size=n), dtype=torch.long)
    trainable = list(t.keys())
    for name in trainable:
        t[name].requires_grad_(True)
    h = F.relu(F.conv2d(t["x"], t["Wc"], t["bc"], stride=1, padding=1))            # (2, 3, 7, 7)
    h = F.max_pool2d(h, kernel_size=3, stride=2, padding=1)                         # (2, 3, 4, 4)
    logits = F.linear(h.reshape(n, -1), t["Wf"], t["bf"])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return {
        "name": "conv_pool_net", "labels": labels.tolist(),
        "inputs": {k2: pack(v) for k2, v in t.items()},
        "logits": pack(logits), "loss": float(loss),
        "grads": {k2: pack(t[k2].grad) for k2 in trainable},
    }


def embedding_tanh_mse(rng):
    vocab, dim, out = 10, 6, 3
    t = {
        "table": f32(rng, vocab, dim),
        "W": f32(rng, out, dim, scale=0.5), "b": f32(rng, out, scale=0.1),
        "target": f32(rng, 5, out),
    }
    ids = torch.tensor([3, 7, 3, 0, 9], dtype=torch.long)
    trainable = ["table", "W", "b"]
    for name in trainable:
        t[name].requires_grad_(True)
    e = F.embedding(ids, t["table"])
    pred = torch.sigmoid(F.linear(torch.tanh(e), t["W"], t["b"]))
    loss = F.mse_loss(pred, t["target"])
    loss.backward()
    return {
        "name": "embedding_tanh_mse", "labels": ids.tolist(),
        "inputs": {k2: pack(v) for k2, v in t.items()},
        "logits": pack(pred), "loss": float(loss),
        "grads": {k2: pack(t[k2].grad) for k2 in trainable},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240501)
    for make in (lora_mlp_gelu, mlp_layernorm_relu, conv_pool_net, embedding_tanh_mse):
        case = make(rng)
        case["generator"] = f"tools/make_autograd_fixtures.py, torch {torch.__version__}, float64"
        path = os.path.join(OUT, case["name"] + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(case, f, indent=None, separators=(",", ":"))
        os.replace(tmp, path)  # atomic
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
