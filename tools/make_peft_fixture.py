#!/usr/bin/python3
"""PyTorch side of Lora's PEFT interoperability tests.

Generate (default): builds a small PyTorch MLP (8-16-12-4, ReLU, layers in an nn.ModuleList named `layers`) and
a LoRA adapter in PEFT's file layout (r=4, lora_alpha=8, every Linear targeted, B non-zero as after training),
then writes into Lora.Tests/Fixtures/peft/:

    model.safetensors, config.json             the base model, PyTorch names: layers.{i}.weight (out, in), .bias
    adapter/adapter_config.json                 PEFT's LoraConfig fields
    adapter/adapter_model.safetensors           base_model.model.layers.{i}.lora_A.weight (r, in), .lora_B.weight (out, r)
    adapter_bias/                               a second adapter: r=2, rsLoRA, regex target_modules, bias "all"
    adapter_pattern/                            a third adapter: per-module r and lora_alpha (rank_pattern, alpha_pattern)
    adapter_save/                               a fourth adapter: LoRA on layers.0/1 and modules_to_save ["layers.2"], the
                                                head trained in full: base_model.model.layers.2.weight (out, in), .bias
    tower.safetensors                           a second base model whose paths carry PEFT layer indices: blocks
                                                model.layers.{i} = Sequential(Linear, ReLU) (8-16-12-12), then model.head
                                                (12-4); names model.layers.{i}.0.weight, model.head.weight, ...
    adapter_dora/                               a sixth adapter, DoRA (use_dora, r=2): lora_A, lora_B and
                                                base_model.model.layers.{i}.lora_magnitude_vector (out); its output in
                                                dora_io.safetensors (y_dora, float32) and dora.json (y_dora_f64)
    adapter_layers/                             a fifth adapter, for the tower: target_modules ["0", "head"] restricted by
                                                layers_to_transform [0, 2] and layers_pattern ["blocks", "layers"], so
                                                only model.layers.0.0 and model.layers.2.0 get factors (PEFT's rule,
                                                implemented independently below in peft_layer_index / peft_targets)
    io.safetensors                              x (a fixed input batch); y_base, y_lora, y_lora_bias, y_lora_pattern,
                                                y_lora_save as PyTorch computes them
    halfprec.safetensors                        F32, BF16 and F16 tensors (with edge values) to test those read paths
    expected.json                               every tensor above as float32 bit patterns, and y_base/y_lora in float64;
                                                the tower's outputs in float64, its targeted paths, and a table of layer
                                                indices PEFT's rule gives for tricky paths (layer_index_cases)

The adapted forward is PEFT's: per layer y = x W^T + b + (alpha/r) (x A^T) B^T, ReLU between layers; a layer in
modules_to_save runs its trained copy (PEFT's ModulesToSaveWrapper) with the weight and bias the adapter file holds.

Check (--check DIR): reads a directory in the same layout written by Lora (model.safetensors + config.json,
adapter/, io.safetensors with x, y_base, y_lora) and recomputes y_base and y_lora with torch, so the reverse
direction (Lora writes, PyTorch reads) is verified; every key of the adapter file must be used (LoRA factors,
trained biases, modules_to_save copies), else it fails. Exit code 0 when both agree within 1e-5 (relative to each
row's largest output), 1 otherwise.

Safetensors is written and read here from the specification (no safetensors package): an 8-byte little-endian
header length, a JSON header {name: {dtype, shape, data_offsets}} (+ "__metadata__"), then the data, tensors
sorted by descending dtype alignment then name, header padded with spaces to a multiple of 8 bytes.

Needs Debian's python3-torch and python3-numpy: run with /usr/bin/python3.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch

DTYPES = {  # name -> (numpy dtype, rank in the specification's alignment order)
    "BOOL": (np.bool_, 0), "U8": (np.uint8, 1), "I8": (np.int8, 2), "I16": (np.int16, 5), "U16": (np.uint16, 6),
    "F16": (np.float16, 7), "BF16": (np.uint16, 8), "I32": (np.int32, 9), "U32": (np.uint32, 10),
    "F32": (np.float32, 11), "F64": (np.float64, 12), "I64": (np.int64, 13), "U64": (np.uint64, 14),
}
SIZES = [8, 16, 12, 4]
RANK, ALPHA = 4, 8
PREFIX = "base_model.model."


def to_bytes(t, dtype):
    """Little-endian bytes of a torch tensor stored as dtype (BF16 via torch's own rounding)."""
    t = t.detach().contiguous()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (torch tensor, dtype name)}."""
    order = sorted(tensors, key=lambda n: (-DTYPES[tensors[n][1]][1], n.encode("utf-8")))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in order:
        t, dtype = tensors[name]
        blob = to_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: float32 torch tensor}, metadata), checking offsets tile the data section."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    at, out = 0, {}
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        begin, end = info["data_offsets"]
        if begin != at:
            raise ValueError(f"{path}: {name}: offsets do not tile the data")
        at = end
        dtype, shape = info["dtype"], info["shape"]
        buf = data[begin:end]
        if dtype == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in ("F16", "F32", "F64"):
            arr = np.frombuffer(buf, dtype={"F16": "<f2", "F32": "<f4", "F64": "<f8"}[dtype]).astype(np.float32)
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        if arr.size != math.prod(shape):
            raise ValueError(f"{path}: {name}: size does not match shape")
        out[name] = torch.from_numpy(arr.copy()).reshape(shape)
    if at != len(data):
        raise ValueError(f"{path}: tensors do not cover the data section")
    return out, metadata


ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
               "gelu": lambda v: torch.nn.functional.gelu(v)}


def pattern_key(pattern, path):
    """PEFT's rule for rank_pattern / alpha_pattern: the first key (in order) such that (.*\\.)?(key)$ matches the
    module path from its start; the path itself when none does (then .get falls back to the default)."""
    for key in pattern:
        if re.match(rf"(.*\.)?({key})$", path):
            return key
    return path


def saves_module(names, path):
    """PEFT's modules_to_save rule: a module is wrapped when its path ends with a name (plain string suffix)."""
    return any(path.endswith(name) for name in names or [])


def peft_layer_index(path, patterns):
    """PEFT's layer index of a module path (huggingface/peft check_target_module_exists at commit 005fdd5): the
    first number between dots after a dot-preceded segment, or after one of the patterns (the first that matches);
    None when there is none."""
    if not patterns:
        m = re.match(r".*?\.[^.]*\.(\d+)\.", path)
    else:
        m = None
        for pattern in ([patterns] if isinstance(patterns, str) else patterns):
            m = re.match(rf".*?\.{pattern}\.(\d+)\.", path)
            if m is not None:
                break
    return None if m is None else int(m.group(1))


def peft_targets(config, path):
    """PEFT's check_target_module_exists for a list target_modules with layers_to_transform / layers_pattern."""
    targets = config["target_modules"]
    if isinstance(targets, str):
        return re.fullmatch(targets, path) is not None
    if path in targets:
        return True  # a path listed exactly is selected whatever the layers
    found = any(path.endswith("." + t) for t in targets)
    layers = config.get("layers_to_transform")
    if found and layers is not None and (layers != [] if isinstance(layers, list) else True):
        index = peft_layer_index(path, config.get("layers_pattern"))
        if index is None:
            return False
        return index == layers if isinstance(layers, int) else index in layers
    return found


def forward(x, weights, biases, act, lora=None):
    """weights/biases: lists per layer; lora: list per layer of (A, B, s), (A, B, s, m) for DoRA, or None. Any float
    dtype. DoRA is PEFT's eval-mode form: base = x W^T, c = m / ||W + s B A|| per output row (a constant), and
    y = base + b + (c - 1) base + c s (x A^T) B^T."""
    h = x
    for i, (w, b) in enumerate(zip(weights, biases)):
        base = h @ w.T
        y = base + b
        if lora is not None and lora[i] is not None:
            a, bb, s = lora[i][:3]
            delta = s * ((h @ a.T) @ bb.T)
            if len(lora[i]) == 4:
                c = (lora[i][3] / torch.linalg.norm(w + s * (bb @ a), dim=1)).view(1, -1)
                y = y + (c - 1) * base + c * delta
            else:
                y = y + delta
        h = act(y) if i + 1 < len(weights) else y
    return h


def generate_dora(out, model, x, config):
    """adapter_dora/: PEFT's use_dora=True layout (r=2, alpha=4, every layer): lora_A, lora_B and
    base_model.model.layers.{i}.lora_magnitude_vector (out), the magnitude moved away from ||W + s B A|| as after
    training; dora_io.safetensors: x and y_dora (float32); dora.json: y_dora_f64. Its own seed, run last, so the
    other fixtures' random streams are unchanged."""
    torch.manual_seed(4242)
    r, alpha = 2, 4
    s = alpha / r
    ws = [l.weight.detach() for l in model.layers]
    bs = [l.bias.detach() for l in model.layers]
    lora, tensors = [], {}
    for i, layer in enumerate(model.layers):
        a = torch.randn(r, layer.in_features) * 0.3
        b = torch.randn(layer.out_features, r) * 0.3
        m = torch.linalg.norm(ws[i] + s * (b @ a), dim=1) * (1 + 0.2 * torch.randn(layer.out_features))
        lora.append((a, b, s, m))
        tensors[f"{PREFIX}layers.{i}.lora_A.weight"] = (a, "F32")
        tensors[f"{PREFIX}layers.{i}.lora_B.weight"] = (b, "F32")
        tensors[f"{PREFIX}layers.{i}.lora_magnitude_vector"] = (m, "F32")
    write_adapter_weights(out, "adapter_dora", tensors)
    write_adapter_config(out, "adapter_dora", dict(config, r=r, lora_alpha=alpha, use_dora=True))
    d = torch.float64
    with torch.no_grad():
        y = forward(x, ws, bs, torch.relu, lora)
        y64 = forward(x.to(d), [w.to(d) for w in ws], [b.to(d) for b in bs], torch.relu,
                      [(a.to(d), b.to(d), s, m.to(d)) for a, b, s, m in lora])
    write_safetensors(os.path.join(out, "dora_io.safetensors"), {"x": (x, "F32"), "y_dora": (y, "F32")})
    with open(os.path.join(out, "dora.json"), "w") as f:
        json.dump({"y_dora_f64": y64.tolist(), "scaling": s, "torch_version": torch.__version__}, f, indent=1)
        f.write("\n")


class Mlp(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = torch.relu(x)
        return x


class Tower(torch.nn.Module):
    """Blocks model.layers.{i} = Sequential(Linear, ReLU), then model.head: the nesting of transformers' models, so the
    Linear paths (model.layers.{i}.0) carry a layer index under PEFT's rule, while model.head has none."""

    def __init__(self, sizes):
        super().__init__()
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.ReLU())
                                                for i, o in zip(sizes[:-2], sizes[1:-1]))
        self.model.head = torch.nn.Linear(sizes[-2], sizes[-1])

    def forward(self, x):
        for block in self.model.layers:
            x = block(x)
        return self.model.head(x)


def tower_forward(x, tower, lora, dtype):
    """The tower's forward with LoRA on some Linears; lora: {path: (A, B, s)}; computed in dtype."""
    h = x.to(dtype)
    linears = [(f"model.layers.{i}.0", blk[0], True) for i, blk in enumerate(tower.model.layers)]
    linears.append(("model.head", tower.model.head, False))
    for path, lin, relu in linears:
        y = h @ lin.weight.detach().to(dtype).T + lin.bias.detach().to(dtype)
        if path in lora:
            a, b, s = lora[path]
            y = y + s * ((h @ a.to(dtype).T) @ b.to(dtype).T)
        h = torch.relu(y) if relu else y
    return h


LAYER_INDEX_PATHS = ["layers.0", "layers.0.fc", "model.layers.0", "model.layers.0.0", "model.layers.12.fc", "model.h.3.attn",
                     "a.b.3.c.4.d", "model.layers.1.mlp.experts.0.up", "model.layers.x1.fc", "0.0.1.0", "model.head",
                     "enc.blocks.2.layers.5.fc", "model.layers.07.fc", "model.my_layers.4.fc"]
LAYER_INDEX_PATTERNS = [[], ["layers"], ["h"], ["blocks", "layers"], ["(?:h|layers)"], ["lay.rs"]]


def generate_layers(out, x):
    """The fifth adapter (layers_to_transform) on the tower; returns its expected.json entries. Seeded on its own and
    drawn after everything else, so the earlier files keep their bytes."""
    torch.manual_seed(20261129)
    tower = Tower([8, 16, 12, 12, 4])
    state = {k: v.detach().clone() for k, v in tower.state_dict().items()}
    write_safetensors(os.path.join(out, "tower.safetensors"), {k: (v, "F32") for k, v in state.items()}, {"format": "pt"})
    r5, alpha5 = 3, 6
    config5 = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": ["blocks", "layers"], "layers_to_transform": [0, 2], "loftq_config": {}, "lora_alpha": alpha5,
        "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": r5, "rank_pattern": {}, "revision": None, "target_modules": ["0", "head"],
        "task_type": None, "use_dora": False, "use_rslora": False,
    }
    targeted = [name for name, m in tower.named_modules() if isinstance(m, torch.nn.Linear) and peft_targets(config5, name)]
    lora5, adapter5 = {}, {}
    for path in targeted:
        lin = tower.get_submodule(path)
        a = torch.randn(r5, lin.in_features) * 0.3
        b = torch.randn(lin.out_features, r5) * 0.3
        lora5[path] = (a, b, alpha5 / r5)
        adapter5[f"{PREFIX}{path}.lora_A.weight"] = (a, "F32")
        adapter5[f"{PREFIX}{path}.lora_B.weight"] = (b, "F32")
    write_adapter_weights(out, "adapter_layers", adapter5)
    write_adapter_config(out, "adapter_layers", config5)
    with torch.no_grad():
        y_tower64 = tower_forward(x, tower, {}, torch.float64)
        y_layers64 = tower_forward(x, tower, lora5, torch.float64)
        assert (tower(x).double() - y_tower64).abs().max().item() < 1e-5  # the plain forward is the module's own
    cases = [{"path": p, "patterns": pats, "index": peft_layer_index(p, pats)}
             for p in LAYER_INDEX_PATHS for pats in LAYER_INDEX_PATTERNS]
    return {
        "tower.safetensors": {k: expected_entry(v) for k, v in state.items()},
        "adapter_layers/adapter_model.safetensors": {k: expected_entry(v) for k, (v, _) in adapter5.items()},
        "y_tower_base_f64": y_tower64.tolist(),
        "y_lora_layers_f64": y_layers64.tolist(),
        "scaling_layers": alpha5 / r5,
        "targets_layers": targeted,
        "layer_index_cases": cases,
    }


def write_adapter_config(out, name, config):
    """adapter_config.json as PEFT writes it (json.dumps(indent=2, sort_keys=True) and a newline)."""
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def write_adapter_weights(out, name, tensors):
    os.makedirs(os.path.join(out, name), exist_ok=True)
    write_safetensors(os.path.join(out, name, "adapter_model.safetensors"), tensors, {"format": "pt"})


def bits(t):
    return [int(v) for v in t.detach().to(torch.float32).contiguous().view(torch.int32).numpy().astype(np.uint32).ravel()]


def expected_entry(t):
    return {"shape": list(t.shape), "bits": bits(t)}


def generate(out):
    torch.manual_seed(20240517)
    model = Mlp(SIZES)
    os.makedirs(out, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, "model.safetensors"), {k: (v, "F32") for k, v in state.items()}, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "mlp", "sizes": SIZES, "activation": "relu", "dropout": 0.0}, f, indent=2)
        f.write("\n")

    # PEFT's default init for A (kaiming uniform, a=sqrt(5)); B non-zero as if trained, so the adapter matters.
    lora, adapter = [], {}
    for i, layer in enumerate(model.layers):
        a = torch.empty(RANK, layer.in_features)
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        b = torch.randn(layer.out_features, RANK) * 0.2
        lora.append((a, b))
        adapter[f"{PREFIX}layers.{i}.lora_A.weight"] = (a, "F32")
        adapter[f"{PREFIX}layers.{i}.lora_B.weight"] = (b, "F32")
    write_adapter_weights(out, "adapter", adapter)
    config = {  # the fields PEFT's LoraConfig writes for a custom model
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": ALPHA,
        "lora_dropout": 0.0, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": RANK, "rank_pattern": {}, "revision": None,
        "target_modules": ["layers.0", "layers.1", "layers.2"], "task_type": None, "use_dora": False,
        "use_rslora": False,
    }
    write_adapter_config(out, "adapter", config)

    x = torch.randn(5, SIZES[0])
    s = ALPHA / RANK
    ws = [l.weight.detach() for l in model.layers]
    bs = [l.bias.detach() for l in model.layers]
    with torch.no_grad():
        y_base = model(x)
        y_lora = forward(x, ws, bs, torch.relu, [(a, b, s) for a, b in lora])
        d = lambda t: t.double()
        y_base64 = forward(d(x), [d(w) for w in ws], [d(b) for b in bs], torch.relu)
        y_lora64 = forward(d(x), [d(w) for w in ws], [d(b) for b in bs], torch.relu, [(d(a), d(b), s) for a, b in lora])
    # A second adapter for the other code paths: rsLoRA, a regex target_modules selecting two of the three
    # layers, r=2, and bias "all" (PEFT then saves every Linear's trained bias, targeted or not).
    r2, alpha2 = 2, 4
    s2 = alpha2 / math.sqrt(r2)
    lora2, adapter2, bs2 = [None] * len(ws), {}, list(bs)
    for i in (0, 2):
        layer = model.layers[i]
        a = torch.randn(r2, layer.in_features) * 0.3
        b = torch.randn(layer.out_features, r2) * 0.3
        lora2[i] = (a, b)
        adapter2[f"{PREFIX}layers.{i}.lora_A.weight"] = (a, "F32")
        adapter2[f"{PREFIX}layers.{i}.lora_B.weight"] = (b, "F32")
    for i in range(len(ws)):
        bs2[i] = bs[i] + 0.1 * torch.randn(bs[i].shape)
        adapter2[f"{PREFIX}layers.{i}.bias"] = (bs2[i], "F32")
    write_adapter_weights(out, "adapter_bias", adapter2)
    config2 = dict(config, r=r2, lora_alpha=alpha2, use_rslora=True, bias="all", target_modules=r"layers\.[02]")
    write_adapter_config(out, "adapter_bias", config2)
    with torch.no_grad():
        y_bias = forward(x, ws, bs2, torch.relu, [None if l is None else (l[0], l[1], s2) for l in lora2])
        y_bias64 = forward(d(x), [d(w) for w in ws], [d(b) for b in bs2], torch.relu,
                           [None if l is None else (d(l[0]), d(l[1]), s2) for l in lora2])

    # A third adapter for per-module ranks and alphas (PEFT's rank_pattern / alpha_pattern). The config is written
    # with sort_keys as PEFT writes it and the ranks are chosen from the file's key order, as PEFT reads it:
    # "layers.0" matches both rank keys, and the first in the file ("0") wins.
    config3 = dict(config, rank_pattern={"layers\\.[01]": 2, "0": 3}, alpha_pattern={"layers.2": 16})
    write_adapter_config(out, "adapter_pattern", config3)
    with open(os.path.join(out, "adapter_pattern", "adapter_config.json")) as f:
        read3 = json.load(f)
    lora3, adapter3, scales3 = [], {}, []
    for i, layer in enumerate(model.layers):
        path = f"layers.{i}"
        r3 = read3["rank_pattern"].get(pattern_key(read3["rank_pattern"], path), read3["r"])
        alpha3 = read3["alpha_pattern"].get(pattern_key(read3["alpha_pattern"], path), read3["lora_alpha"])
        a = torch.randn(r3, layer.in_features) * 0.3
        b = torch.randn(layer.out_features, r3) * 0.3
        lora3.append((a, b, alpha3 / r3))
        scales3.append(alpha3 / r3)
        adapter3[f"{PREFIX}{path}.lora_A.weight"] = (a, "F32")
        adapter3[f"{PREFIX}{path}.lora_B.weight"] = (b, "F32")
    write_adapter_weights(out, "adapter_pattern", adapter3)
    with torch.no_grad():
        y_pattern = forward(x, ws, bs, torch.relu, lora3)
        y_pattern64 = forward(d(x), [d(w) for w in ws], [d(b) for b in bs], torch.relu, [(d(a), d(b), s) for a, b, s in lora3])

    # A fourth adapter with modules_to_save (PEFT's SEQ_CLS setup: LoRA on the hidden layers, the head trained in
    # full). PEFT saves the copy of layers.2 under the head's own path, with ".modules_to_save.<adapter>" removed.
    # Drawn after everything above, so the earlier files keep their bytes.
    r4, alpha4 = 2, 4
    config4 = dict(config, r=r4, lora_alpha=alpha4, target_modules=["layers.0", "layers.1"], modules_to_save=["layers.2"],
                   task_type="SEQ_CLS")
    lora4, adapter4 = [None] * len(ws), {}
    for i in (0, 1):
        layer = model.layers[i]
        a = torch.randn(r4, layer.in_features) * 0.3
        b = torch.randn(layer.out_features, r4) * 0.3
        lora4[i] = (a, b, alpha4 / r4)
        adapter4[f"{PREFIX}layers.{i}.lora_A.weight"] = (a, "F32")
        adapter4[f"{PREFIX}layers.{i}.lora_B.weight"] = (b, "F32")
    ws4, bs4 = list(ws), list(bs)
    for i, layer in enumerate(model.layers):
        if saves_module(config4["modules_to_save"], f"layers.{i}"):  # the trained copy differs from the base head
            ws4[i] = ws[i] + 0.2 * torch.randn(ws[i].shape)
            bs4[i] = bs[i] + 0.2 * torch.randn(bs[i].shape)
            adapter4[f"{PREFIX}layers.{i}.weight"] = (ws4[i], "F32")
            adapter4[f"{PREFIX}layers.{i}.bias"] = (bs4[i], "F32")
    write_adapter_weights(out, "adapter_save", adapter4)
    write_adapter_config(out, "adapter_save", config4)
    with torch.no_grad():
        y_save = forward(x, ws4, bs4, torch.relu, lora4)
        y_save64 = forward(d(x), [d(w) for w in ws4], [d(b) for b in bs4], torch.relu,
                           [None if l is None else (d(l[0]), d(l[1]), l[2]) for l in lora4])

    io = {"x": x, "y_base": y_base, "y_lora": y_lora, "y_lora_bias": y_bias, "y_lora_pattern": y_pattern,
          "y_lora_save": y_save}
    write_safetensors(os.path.join(out, "io.safetensors"), {k: (v, "F32") for k, v in io.items()})

    # Narrow types: weights plus edge values (signed zero, infinities, the smallest subnormals, rounding ties).
    edge = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 1e-8, 6e-8, 3.0e38, float("inf"), float("-inf"), 1.00390625, 0.1])
    half = {"f32.weight": (ws[1], "F32"), "bf16.weight": (ws[0], "BF16"), "f16.weight": (ws[0], "F16"),
            "bf16.edge": (edge, "BF16"), "f16.edge": (edge, "F16")}
    write_safetensors(os.path.join(out, "halfprec.safetensors"), half, {"note": "F32, BF16 and F16 read paths"})
    as_read = {"F32": lambda t: t.float(), "BF16": lambda t: t.to(torch.bfloat16).float(),
               "F16": lambda t: t.to(torch.float16).float()}

    expected = {
        "model.safetensors": {k: expected_entry(v) for k, v in state.items()},
        "adapter/adapter_model.safetensors": {k: expected_entry(v) for k, (v, _) in adapter.items()},
        "adapter_bias/adapter_model.safetensors": {k: expected_entry(v) for k, (v, _) in adapter2.items()},
        "adapter_pattern/adapter_model.safetensors": {k: expected_entry(v) for k, (v, _) in adapter3.items()},
        "adapter_save/adapter_model.safetensors": {k: expected_entry(v) for k, (v, _) in adapter4.items()},
        "io.safetensors": {k: expected_entry(v) for k, v in io.items()},
        "halfprec.safetensors": {k: expected_entry(as_read[dt](v)) for k, (v, dt) in half.items()},
        "scaling": s,
        "y_base_f64": y_base64.tolist(),
        "y_lora_f64": y_lora64.tolist(),
        "y_lora_bias_f64": y_bias64.tolist(),
        "scaling_bias": s2,
        "y_lora_pattern_f64": y_pattern64.tolist(),
        "scalings_pattern": scales3,
        "y_lora_save_f64": y_save64.tolist(),
        "scaling_save": alpha4 / r4,
        "torch_version": torch.__version__,
    }
    expected.update(generate_layers(out, x))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    generate_dora(out, model, x, config)
    print(f"wrote fixture to {out}")


def check(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    sizes, act = cfg["sizes"], ACTIVATIONS[cfg.get("activation", "relu")]
    base, _ = read_safetensors(os.path.join(directory, "model.safetensors"))
    n = len(sizes) - 1
    ws = [base[f"layers.{i}.weight"].double() for i in range(n)]
    bs = [base[f"layers.{i}.bias"].double() for i in range(n)]
    with open(os.path.join(directory, "adapter", "adapter_config.json")) as f:
        acfg = json.load(f)
    tensors, _ = read_safetensors(os.path.join(directory, "adapter", "adapter_model.safetensors"))
    lora, adapted_ws, adapted_bs = [None] * n, list(ws), list(bs)
    ranks, alphas = acfg.get("rank_pattern") or {}, acfg.get("alpha_pattern") or {}
    used = set()
    for i in range(n):
        key = f"{PREFIX}layers.{i}"
        r = ranks.get(pattern_key(ranks, f"layers.{i}"), acfg["r"])
        alpha = alphas.get(pattern_key(alphas, f"layers.{i}"), acfg["lora_alpha"])
        s = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
        if saves_module(acfg.get("modules_to_save"), f"layers.{i}"):  # the trained copy replaces the whole layer
            assert key + ".lora_A.weight" not in tensors, f"layer {i}: LoRA factors on a modules_to_save layer"
            adapted_ws[i], adapted_bs[i] = tensors[key + ".weight"].double(), tensors[key + ".bias"].double()
            assert adapted_ws[i].shape == ws[i].shape and adapted_bs[i].shape == bs[i].shape, f"layer {i}: copy shapes"
            used |= {key + ".weight", key + ".bias"}
            continue
        if key + ".lora_A.weight" in tensors:
            a, b = tensors[key + ".lora_A.weight"].double(), tensors[key + ".lora_B.weight"].double()
            assert a.shape == (r, sizes[i]) and b.shape == (sizes[i + 1], r), f"layer {i}: A {a.shape}, B {b.shape}"
            lora[i] = (a, b, s)
            used |= {key + ".lora_A.weight", key + ".lora_B.weight"}
            if acfg.get("use_dora"):  # PEFT's DoRA: a magnitude per output, required
                m = tensors[key + ".lora_magnitude_vector"].double()
                assert m.shape == (sizes[i + 1],), f"layer {i}: magnitude {m.shape}"
                lora[i] = (a, b, s, m)
                used.add(key + ".lora_magnitude_vector")
        if key + ".bias" in tensors:  # bias "all"/"lora_only": the adapter carries the trained bias
            adapted_bs[i] = tensors[key + ".bias"].double()
            used.add(key + ".bias")
    unused = sorted(set(tensors) - used)
    if unused:
        print(f"adapter keys not used: {unused}  MISMATCH")
        print("check FAILED")
        return 1
    io, _ = read_safetensors(os.path.join(directory, "io.safetensors"))
    x = io["x"].double()
    ok = True
    for name, y in (("y_base", forward(x, ws, bs, act)), ("y_lora", forward(x, adapted_ws, adapted_bs, act, lora))):
        theirs = io[name].double()
        scale = y.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
        rel = ((theirs - y).abs() / scale).max().item()
        good = rel <= 1e-5
        ok &= good
        print(f"{name}: max |lora - torch| / row max = {rel:.3e}  {'ok' if good else 'MISMATCH'}")
    print("check passed" if ok else "check FAILED")
    return 0 if ok else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(here, "..", "Lora.Tests", "Fixtures", "peft"))
    p.add_argument("--check", metavar="DIR", help="verify a directory written by Lora instead of generating")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.check:
        sys.exit(check(args.check))
    generate(os.path.normpath(args.out))


if __name__ == "__main__":
    main()
