using System.Globalization;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary>
/// <c>quick lora --profile [--shape n,d,k,r] [--threads N] [--rounds R]</c>: where a fused LoRA step's time goes, one
/// part at a time — h = x·Aᵀ, the fused forward (h included), g = dy·B, dx = [dy | s·g]·[W ; A] (g included),
/// dA = s·gᵀ·x, dB = s·dyᵀ·h — each timed alone (wall clock, or the process CPU clock with <c>--clock cpu</c>) and
/// also as GFLOP/s, next to the whole step, so the parts' sum can be checked against it; "fwd s=0" is the forward
/// without the low-rank term, "fwd/dx lr pass" the forward and dx with the low-rank stretch as a k-block of its own
/// (a second pass over y or dx, <see cref="GemmDriver.FuseTail"/> off) instead of riding along the last k-block;
/// "fwd/dx (no W pf)" without the prefetch of W's next panels; on AVX-512, "h/g/dA/dB (AVX2 tiles)" the thin
/// products without their AVX-512 tiles.
/// </summary>
internal static class QuickLoraProfile
{
    public static void Run(IEnumerable<(int N, int D, int K, int R)> shapes, int rounds, int threads, int[] kcs)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (var (n, d, k, r) in shapes)
        {
            var p = new Parts(n, d, k, r);
            (string Name, Action Body, double Flops)[] parts =
            [
                ("h = x·Aᵀ", p.H, 2.0 * n * r * k),
                ("h (Sgemm)", p.HGemm, 2.0 * n * r * k),
                ("fused forward", p.Forward, 2.0 * n * d * (k + r) + 2.0 * n * r * k),
                ("g = dy·B", p.G, 2.0 * n * d * r),
                ("g (Sgemm)", p.GGemm, 2.0 * n * d * r),
                ("dx (+ g)", p.Dx, 2.0 * n * k * (d + r) + 2.0 * n * d * r),
                ("dA = s·gᵀ·x", p.DA, 2.0 * r * k * n),
                ("dA (Sgemm)", p.DAGemm, 2.0 * r * k * n),
                ("dB = s·dyᵀ·h", p.DB, 2.0 * d * r * n),
                ("dB (Sgemm)", p.DBGemm, 2.0 * d * r * n),
                ("lora step", p.Step, 2.0 * n * d * (k + r) + 4.0 * n * r * k + 4.0 * n * d * r + 2.0 * n * k * (d + r)),
            ];
            parts = [.. parts, ("fwd s=0 (no lr)", p.ForwardBase, 2.0 * n * d * k + 2.0 * n * r * k),
                ("fwd lr pass", () => { GemmDriver.FuseTail = false; p.Forward(); GemmDriver.FuseTail = true; }, parts[2].Flops),
                ("dx lr pass", () => { GemmDriver.FuseTail = false; p.Dx(); GemmDriver.FuseTail = true; }, parts[5].Flops)];
            parts = [.. parts, ("fwd (no W pf)", () => { GemmMacroKernel.NextPanels = false; p.Forward(); GemmMacroKernel.NextPanels = true; }, parts[2].Flops),
                ("dx (no W pf)", () => { GemmMacroKernel.NextPanels = false; p.Dx(); GemmMacroKernel.NextPanels = true; }, parts[5].Flops)];
            if (MicroKernel.UseAvx512 && LoraLowRank.WideDot)
                parts = [.. parts, ("h (AVX2 tiles)", () => { LoraLowRank.WideDot = false; p.H(); LoraLowRank.WideDot = true; }, parts[0].Flops),
                    ("g (AVX2 tiles)", () => { LoraLowRank.WideDot = false; p.G(); LoraLowRank.WideDot = true; }, parts[3].Flops),
                    ("dA (AVX2 tiles)", () => { LoraLowRank.Wide = false; p.DA(); LoraLowRank.Wide = true; }, parts[6].Flops),
                    ("dB (AVX2 tiles)", () => { LoraLowRank.Wide = false; p.DB(); LoraLowRank.Wide = true; }, parts[8].Flops)];
            foreach (int kc in kcs)
                parts = [.. parts, ($"fwd kc={kc}", () => { LoraGemmFused.Kc = kc; p.Forward(); LoraGemmFused.Kc = 0; }, parts[2].Flops),
                    ($"dx kc={kc}", () => { LoraGemmFused.Kc = kc; p.Dx(); LoraGemmFused.Kc = 0; }, parts[5].Flops)];
            var ms = QuickLora.Measure(parts.Select(x => (x.Name, x.Body)).ToArray(), rounds);
            Console.WriteLine(string.Format(inv, "profile n={0} d={1} k={2} r={3} threads={4} (median of {5} rounds)", n, d, k, r, threads, rounds));
            for (int i = 0; i < parts.Length; i++)
                Console.WriteLine(string.Format(inv, "  {0,-16} {1,9:F3} ms  {2,7:F1} GFLOP/s", parts[i].Name, ms[i], parts[i].Flops / (ms[i] * 1e6)));
            double sum = ms[2] + ms[5] + ms[6] + ms[8];
            Console.WriteLine(string.Format(inv, "  forward + dx + dA + dB = {0:F3} ms (step {1:F3} ms)", sum, ms[10]));
        }
    }

    sealed class Parts
    {
        const float S = 2f;
        readonly int _n, _d, _k, _r;
        readonly float[] _x, _a, _b, _h, _y, _dy, _g, _dx, _dA, _dB;
        readonly PackedWeight _w;

        public Parts(int n, int d, int k, int r)
        {
            (_n, _d, _k, _r) = (n, d, k, r);
            var rng = new Random(1);
            float[] Fill(long count, float scale)
            {
                var v = new float[count];
                for (long i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
                return v;
            }
            _x = Fill((long)n * k, 1f);
            _a = Fill((long)r * k, 0.03f);
            _b = Fill((long)d * r, 0.01f);
            _dy = Fill((long)n * d, 1f);
            _w = new PackedWeight(d, k);
            _w.Pack(Fill((long)d * k, 0.03f));
            _h = new float[n * r]; _g = new float[n * r];
            _y = new float[(long)n * d]; _dx = new float[(long)n * k];
            _dA = new float[(long)r * k]; _dB = new float[(long)d * r];
        }

        public void H() => LoraGemmFused.XTimesAT(_n, _r, _k, _x, _a, _h);
        public void HGemm() => Gemm.Sgemm(Transpose.No, Transpose.Yes, _n, _r, _k, 1f, _x, _k, _a, _k, 0f, _h, _r);
        public void ForwardBase() => LoraGemm.Forward(_n, _d, _k, _r, 0f, _x, default, _w, _a, _b, default, _h, _y);
        public void Forward() => LoraGemm.Forward(_n, _d, _k, _r, S, _x, default, _w, _a, _b, default, _h, _y);
        public void G() => LoraGemmFused.DyTimesB(_n, _d, _r, _dy, _b, _g);
        public void GGemm() => Gemm.Sgemm(Transpose.No, Transpose.No, _n, _r, _d, 1f, _dy, _d, _b, _r, 0f, _g, _r);
        public void Dx() => LoraGemm.Backward(_n, _d, _k, _r, S, _x, default, _w, _a, _b, _h, _dy, _g, _dx, default, default, default, default, true);
        public void DA() => LoraGemmFused.GradA(_n, _k, _r, S, _g, _x, 1f, _dA);
        public void DAGemm() => Gemm.Sgemm(Transpose.Yes, Transpose.No, _r, _k, _n, S, _g, _r, _x, _k, 1f, _dA, _k);
        public void DB() => LoraGemmFused.GradB(_n, _d, _r, S, _dy, _h, 1f, _dB);
        public void DBGemm() => Gemm.Sgemm(Transpose.Yes, Transpose.No, _d, _r, _n, S, _dy, _d, _h, _r, 1f, _dB, _r);
        public void Step()
        {
            Forward();
            LoraGemm.Backward(_n, _d, _k, _r, S, _x, default, _w, _a, _b, _h, _dy, _g, _dx, _dA, _dB, default, default, true);
        }
    }
}
