using System.Diagnostics;
using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary><c>quick embedding [--num N] [--dim D] [--n IDS] [--r R] [--threads T]</c>: one training step (forward,
/// loss mean(y²), backward, AdamW) of an embedding table fully fine-tuned against the same table with LoRA
/// (<see cref="LoraEmbedding"/>, table frozen), and the two forwards without gradients. The cases are interleaved
/// within each of 9 rounds, so their ratio is measured under the same machine load; the median round is printed.</summary>
internal static class QuickEmbedding
{
    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("embedding", args, "", "--num --dim --n --r --threads")) return 2;
        int num = Arg(args, "--num", 32000), dim = Arg(args, "--dim", 256), n = Arg(args, "--n", 2048), r = Arg(args, "--r", 8);
        KernelThreads.Count = Arg(args, "--threads", 1);
        var rng = new SeededRandom(1);
        var ids = new float[n];
        for (int i = 0; i < n; i++) ids[i] = rng.NextInt(num);
        var x = new Tensor(ids, new Shape(n));

        var full = new Sequential(new Embedding(num, dim, new SeededRandom(2)));
        var lora = new Sequential(new Embedding(num, dim, new SeededRandom(2)));
        lora.ApplyLora(new LoraConfig { R = r, Alpha = 2 * r, TargetModules = ["0"] }, seed: 3);
        var cases = new (string Name, Action Body)[]
        {
            ("full_step", Step(full, x)),
            ("lora_step", Step(lora, x)),
            ("gather_forward", Forward(full, x)),
            ("lora_forward", Forward(lora, x)),
            ("kernel_gather", KernelGather(full, ids)),
            ("kernel_lora_fwd", KernelLora(lora, ids)),
            ("kernel_gemm_part", KernelGemm(lora, n)),
        };
        const int rounds = 9, inner = 10;
        var times = QuickArgs.InterleavedRounds("embedding", [.. cases.Select(c => c.Body)], rounds, QuickArgs.WallMs, _ => inner);
        Console.WriteLine($"embedding num={num} dim={dim} ids={n} r={r} threads={KernelThreads.Count} (median of {rounds} interleaved rounds of {inner})");
        var median = times.Select(t => { var s = (double[])t.Clone(); Array.Sort(s); return s[rounds / 2]; }).ToArray();
        for (int c = 0; c < cases.Length; c++) Console.WriteLine($"{cases[c].Name,-16} {median[c],9:F3} ms");
        // Per-round ratios (same load within a round), then their median.
        double Ratio(int a, int b) { var q = Enumerable.Range(0, rounds).Select(i => times[a][i] / times[b][i]).Order().ToArray(); return q[rounds / 2]; }
        Console.WriteLine($"lora_step / full_step       {Ratio(1, 0):F3}");
        Console.WriteLine($"lora_forward / gather       {Ratio(3, 2):F3}");
        Console.WriteLine($"kernel: lora / gather       {Ratio(5, 4):F3}   (of which the GEMM y += s·h·Bᵀ: {Ratio(6, 4):F3})");
        return 0;
    }

    /// <summary>One training step of <paramref name="model"/> on <paramref name="x"/>: forward, loss mean(y²),
    /// backward, AdamW over the trainable parameters at <paramref name="lr"/>, gradients zeroed, tape reset.</summary>
    internal static Action Step(Module model, Tensor x, double lr = 1e-3)
    {
        var trainable = model.TrainableParameters().Select(p => p.Parameter).ToArray();
        var opt = TrainableSlots.AdamW(model, LearningRateSchedule.Constant(lr));
        return () =>
        {
            var tape = Tape.Current;
            tape.Reset();
            var y = model.Forward(x);
            Ops.Mean(Ops.Mul(y, y)).Backward();
            opt.Step();
            foreach (var p in trainable) p.ZeroGrad();
            tape.Reset();
        };
    }

    static Action Forward(Module model, Tensor x) => () =>
    {
        Tape.Current.Reset();
        using (Tape.NoGrad()) model.Forward(x);
        Tape.Current.Reset();
    };

    static Action KernelGather(Sequential model, float[] ids)
    {
        var e = (Embedding)model[0];
        int[] id = ids.Select(v => (int)v).ToArray();
        var y = new float[id.Length * e.EmbeddingDim];
        return () => EmbeddingKernels.Gather(e.NumEmbeddings, e.EmbeddingDim, e.Weight.Data, id, y);
    }

    static Action KernelLora(Sequential model, float[] ids)
    {
        var l = (LoraEmbedding)model[0];
        var ad = l.GetAdapter("default");
        int[] id = ids.Select(v => (int)v).ToArray();
        var y = new float[id.Length * l.EmbeddingDim];
        var h = new float[id.Length * ad.Rank];
        return () => LoraEmbeddingKernels.Forward(l.NumEmbeddings, l.EmbeddingDim, ad.Rank, ad.Scale, l.BaseWeight.Data,
            ad.A.Data, ad.B.Data, id, h, y);
    }

    static Action KernelGemm(Sequential model, int n)
    {
        var l = (LoraEmbedding)model[0];
        var ad = l.GetAdapter("default");
        int r = ad.Rank, dim = l.EmbeddingDim;
        var y = new float[n * dim];
        var h = new float[n * r];
        new SeededRandom(4).FillGaussian(h, 1);
        return () => Gemm.Sgemm(Transpose.No, Transpose.Yes, n, dim, r, ad.Scale, h, r, ad.B.Data, r, 1f, y, dim);
    }

    static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }
}
