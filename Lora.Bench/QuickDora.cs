using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Kernels;

namespace Lora.Bench;

/// <summary><c>quick dora [--threads T] [--clock cpu]</c>: one training step (forward, loss mean(y²), backward, AdamW)
/// of a convolution and of an embedding table with DoRA, against the same layer with plain LoRA and fully fine-tuned.
/// The three cases of a layer are interleaved within each of 9 rounds, so their ratios are measured under the same
/// load; medians of the per-round times and ratios are printed.</summary>
/// <remarks>Shapes: a ResNet-18 layer-2 convolution (batch 16, 128 → 128 channels, 28×28, 3×3, padding 1) and a 32000 ×
/// 256 table looked up by 2048 ids; r = 8, alpha = 16. DoRA's extra work per step is the norm of every output
/// (filter or table column: W·Aᵀ or A·T, A·Aᵀ and the squares of W), the rescale, and for the table a pass over all
/// 32000 rows that the lookup itself never makes.</remarks>
internal static class QuickDora
{
    public static int Run(string[] args)
    {
        if (!QuickArgs.Known("dora", args, "", "--threads --clock")) return 2;
        KernelThreads.Count = QuickArgs.Int(args, "--threads", 1);
        Func<double> clock = QuickArgs.CpuClock(args) ? QuickArgs.ProcessCpuMs : QuickArgs.WallMs;

        var x = new Tensor(Fill(16 * 128 * 28 * 28, 1), new Shape(16, 128, 28, 28));
        Module Conv() => new Sequential(new Conv2d(128, 128, 3, new SeededRandom(2), padding: 1));
        Measure("conv 16×128×28×28 → 128, k=3", x, Conv, clock);

        var rng = new SeededRandom(4);
        var ids = new float[2048];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.NextInt(32000);
        Module Table() => new Sequential(new Embedding(32000, 256, new SeededRandom(2)));
        Measure("embedding 32000×256, 2048 ids", new Tensor(ids, new Shape(ids.Length)), Table, clock);
        KernelThreads.Reset();
        return 0;
    }

    static void Measure(string title, Tensor x, Func<Module> make, Func<double> clock)
    {
        var full = make();
        var lora = make();
        lora.ApplyLora(new LoraConfig { R = 8, Alpha = 16, TargetModules = ["0"] }, seed: 3);
        var dora = make();
        dora.ApplyLora(new LoraConfig { R = 8, Alpha = 16, UseDora = true, TargetModules = ["0"] }, seed: 3);
        var bodies = new[] { Step(full), Step(lora), Step(dora) };
        Action Step(Module m) => QuickEmbedding.Step(m, x, lr: 1e-4);
        const int rounds = 9;
        var times = QuickArgs.InterleavedRounds("dora", bodies, rounds, clock, seconds => Math.Max(1, (int)(0.2 / Math.Max(seconds, 1e-6))));
        double Median(IEnumerable<double> v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }
        double Ratio(int a, int b) => Median(Enumerable.Range(0, rounds).Select(i => times[a][i] / times[b][i]));
        Console.WriteLine($"{title}, r=8, threads={KernelThreads.Count} (median of {rounds} interleaved rounds)");
        string[] names = ["full_step", "lora_step", "dora_step"];
        for (int c = 0; c < names.Length; c++) Console.WriteLine($"  {names[c],-10} {Median(times[c]),9:F3} ms");
        Console.WriteLine($"  dora / lora {Ratio(2, 1):F3}   dora / full {Ratio(2, 0):F3}   lora / full {Ratio(1, 0):F3}");
    }

    static float[] Fill(int n, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var v = new float[n];
        rng.FillUniform(v, -1, 1);
        return v;
    }
}
