#!/usr/bin/python3
"""Writes the PyTorch cross-check fixtures for ElmanRnn and Gru (Lora.Tests/Fixtures/rnn/*.json).

Each case builds torch.nn.RNN(nonlinearity="tanh") or torch.nn.GRU with batch_first=True and one layer, sets its
weights from float32 values, and evaluates it in float64 (so the expected values carry no float32 rounding of
their own) on a float32 input x (N, T, in) and initial state h0 (N, H). The scalar loss is L = sum(proj * out)
with a fixed float32 projection proj (N, T, H); the fixture holds the output, the loss and dL/d of x, h0 and every
weight and bias. PyTorch's names map to Lora's: weight_ih_l0 -> ih.weight, bias_ih_l0 -> ih.bias,
weight_hh_l0 -> hh.weight, bias_hh_l0 -> hh.bias (GRU rows in PyTorch's gate order r, z, n).
The C# test (Lora.Tests/Core/Modules/RecurrentTorchFixtureTests.cs) needs no Python.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tools/make_rnn_fixtures.py
"""
import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Lora.Tests", "Fixtures", "rnn")


def f32(rng, *shape, scale=1.0):
    """Uniform(-scale, scale) values rounded to float32, held in float64 for the reference computation."""
    return torch.tensor(rng.uniform(-scale, scale, size=shape).astype(np.float32), dtype=torch.float64)


def pack(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def case(name, cell, n, steps, inputs, hidden, seed):
    rng = np.random.default_rng(seed)
    gates = 3 if cell == "gru" else 1
    if cell == "gru":
        net = torch.nn.GRU(inputs, hidden, num_layers=1, batch_first=True)
    else:
        net = torch.nn.RNN(inputs, hidden, num_layers=1, nonlinearity="tanh", batch_first=True)
    net = net.double()
    # Weights larger than PyTorch's default U(±1/√H) so that the gates leave their linear range.
    values = {
        "weight_ih_l0": f32(rng, gates * hidden, inputs, scale=0.7),
        "weight_hh_l0": f32(rng, gates * hidden, hidden, scale=0.7),
        "bias_ih_l0": f32(rng, gates * hidden, scale=0.5),
        "bias_hh_l0": f32(rng, gates * hidden, scale=0.5),
    }
    with torch.no_grad():
        for key, v in values.items():
            getattr(net, key).copy_(v)
    x = f32(rng, n, steps, inputs).requires_grad_(True)
    h0 = f32(rng, n, hidden).requires_grad_(True)
    proj = f32(rng, n, steps, hidden)
    out, h_n = net(x, h0.unsqueeze(0))
    assert torch.equal(out[:, -1, :], h_n[0])
    loss = (out * proj).sum()
    loss.backward()
    names = {"weight_ih_l0": "ih.weight", "bias_ih_l0": "ih.bias", "weight_hh_l0": "hh.weight", "bias_hh_l0": "hh.bias"}
    return {
        "name": name, "cell": cell, "n": n, "steps": steps, "input_size": inputs, "hidden_size": hidden,
        "torch_version": torch.__version__,
        "inputs": {**{names[k]: pack(v) for k, v in values.items()}, "x": pack(x), "h0": pack(h0), "proj": pack(proj)},
        "output": pack(out), "loss": float(loss),
        "grads": {**{names[k]: pack(getattr(net, k).grad) for k in values}, "x": pack(x.grad), "h0": pack(h0.grad)},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for c in [case("elman", "elman", 3, 5, 4, 10, 1), case("gru", "gru", 3, 5, 4, 10, 2)]:
        path = os.path.join(OUT, c["name"] + ".json")
        with open(path, "w") as f:
            json.dump(c, f, separators=(",", ":"))
            f.write("\n")
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
