#!/usr/bin/env python3
"""tools/summarize_mlp_pairs.py OUTDIR...: the pairs tools/measure_mlp_pairs.sh wrote, as PyTorch ÷ ours per pair
(LoRA mode), LoRA ÷ full for ours, and over all one-thread pairs the range, median and count at or above 1.5."""
import json, statistics, sys


def lora(path, mode="lora"):
    try:
        with open(path) as f:
            return [json.loads(l)["ms"] for l in f if l.startswith("{") and f'"mode": "{mode}"' in l.replace('":"', '": "')]
    except FileNotFoundError:
        return []


one_thread = []
for d in sys.argv[1:]:
    for kind in ("cpu1", "wall1", "wall2"):
        ours, torch, full = lora(f"{d}/ours.{kind}"), lora(f"{d}/torch.{kind}"), lora(f"{d}/ours.{kind}", "full")
        ratios = [t / o for o, t in zip(ours, torch)]
        if kind != "wall2":
            one_thread += ratios
        print(d, kind, "ours", [round(x, 2) for x in ours], "torch", [round(x, 2) for x in torch],
              "torch/ours", [round(x, 2) for x in ratios], "lora/full", [round(o / f, 2) for o, f in zip(ours, full)])
if one_thread:
    print(f"one thread: {len(one_thread)} pairs, {min(one_thread):.2f}-{max(one_thread):.2f}, "
          f"median {statistics.median(one_thread):.3f}, {sum(r >= 1.5 for r in one_thread)} at or above 1.5")
