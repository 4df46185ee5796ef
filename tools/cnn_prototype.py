"""PyTorch prototype of the `lora train --model cnn` demo: a small CNN on the UCI digits (8x8), task B = images
rotated 90 degrees, LoRA on the convolutions (optionally + the head) vs full fine-tuning. Chooses the defaults.
Usage: /usr/bin/python3 tools/cnn_prototype.py [--targets conv|conv+head] [...]"""
import argparse, gzip, math, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--channels", default="16,32")
p.add_argument("--rank", type=int, default=4)
p.add_argument("--alpha", type=float, default=8)
p.add_argument("--targets", default="conv")
p.add_argument("--base-epochs", type=int, default=20)
p.add_argument("--base-lr", type=float, default=3e-3)
p.add_argument("--lr", type=float, default=1e-2)
p.add_argument("--epochs", type=int, default=30)
p.add_argument("--full-lr", type=float, default=1e-3)
p.add_argument("--full-epochs", type=int, default=20)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--data", default="Lora.Core/Data/Resources/digits.csv.gz")
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(2)

rows = np.loadtxt(gzip.open(a.data, "rt"), delimiter=",")
X = (rows[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
y = rows[:, 64].astype(np.int64)
rng = np.random.default_rng(a.seed)
test_idx = np.concatenate([rng.permutation(np.where(y == c)[0])[: round(0.2 * (y == c).sum())] for c in range(10)])
mask = np.zeros(len(y), bool); mask[test_idx] = True
Xtr, ytr, Xte, yte = map(torch.tensor, (X[~mask], y[~mask], X[mask], y[mask]))
rot = lambda t: torch.rot90(t, 1, dims=(2, 3))

class LoraConv(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.A = nn.Conv2d(base.in_channels, r, base.kernel_size, base.stride, base.padding, bias=False)
        self.B = nn.Conv2d(r, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5)); nn.init.zeros_(self.B.weight)
        self.s = alpha / r
    def forward(self, x): return self.base(x) + self.s * self.B(self.A(x))

class LoraLin(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.A = nn.Linear(base.in_features, r, bias=False); self.B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5)); nn.init.zeros_(self.B.weight)
        self.s = alpha / r
    def forward(self, x): return self.base(x) + self.s * self.B(self.A(x))

c = [int(v) for v in a.channels.split(",")]
def make():
    layers, cin, hw = [], 1, 8
    for i, co in enumerate(c):
        layers += [nn.Conv2d(cin, co, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        cin, hw = co, hw // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * hw * hw, 10))

def fit(m, Xa, ya, Xb, yb, epochs, lr):
    opt = torch.optim.AdamW([q for q in m.parameters() if q.requires_grad], lr=lr, weight_decay=0)
    g = torch.Generator().manual_seed(a.seed)
    for e in range(epochs):
        m.train()
        perm = torch.randperm(len(ya), generator=g)
        for i in range(0, len(ya), a.batch):
            idx = perm[i:i + a.batch]
            loss = F.cross_entropy(m(Xa[idx]), ya[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    return acc(m, Xb, yb)

def acc(m, X, y):
    m.eval()
    with torch.no_grad(): return (m(X).argmax(1) == y).float().mean().item()

t0 = time.time()
base = make()
print("base params", sum(q.numel() for q in base.parameters()))
print("task A", fit(base, Xtr, ytr, Xte, yte, a.base_epochs, a.base_lr), "before B", acc(base, rot(Xte), yte))
import copy
lora = copy.deepcopy(base)
for q in lora.parameters(): q.requires_grad = False
convs = [i for i, l in enumerate(lora) if isinstance(l, nn.Conv2d)]
for i in convs: lora[i] = LoraConv(lora[i], a.rank, a.alpha)
if "head" in a.targets: lora[len(lora) - 1] = LoraLin(lora[len(lora) - 1], a.rank, a.alpha)
ntr = sum(q.numel() for q in lora.parameters() if q.requires_grad)
ta = time.time()
la = fit(lora, rot(Xtr), ytr, rot(Xte), yte, a.epochs, a.lr)
tl = time.time() - ta
full = copy.deepcopy(base)
ta = time.time()
fa = fit(full, rot(Xtr), ytr, rot(Xte), yte, a.full_epochs, a.full_lr)
tf = time.time() - ta
nf = sum(q.numel() for q in full.parameters())
print(f"LoRA {la:.4f} ({ntr} params, {100*ntr/nf:.1f}%, {tl:.1f}s)  full {fa:.4f} ({nf}, {tf:.1f}s)  diff {100*(fa-la):.2f} pts  total {time.time()-t0:.1f}s")
