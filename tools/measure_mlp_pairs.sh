#!/usr/bin/env bash
# tools/measure_mlp_pairs.sh OUTDIR [REV]: the MLP step against PyTorch in alternated pairs, as docs/benchmarks.md
# reports it (sessions 8-12 ran the same procedure as /work/team/measure4.sh). Clones this repository at REV
# (default HEAD) into OUTDIR/src, builds Lora.Bench, then runs
#   six one-thread CPU-clock pairs: quick mlp --threads 1 --clock cpu --json --steps 100
#                                    / OPENBLAS_NUM_THREADS=1 mlp_step.py --threads 1 --clock cpu --steps 60
#   three wall-clock pairs at 1 thread and three at 2 threads (quick mlp --threads N --json / mlp_step.py --threads N)
# and leaves the JSON lines in OUTDIR/{ours,torch}.{cpu1,wall1,wall2} with the load average before and after.
# tools/summarize_mlp_pairs.py OUTDIR... prints the per-pair ratios. Needs python3-torch and libopenblas0-pthread.
set -euo pipefail
out=${1:?usage: measure_mlp_pairs.sh OUTDIR [REV]}
rev=${2:-HEAD}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
mkdir -p "$out"
src=$out/src
rm -rf "$src"
git clone -q "$repo" "$src"
git -C "$src" checkout -q "$rev"
git -C "$src" rev-parse --short HEAD > "$out/commit"
dotnet build -c Release "$src/Lora.Bench" > "$out/build.log" 2>&1
dll=$src/Lora.Bench/bin/Release/net10.0/Lora.Bench.dll
py=$src/Lora.Bench/compare/mlp_step.py
uptime > "$out/load.start"
date -u +%H:%M > "$out/time.start"
for _ in 1 2 3 4 5 6; do
  dotnet "$dll" quick mlp --threads 1 --clock cpu --json --steps 100 >> "$out/ours.cpu1" 2>> "$out/err"
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$py" --threads 1 --clock cpu --steps 60 >> "$out/torch.cpu1" 2>> "$out/err"
done
for t in 1 2; do
  for _ in 1 2 3; do
    dotnet "$dll" quick mlp --threads "$t" --json >> "$out/ours.wall$t" 2>> "$out/err"
    OPENBLAS_NUM_THREADS=$t /usr/bin/python3 "$py" --threads "$t" >> "$out/torch.wall$t" 2>> "$out/err"
  done
done
uptime > "$out/load.end"
