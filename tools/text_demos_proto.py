#!/usr/bin/python3
"""PyTorch prototype of the two text demos (lora train --model rnn|embedding), used to choose sizes, epochs and
learning rates before building them in Lora. It reads the same embedded excerpts and normalises them the same way
as Lora.Core/Data/CharVocabulary.cs, splits them into the same interleaved train/test blocks, and runs:

  rnn:       embedding -> GRU -> Linear head, pretrained on text A (KJV Genesis-Exodus), then adapted to text B
             (The Devil's Dictionary) by LoRA on the GRU's ih and hh (and the head), against full fine-tuning.
  embedding: hashed n-gram contexts -> Embedding table -> Linear head; LoRA on the table (PEFT's embedding
             formulation: A (r, num) = 0, B (dim, r) ~ N(0, 1), delta = s * (B A)^T), against full fine-tuning.

Reports test-B perplexity and top-1 next-character accuracy before and after, trainable parameter counts, time.
Run with Debian's python3-torch:  /usr/bin/python3 tools/text_demos_proto.py rnn|embedding [key=value ...]
"""
import gzip
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Lora.Core", "Data", "Resources")
# Must match CharVocabulary.Default: id 0 = unknown, then space, punctuation, letters.
COSINE = 0
VOCAB = "\u0000 !\"'(),-.:;?abcdefghijklmnopqrstuvwxyz"


def load(name):
    path = name if os.path.isabs(name) else os.path.join(RES, name)
    with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
        text = f.read()
    text = " ".join(text.lower().split())  # lowercase, whitespace runs -> one space, trimmed
    index = {c: i for i, c in enumerate(VOCAB)}
    return torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)


def split(ids, block=2048, every=10):
    """Interleaved contiguous blocks: block k is test when k % every == every - 1."""
    train, test = [], []
    for k, s in enumerate(range(0, len(ids), block)):
        (test if k % every == every - 1 else train).append(ids[s:s + block])
    return train, test


def windows(segments, t):
    xs, ys = [], []
    for seg in segments:
        for s in range(0, len(seg) - t, t):
            xs.append(seg[s:s + t]); ys.append(seg[s + 1:s + t + 1])
    return torch.stack(xs), torch.stack(ys)


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.empty(r, base.in_features)); nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.s = alpha / r

    def forward(self, x):
        return self.base(x) + self.s * (x @ self.a.t()) @ self.b.t()


class CharGru(nn.Module):
    """Embedding -> GRU (PyTorch gate order r, z, n; weights ih (3h, e), hh (3h, h) as Lora's Gru children) -> head.
    LoRA on ih/hh adds s * B A to the weight, which gives the same outputs as adding s * (x A^T) B^T to the Linear
    output in Lora; the fused torch GRU on the effective weights keeps the prototype fast."""
    def __init__(self, v, e, h):
        super().__init__()
        self.emb = nn.Embedding(v, e)
        self.ih = nn.Linear(e, 3 * h)
        self.hh = nn.Linear(h, 3 * h)
        for p in list(self.ih.parameters()) + list(self.hh.parameters()):
            nn.init.uniform_(p, -1 / math.sqrt(h), 1 / math.sqrt(h))
        self.head = nn.Linear(h, v)
        self.h = h

    @staticmethod
    def weight(layer):
        if isinstance(layer, LoraLinear):
            return layer.base.weight + layer.s * layer.b @ layer.a, layer.base.bias
        return layer.weight, layer.bias

    def forward(self, x):
        n, t = x.shape
        (wi, bi), (wh, bh) = self.weight(self.ih), self.weight(self.hh)
        h0 = torch.zeros(1, n, self.h)
        out, _ = torch._VF.gru(self.emb(x), h0, [wi, wh, bi, bh], True, 1, 0.0, self.training, False, True)
        return self.head(out)


def evaluate(model, x, y, bs=512):
    model.eval()
    nll, right, count = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            logits = model(x[i:i + bs]).reshape(-1, len(VOCAB))
            tgt = y[i:i + bs].reshape(-1)
            nll += F.cross_entropy(logits, tgt, reduction="sum").item()
            right += (logits.argmax(1) == tgt).sum().item(); count += len(tgt)
    model.train()
    return math.exp(nll / count), right / count


def rate(lr, step, total, sched, warm):
    """The learning rate at step (0-based) of total: 'const', or 'wcos' = Lora's LearningRateSchedule.WarmupCosine
    (linear warm-up lr*(t+1)/W over W = ceil(warm*total) steps, then cosine decay to 0 at total)."""
    if sched == "const": return lr
    w = min(math.ceil(warm * total), total - 1)
    if step < w: return lr * (step + 1) / w
    return lr * 0.5 * (1 + math.cos(math.pi * min(step - w, total - w) / (total - w)))


def fit(model, x, y, epochs, lr, bs, seed, wd=0.0, max_steps=None, sched=None, warm=0.0, each=None):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    g = torch.Generator().manual_seed(seed)
    steps = 0; t0 = time.time(); tokens = 0
    total = epochs * ((len(x) + bs - 1) // bs)
    sched = sched or ("cos" if COSINE else "const")
    if sched == "cos": sched, warm = "wcos", 0.0
    for ep in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            for gr in opt.param_groups: gr["lr"] = rate(lr, steps, total, sched, warm)
            logits = model(x[idx])
            loss = F.cross_entropy(logits.reshape(-1, len(VOCAB)), y[idx].reshape(-1))
            opt.zero_grad(); loss.backward(); opt.step()
            steps += 1; tokens += y[idx].numel()
            if max_steps and steps >= max_steps: break
        if each: each(ep)
    return tokens / (time.time() - t0)


def count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def copy_model(m, make):
    c = make(); c.load_state_dict(m.state_dict()); return c


class HashedNgram(nn.Module):
    """Next character from the previous k characters: one table row per (order, context) for orders 1..k, exact
    for orders 1-2, hashed for higher orders; rows concatenated and mapped by a Linear head."""
    def __init__(self, rows, dim, orders):
        super().__init__()
        self.table = nn.Embedding(rows, dim)
        self.head = nn.Linear(orders * dim, len(VOCAB))
        self.orders = orders

    def forward(self, ids):  # ids (n, orders) -> (n, V)
        e = self.table(ids)
        if hasattr(self, "la"):
            e = e + self.s * F.embedding(ids, self.la.t()) @ self.lb.t()
        return self.head(e.reshape(len(ids), -1))


def ngram_features(segments, orders, rows):
    v = len(VOCAB)
    xs, ys = [], []
    for seg in segments:
        s = seg.tolist()
        for p in range(orders, len(s)):
            f = []
            for k in range(1, orders + 1):
                ctx = s[p - k:p]
                if k == 1: f.append(ctx[0])
                elif k == 2: f.append(v + ctx[0] * v + ctx[1])
                else:
                    h = 0xcbf29ce484222325 ^ k
                    for c in ctx: h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
                    base = v + v * v
                    f.append(base + h % (rows - base))
            xs.append(f); ys.append(s[p])
    return torch.tensor(xs), torch.tensor(ys)


def lora_rank(spec, name):
    """spec 'ih=8,hh=16,head=8' (a missing module is not adapted) -> rank of name or 0."""
    for part in spec.split(","):
        k, v = part.split("=") if "=" in part else (part, "8")
        if k == name: return int(v)
    return 0


def delta_report(base, tuned, names, ranks=(4, 8, 16, 32)):
    """Singular values of the full fine-tuning update W_tuned - W_base of each matrix: the share of its energy
    (squared Frobenius norm) in the top k directions and the count needed for 90% of it."""
    out = {}
    for n in names:
        d = (getattr(tuned, n).weight - getattr(base, n).weight).detach().double()
        sv = torch.linalg.svdvals(d); e = sv ** 2 / (sv ** 2).sum(); c = torch.cumsum(e, 0)
        k90 = int((c < 0.9).sum().item()) + 1
        erank = math.exp(-(e * torch.log(e.clamp_min(1e-30))).sum().item())
        rel = (d.norm() / getattr(base, n).weight.detach().double().norm()).item()
        print(f"  delta {n} {tuple(d.shape)}: |dW|/|W| {rel:.3f}; energy in top " +
              ", ".join(f"{k}: {c[k - 1].item():.3f}" for k in ranks) + f"; 90% needs {k90}; entropy rank {erank:.1f}")
        out[n] = d
    return out


def truncated(base, tuned, make, names, k):
    """The fine-tuned model with each named matrix's update cut to its best rank-k approximation (others as tuned)."""
    m = copy_model(tuned, make)
    with torch.no_grad():
        for n in names:
            d = getattr(tuned, n).weight - getattr(base, n).weight
            u, sv, vh = torch.linalg.svd(d, full_matrices=False)
            getattr(m, n).weight.copy_(getattr(base, n).weight + (u[:, :k] * sv[:k]) @ vh[:k])
    return m


def rnn_runs(cfg, g, a_train, a_test, b_train, b_test):
    """Pretrains the base once (cached in /tmp), then runs the ';'-separated runs of runs=..., each
    'full|lora' followed by ':key=value' settings: lr, ep, sched (const|wcos), warm (fraction of the steps),
    only (full: comma-separated trainable modules among emb, ih, hh, head), r (lora: e.g. ih=8,hh=8,head=8),
    alpha, rs=1 (lora: rank-stabilised scale alpha/sqrt(r)), train (lora: modules trained in full besides the adapters,
    e.g. head), diag=1 (full: SVD of the updates and rank-k truncations), curve=1 (test perplexity after every epoch).
    Top-level keys besides the sizes: atext=PATH (pretraining text instead of Genesis-Exodus, plain or .gz; give the
    base cache a name with atag=...), pe/plr/psched (pretraining epochs, rate, schedule), bsub=K[:O] (adapt on every
    K-th training block of B from block O; the test blocks stay all of B's)."""
    T, E, H, BS = g("t", 64), g("e", 32), g("h", 192), g("bs", 32)
    make = lambda: CharGru(len(VOCAB), E, H)
    if "bsub" in cfg:  # adapt on every k-th training block of B only (offset o): the small-data regime
        k, o = (int(v) for v in (cfg["bsub"] + ":0").split(":")[:2])
        b_train = b_train[o::k]
    xa, ya = windows(a_train, T); xb, yb = windows(b_train, T); xbt, ybt = windows(b_test, T)
    print(f"A train windows {len(xa)}, B train windows {len(xb)}, B test windows {len(xbt)}")
    pe, plr = g("pe", 3), g("plr", 3e-3)
    psched = cfg.get("psched", "const")  # the pretraining's schedule (wcos: warm-up over 5% of the steps + cosine)
    cache = f"/tmp/text_demos_proto_base_{E}_{H}_{pe}_{plr}_{BS}" + ("" if psched == "const" else "_" + psched) + cfg.get("atag", "") + ".pt"
    base = make()
    if os.path.exists(cache):
        base.load_state_dict(torch.load(cache))
    else:
        t0 = time.time(); tps = fit(base, xa, ya, pe, plr, BS, 1, sched=psched, warm=0.05)
        torch.save(base.state_dict(), cache)
        print(f"pretrain {time.time() - t0:.1f}s  {tps:.0f} tok/s  params {count(base)}")
    total = count(base)
    xat, yat = windows(a_test, T)
    print("base on A (held out): ppl %.3f acc %.4f" % evaluate(base, xat, yat))
    print("before: ppl %.3f acc %.4f" % evaluate(base, xbt, ybt), flush=True)
    for run in cfg.get("runs", "full;lora").split(";"):
        kind, *kv = run.split(":")
        o = dict(x.split("=", 1) for x in kv)
        torch.manual_seed(g("seed", 1))
        m = copy_model(base, make)
        if kind == "full":
            only = o.get("only")
            if only:
                for n, p in m.named_parameters():
                    p.requires_grad = n.split(".")[0] in only.split(",")
            lr, ep = float(o.get("lr", 4e-3)), int(o.get("ep", 2))
        else:
            for p in m.parameters(): p.requires_grad = False
            spec, al = o.get("r", "ih=8,hh=8,head=8"), float(o.get("alpha", 16))
            for n in ("ih", "hh", "head"):
                r = lora_rank(spec, n)
                if r: setattr(m, n, LoraLinear(getattr(m, n), r, al if "rs" not in o else al * math.sqrt(r)))
            for n in o.get("train", "").split(","):  # PEFT's modules_to_save: these modules train in full
                if n:
                    for p in getattr(m, n).parameters(): p.requires_grad = True
            lr, ep = float(o.get("lr", 1e-2)), int(o.get("ep", 3))
        t1 = time.time()
        curve = []
        each = (lambda e: curve.append("%.3f/%.4f" % evaluate(m, xbt, ybt))) if o.get("curve") else None
        fit(m, xb, yb, ep, lr, BS, 2, sched=o.get("sched", "const"), warm=float(o.get("warm", 0.0)), each=each)
        if curve: print("  per epoch: " + " ".join(curve))
        ppl, acc = evaluate(m, xbt, ybt)
        print(f"{run}: ppl {ppl:.3f} acc {acc:.4f} params {count(m)} ({count(m) / total:.3f})  {time.time() - t1:.1f}s", flush=True)
        if kind == "full" and o.get("diag"):
            names = ["ih", "hh", "head"]
            delta_report(base, m, names)
            for k in (4, 8, 16, 32):
                print(f"  full with every update cut to rank {k}: ppl %.3f acc %.4f" % evaluate(truncated(base, m, make, names, k), xbt, ybt))
            for n in names:
                print(f"  full with only {n}'s update cut to rank 8: ppl %.3f acc %.4f" % evaluate(truncated(base, m, make, [n], 8), xbt, ybt))


def main():
    kind = sys.argv[1]
    cfg = dict(a.split("=", 1) for a in sys.argv[2:])
    g = lambda k, d: type(d)(cfg.get(k, d))
    global COSINE
    COSINE = g("cosine", 0)
    torch.set_num_threads(g("threads", 1))
    torch.manual_seed(g("seed", 1))
    a, b = load(cfg.get("atext", "kjv-genesis-exodus.txt.gz")), load("devils-dictionary.txt.gz")
    a_train, a_test = split(a); b_train, b_test = split(b)
    print(f"A {len(a)} chars, B {len(b)} chars; unknown in B {(b == 0).float().mean():.4f}")
    t0 = time.time()
    if kind == "rnn":
        rnn_runs(cfg, g, a_train, a_test, b_train, b_test)
    else:
        K, R, D = g("k", 4), g("rows", 8192), g("d", 64)
        make = lambda: HashedNgram(R, D, K)
        xa, ya = ngram_features(a_train, K, R); xb, yb = ngram_features(b_train, K, R); xbt, ybt = ngram_features(b_test, K, R)
        print(f"features {time.time() - t0:.1f}s; distinct rows used A {len(torch.unique(xa))} B {len(torch.unique(xb))}")
        base = make()
        ev = lambda m: evaluate(m, xbt, ybt.unsqueeze(1)) if False else ev2(m)
        def ev2(m):
            m.eval()
            with torch.no_grad():
                lg = m(xbt); nll = F.cross_entropy(lg, ybt).item(); acc = (lg.argmax(1) == ybt).float().mean().item()
            m.train(); return math.exp(nll), acc
        def fit2(m, x, y, epochs, lr, bs, seed, wd=0.0):
            params = [p for p in m.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
            gg = torch.Generator().manual_seed(seed); steps = 0; total = epochs * ((len(x) + bs - 1) // bs)
            for ep in range(epochs):
                perm = torch.randperm(len(x), generator=gg)
                for i in range(0, len(x), bs):
                    idx = perm[i:i + bs]
                    if COSINE:
                        for gr in opt.param_groups: gr["lr"] = lr * 0.5 * (1 + math.cos(math.pi * steps / total))
                    loss = F.cross_entropy(m(x[idx]), y[idx]); opt.zero_grad(); loss.backward(); opt.step(); steps += 1
        t1 = time.time()
        fit2(base, xa, ya, g("pe", 2), g("plr", 1e-2), g("bs", 256), 1, g("wd", 0.0))
        print(f"pretrain {time.time() - t1:.1f}s params {count(base)}")
        print("before: ppl %.3f acc %.4f" % ev2(base))
        full = copy_model(base, make); t1 = time.time()
        if g("full", 1):
            fit2(full, xb, yb, g("fe", 2), g("flr", 1e-2), g("bs", 256), 2)
            pf = ev2(full)
            print(f"full: ppl {pf[0]:.3f} acc {pf[1]:.4f} params {count(full)}  {time.time() - t1:.1f}s")
        for llr in [float(v) for v in cfg.get("llr", "1e-2").split(",")]:
            lora = copy_model(base, make)
            for p in lora.parameters(): p.requires_grad = False
            r, al = g("r", 4), g("alpha", 8.0)
            lora.la = nn.Parameter(torch.zeros(r, R)); lora.lb = nn.Parameter(torch.randn(D, r)); lora.s = al / r
            if g("head", 2) == 1: lora.head.weight.requires_grad = True; lora.head.bias.requires_grad = True
            if g("head", 2) == 2: lora.head = LoraLinear(lora.head, r, al)  # what Lora's targets "table", "head" do
            t1 = time.time()
            fit2(lora, xb, yb, g("le", 2), llr, g("bs", 256), 2)
            pl = ev2(lora)
            print(f"lora lr {llr}: ppl {pl[0]:.3f} acc {pl[1]:.4f} params {count(lora)} ({count(lora) / count(full):.3f})  {time.time() - t1:.1f}s")


if __name__ == "__main__":
    main()
