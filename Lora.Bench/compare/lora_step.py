#!/usr/bin/python3
"""PyTorch reference for `quick lora`: the same five operations on the same shapes, timed the same way
(kernels interleaved in rounds, median over rounds of the time per call). Prints JSON lines like Lora.Bench's
quick mode, with "impl": "torch":
  {"kernel": "lora_step", "impl": "torch", "n": 256, "d": 1024, "k": 1024, "r": 8, "threads": 1, "ms": 12.3}

Kernels (x (n, k), W (d, k), A (r, k), B (d, r), s = 2, no bias; a step's backward takes dy = ones):
  plain_forward    y = x @ W.T                                   (F.linear)
  lora_forward     y = x @ W.T + s * (x @ A.T) @ B.T             (PEFT's layer: base(x) + lora_B(lora_A(x)) * s)
  unfused_forward  the same as lora_forward (PyTorch has no fused form; kept so the tables line up)
  lora_step        lora_forward, then backward: dx, dA, dB (W frozen)
  full_step        plain_forward, then backward: dx, dW

Usage: OPENBLAS_NUM_THREADS=N /usr/bin/python3 Lora.Bench/compare/lora_step.py --threads N [--rounds 7]
       [--clock cpu] [--shape n,d,k,r]
(the script sets torch.set_num_threads(N) and refuses to run when OPENBLAS_NUM_THREADS differs from N; where
OpenBLAS would fall back to generic kernels on an unrecognised CPU it restarts with OPENBLAS_CORETYPE set: blas_core.py).
--clock cpu times with the process CPU clock (time.process_time), as `quick lora --clock cpu` does.
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blas_core import ensure_best_core  # noqa: E402

BLAS_CORE = ensure_best_core("lora_step.py")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SHAPES = [(256, 1024, 1024, 8), (256, 1024, 1024, 64), (256, 4096, 4096, 8), (16, 4096, 4096, 8), (1, 4096, 4096, 8)]
SCALE = 2.0


def kernels(n, d, k, r):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, k, generator=g) * 2 - 1).requires_grad_(True)
    w = ((torch.rand(d, k, generator=g) * 2 - 1) / k ** 0.5)
    a = ((torch.rand(r, k, generator=g) * 2 - 1) / k ** 0.5).requires_grad_(True)
    b = ((torch.rand(d, r, generator=g) * 2 - 1) * 0.01).requires_grad_(True)
    wf = w.clone().requires_grad_(True)  # the full fine-tuning copy: trainable
    dy = torch.ones(n, d)

    def plain_forward():
        with torch.no_grad():
            return F.linear(x, w)

    def lora_forward():
        with torch.no_grad():
            return F.linear(x, w) + F.linear(F.linear(x, a), b) * SCALE

    def lora_step():
        x.grad = a.grad = b.grad = None
        y = F.linear(x, w) + F.linear(F.linear(x, a), b) * SCALE
        y.backward(dy)

    def full_step():
        x.grad = wf.grad = None
        y = F.linear(x, wf)
        y.backward(dy)

    return [("plain_forward", plain_forward), ("lora_forward", lora_forward), ("unfused_forward", lora_forward),
            ("lora_step", lora_step), ("full_step", full_step)]


def measure(ks, rounds, clock):
    reps = []
    for _, body in ks:
        body(); body()
        t0 = time.perf_counter(); body(); once = time.perf_counter() - t0
        reps.append(max(1, min(10000, int(0.03 / max(once, 1e-7)))))
    samples = [[] for _ in ks]
    for _ in range(rounds):
        for i, (_, body) in enumerate(ks):
            t0 = clock()
            for _ in range(reps[i]):
                body()
            samples[i].append((clock() - t0) * 1e3 / reps[i])
    return [sorted(s)[len(s) // 2] for s in samples]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--shape")
    args = ap.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        print(f"set OPENBLAS_NUM_THREADS={args.threads} to match --threads", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    shapes = [tuple(int(v) for v in args.shape.split(","))] if args.shape else SHAPES
    for n, d, k, r in shapes:
        ks = kernels(n, d, k, r)
        for (name, _), ms in zip(ks, measure(ks, args.rounds, clock)):
            print(json.dumps({"kernel": name, "impl": "torch", "n": n, "d": d, "k": k, "r": r,
                              "threads": args.threads, "clock": args.clock, "ms": round(ms, 4), "blas_core": BLAS_CORE}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
