#!/usr/bin/python3
"""PyTorch reference for `quick mlp`: one training step of a 784-1024-1024-10 ReLU MLP, batch 128,
cross-entropy, AdamW, either LoRA (r=8, alpha=16 on all three Linear layers, base frozen, PEFT's layer
structure), the same with DoRA (--modes dora: PEFT's DoRA forward), or full fine-tuning. Prints JSON lines like Lora.Bench's quick mode:
  {"kernel": "mlp_step", "impl": "torch", "mode": "lora", "threads": 1, "ms": 3.2}

Usage: OPENBLAS_NUM_THREADS=N /usr/bin/python3 Lora.Bench/compare/mlp_step.py --threads N [--steps 30] [--clock cpu]
(the script sets torch.set_num_threads(N) and refuses to run when OPENBLAS_NUM_THREADS differs from N; where
OpenBLAS would fall back to generic kernels on an unrecognised CPU it restarts with OPENBLAS_CORETYPE set: blas_core.py).
"""
import argparse, json, math, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_core import ensure_best_core  # noqa: E402

BLAS_CORE = ensure_best_core("mlp_step.py")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class LoraLinear(nn.Module):
    """PEFT's LoRA Linear: base(x) + lora_B(lora_A(dropout(x))) * alpha/r, base frozen."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class DoraLinear(LoraLinear):
    """PEFT's DoRA Linear (eval-mode form, no dropout): c = m / ||W + s B A|| per output row, detached, and
    base(x) + (c - 1) (x W^T) + c s lora_B(lora_A(x)); B A formed as PEFT forms it, through an identity."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__(base, r, alpha)
        with torch.no_grad():
            self.magnitude = nn.Parameter(torch.linalg.norm(base.weight, dim=1))  # B = 0: ||W + s B A|| = ||W||

    def forward(self, x):
        eye = torch.eye(self.lora_A.in_features, dtype=x.dtype)
        lora_weight = self.lora_B(self.lora_A(eye)).T
        norm = torch.linalg.norm(self.base.weight + self.scaling * lora_weight.detach(), dim=1).detach()
        c = (self.magnitude / norm).view(1, -1)
        result = self.base(x)
        base = result - self.base.bias
        return result + (c - 1) * base + c * self.lora_B(self.lora_A(x)) * self.scaling


def build(mode: str, sizes, r: int, alpha: float) -> nn.Module:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if mode in ("lora", "dora"):
        for i, m in enumerate(model):
            if isinstance(m, nn.Linear):
                model[i] = (DoraLinear if mode == "dora" else LoraLinear)(m, r, alpha)
    return model


def time_steps(mode: str, threads: int, steps: int, warmup: int, cpu: bool) -> float:
    torch.manual_seed(0)
    sizes, batch = [784, 1024, 1024, 10], 128
    model = build(mode, sizes, r=8, alpha=16.0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, foreach=False)
    x = torch.randn(batch, sizes[0])
    y = torch.randint(0, sizes[-1], (batch,))
    clock = time.thread_time if cpu else time.perf_counter
    times = []
    for s in range(warmup + steps):
        t0 = clock()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t1 = clock()
        if s >= warmup:
            times.append((t1 - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--modes", default="lora,full")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: this thread's CPU time (only meaningful with --threads 1, where torch and OpenBLAS compute on the calling thread)")
    a = ap.parse_args()
    if a.clock == "cpu" and a.threads != 1:
        sys.exit("mlp_step.py: --clock cpu needs --threads 1")
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if env != str(a.threads):
        sys.exit(f"mlp_step.py: set OPENBLAS_NUM_THREADS={a.threads} (got {env}) so BLAS and torch use the same threads")
    torch.set_num_threads(a.threads)
    for mode in a.modes.split(","):
        ms = time_steps(mode, a.threads, a.steps, a.warmup, a.clock == "cpu")
        print(json.dumps({"kernel": "mlp_step", "impl": "torch", "mode": mode, "threads": a.threads, "clock": a.clock, "ms": round(ms, 3), "blas_core": BLAS_CORE}))


if __name__ == "__main__":
    main()
