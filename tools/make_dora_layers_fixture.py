#!/usr/bin/python3
"""Writes the PyTorch cross-check fixture for DoRA on a convolution and an embedding (Lora.Tests/Fixtures/dora/).

Each case is one layer with one DoRA adapter in PEFT's layout and formula (peft/tuners/lora/dora.py and variants.py),
written here from that description, not copied:

    conv:      W (out, in, k, k), A (r, in, k, k), B (out, r, 1, 1), magnitude (1, out, 1, 1)
               V = W + s·(B.flatten(1) @ A.flatten(1)).reshape(W.shape); n = ‖V‖ over (in, k, k) per output channel
               y = conv(x, W) + b + (m/n − 1)·conv(x, W) + (m/n)·s·conv1x1(conv(x, A), B)      (eval: no dropout)
    embedding: T (num, dim), lora_embedding_A (r, num), lora_embedding_B (dim, r), magnitude (dim)
               V = T + s·(B @ A)ᵀ; n = ‖V‖ over num per embedding dimension; y = (m/n)·(T[ids] + s·Aᵀ[ids] @ Bᵀ)

with n detached (DoRA §4.3). Everything is evaluated in float64 from float32 inputs, with the loss mean(tanh(y)²)
and its gradients for A, B and m, and the merged weight (m/n)·V. The adapters are also written as PEFT files
(adapter_conv/, adapter_embedding/: module path "0", use_dora true) so the C# test loads them through the file reader.
Consumed by Lora.Tests/Core/Lora/DoraLayersTorchTests.cs.

Check (--check DIR): the reverse direction. DIR holds what Lora wrote (DoraLayersTorchTests writes it to
$TMPDIR/lora-dora-layers-check): case.json ({"kind": "conv" | "embedding", "stride", "padding"}), weights.safetensors
(0.weight, and 0.bias for the conv), adapter/ (PEFT files) and io.safetensors (x, or the ids as floats, and y). The
script recomputes y from those files with the formulas above, requires every adapter key to be used and
use_dora true, and exits 0 when y agrees within 1e-5 of each tensor's largest |y|, 1 otherwise.

Run with Debian's python3-torch:  /usr/bin/python3 tools/make_dora_layers_fixture.py [--check DIR]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_peft_fixture import read_safetensors, write_adapter_config, write_adapter_weights  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Lora.Tests", "Fixtures", "dora")
PREFIX = "base_model.model."


def f32(rng, *shape, scale=1.0, offset=0.0):
    return torch.tensor((offset + rng.uniform(-scale, scale, size=shape)).astype(np.float32), dtype=torch.float64)


def pack(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def config(r, alpha):
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": alpha,
        "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None, "target_modules": ["0"],
        "task_type": None, "use_dora": True, "use_rslora": False,
    }


def write_adapter(name, r, alpha, tensors):
    write_adapter_weights(OUT, name, {k: (v.detach().to(torch.float32), "F32") for k, v in tensors.items()})
    write_adapter_config(OUT, name, config(r, alpha))


def conv_dora(x, wt, bias, a, b, m, s, stride, pad):
    """PEFT's eval-mode conv DoRA; the norm (1, out, 1, 1) is detached."""
    v = wt + s * (b.flatten(1) @ a.flatten(1)).reshape(wt.shape)
    norm = v.detach().norm(p=2, dim=(1, 2, 3), keepdim=True).transpose(1, 0)
    c = m / norm
    base = F.conv2d(x, wt, None, stride=stride, padding=pad)
    lora = F.conv2d(F.conv2d(x, a, None, stride=stride, padding=pad), b)
    return base + bias.view(1, -1, 1, 1) + (c - 1) * base + c * lora * s, v, c


def embedding_dora(ids, t, a, b, m, s):
    """PEFT's embedding DoRA: the norm per embedding dimension (dim), detached."""
    v = t + s * (b @ a).T
    c = m / v.detach().norm(p=2, dim=0)
    return c * F.embedding(ids, t) + c * (F.embedding(ids, a.T) @ b.T) * s, v, c


def conv_case(rng):
    n, cin, cout, k, h, w, stride, pad, r, alpha = 2, 3, 5, 3, 6, 7, 2, 1, 2, 6.0
    s = alpha / r
    wt, bias = f32(rng, cout, cin, k, k, scale=0.4), f32(rng, cout, scale=0.2)
    a = f32(rng, r, cin, k, k, scale=0.4).requires_grad_(True)
    b = f32(rng, cout, r, 1, 1, scale=0.4).requires_grad_(True)
    x = f32(rng, n, cin, h, w)
    v = wt + s * (b.flatten(1) @ a.flatten(1)).reshape(wt.shape)
    norm = v.detach().norm(p=2, dim=(1, 2, 3), keepdim=True).transpose(1, 0)  # (1, out, 1, 1), as PEFT shapes it
    m = (norm * (1 + 0.2 * f32(rng, 1, cout, 1, 1))).detach().clone().requires_grad_(True)
    y, v, c = conv_dora(x, wt, bias, a, b, m, s, stride, pad)
    loss = (torch.tanh(y) ** 2).mean()
    loss.backward()
    merged = (c.detach().transpose(0, 1)) * v.detach()  # (out, 1, 1, 1) · (out, in, k, k)
    write_adapter("adapter_conv", r, alpha, {f"{PREFIX}0.lora_A.weight": a, f"{PREFIX}0.lora_B.weight": b,
                                             f"{PREFIX}0.lora_magnitude_vector": m})
    return {"name": "conv", "stride": stride, "padding": pad, "r": r, "alpha": alpha,
            "inputs": {"W": pack(wt), "b": pack(bias), "A": pack(a), "B": pack(b), "m": pack(m), "x": pack(x)},
            "y": pack(y), "merged": pack(merged), "grads": {"A": pack(a.grad), "B": pack(b.grad), "m": pack(m.grad)}}


def embedding_case(rng):
    num, dim, r, alpha = 17, 6, 3, 4.5
    s = alpha / r
    t = f32(rng, num, dim)
    a = f32(rng, r, num, scale=0.5).requires_grad_(True)
    b = f32(rng, dim, r, scale=0.5).requires_grad_(True)
    ids = torch.tensor(rng.integers(0, num - 4, size=(3, 4)), dtype=torch.long)  # the last rows unused
    norm = (t + s * (b @ a).T).detach().norm(p=2, dim=0)  # per dimension: PEFT's transpose(weight, fan_in_fan_out=True) rows
    m = (norm * (1 + 0.2 * f32(rng, dim))).detach().clone().requires_grad_(True)
    y, v, c = embedding_dora(ids, t, a, b, m, s)
    loss = (torch.tanh(y) ** 2).mean()
    loss.backward()
    merged = c.detach().view(1, -1) * v.detach()
    write_adapter("adapter_embedding", r, alpha, {f"{PREFIX}0.lora_embedding_A": a, f"{PREFIX}0.lora_embedding_B": b,
                                                  f"{PREFIX}0.lora_magnitude_vector": m})
    return {"name": "embedding", "ids": ids.tolist(), "r": r, "alpha": alpha,
            "inputs": {"T": pack(t), "A": pack(a), "B": pack(b), "m": pack(m)},
            "y": pack(y), "merged": pack(merged), "grads": {"A": pack(a.grad), "B": pack(b.grad), "m": pack(m.grad)}}


def check(directory):
    with open(os.path.join(directory, "case.json")) as f:
        case = json.load(f)
    with open(os.path.join(directory, "adapter", "adapter_config.json")) as f:
        cfg = json.load(f)
    weights, _ = read_safetensors(os.path.join(directory, "weights.safetensors"))
    adapter, _ = read_safetensors(os.path.join(directory, "adapter", "adapter_model.safetensors"))
    io, _ = read_safetensors(os.path.join(directory, "io.safetensors"))
    if not cfg.get("use_dora") or cfg.get("peft_type") != "LORA":
        print("check: adapter_config.json is not a LoRA config with use_dora true")
        return 1
    d = torch.float64
    s = cfg["lora_alpha"] / cfg["r"]
    emb = case["kind"] == "embedding"
    keys = ([f"{PREFIX}0.lora_embedding_A", f"{PREFIX}0.lora_embedding_B"] if emb
            else [f"{PREFIX}0.lora_A.weight", f"{PREFIX}0.lora_B.weight"]) + [f"{PREFIX}0.lora_magnitude_vector"]
    if sorted(adapter) != sorted(keys):
        print(f"check: adapter keys {sorted(adapter)}, expected {sorted(keys)}")
        return 1
    a, b, m = (adapter[k].to(d) for k in keys)
    with torch.no_grad():
        if emb:
            y, _, _ = embedding_dora(io["x"].to(torch.long), weights["0.weight"].to(d), a, b, m, s)
        else:
            y, _, _ = conv_dora(io["x"].to(d), weights["0.weight"].to(d), weights["0.bias"].to(d), a, b, m, s,
                                case["stride"], case["padding"])
    ours = io["y"].to(d)
    err = (ours - y).abs().max().item() / max(y.abs().max().item(), 1e-30)
    print(f"check {case['kind']}: max |Lora - torch| / max |y| = {err:.2e} (torch {torch.__version__})")
    return 0 if err <= 1e-5 else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(29)
    os.makedirs(OUT, exist_ok=True)
    cases = [conv_case(rng), embedding_case(rng)]
    with open(os.path.join(OUT, "dora_layers.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
