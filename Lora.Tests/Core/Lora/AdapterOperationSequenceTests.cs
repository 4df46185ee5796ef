using Lora.Autograd;
using Lora.Core.Data;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Core.Training;
using Lora.Tests.Kernels;

namespace Lora.Tests.Core.Lora;

/// <summary>
/// Seeded random sequences of adapter operations (apply, activate, disable, enable, merge, unmerge, delete, weighted
/// add, an epoch of training) on small tanh MLPs. After every operation the only exceptions are the documented
/// refusals, and the model's eval output stays within a running error bound of a double-precision reference built
/// from the weights as they are and the adapters the forward should add; after an unmerge each weight is back within
/// the documented bound 2·(r + 2)·ε·(|W| + s·Σ|B||A|) per adapter of its value before the merge.
/// </summary>
public class AdapterOperationSequenceTests
{
    const double U = KernelTestData.U;
    static readonly int[] Sizes = [6, 12, 10, 3];

    static Dataset Data()
    {
        var r = new SeededRandom(7);
        var x = new float[32 * 6];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return new Dataset("d", x, Enumerable.Range(0, 32).Select(i => i % 3).ToArray(), 6, 3);
    }

    static Linear Base(Module layer) => layer is LoraLinear l ? l.BaseLayer : (Linear)layer;

    /// <summary>Checks the eval output of the first rows of x against the running error bound of the reference.</summary>
    static void CheckOutput(Mlp m, float[] x, int rows, string context)
    {
        float[] actual;
        using (Module.EvaluationScope())
        using (Tape.NoGrad())
        {
            Tape.Current.Reset();
            actual = m.Forward(new Tensor(x, new Shape(rows, Sizes[0]))).ToArray();
            Tape.Current.Reset();
        }
        var h = x.Select(v => Bounded.Exact(v)).ToArray();
        for (int li = 0; li < Sizes.Length - 1; li++)
        {
            int fin = Sizes[li], fout = Sizes[li + 1];
            var layer = m.GetSubmodule($"layers.{li}");
            var w = Base(layer).Weight.ToArray();
            var b = Base(layer).Bias!.ToArray();
            var adapters = layer is LoraLayer l && !l.AdaptersDisabled && !l.IsMerged ? l.ActiveAdapters.ToList() : [];
            var next = new Bounded[rows * fout];
            for (int n = 0; n < rows; n++)
            {
                var row = h.AsSpan(n * fin, fin);
                // s·(x·Aᵀ) per adapter, each rank's dot product bounded on its own
                var scaled = new List<(LoraAdapter A, Bounded[] G)>();
                foreach (var a in adapters)
                {
                    var av = a.A.ToArray();
                    var g = new Bounded[a.Rank];
                    for (int q = 0; q < a.Rank; q++)
                        g[q] = Bounded.Exact(a.Scale) * Bounded.Dot(row, av.AsSpan(q * fin, fin).ToArray().Select(v => Bounded.Exact(v)).ToArray());
                    scaled.Add((a, g));
                }
                for (int o = 0; o < fout; o++)
                {
                    // One sum over [x | s·h₁ | s·h₂ …]·[W | B₁ | B₂ …] plus the bias, in whatever order the kernels take,
                    // and one more rounding per extra adapter for its separate scale and add.
                    var left = new List<Bounded>(row.ToArray());
                    var right = new List<Bounded>(w.AsSpan(o * fin, fin).ToArray().Select(v => Bounded.Exact(v)));
                    double extra = 0;
                    foreach (var (a, g) in scaled)
                    {
                        var bv = a.B.ToArray();
                        for (int q = 0; q < a.Rank; q++) { left.Add(g[q]); right.Add(Bounded.Exact(bv[o * a.Rank + q])); extra += Math.Abs(g[q].V * bv[o * a.Rank + q]); }
                    }
                    left.Add(Bounded.Exact(1)); right.Add(Bounded.Exact(b[o]));
                    var z = Bounded.Dot(left.ToArray(), right.ToArray());
                    z = new Bounded(z.V, z.E + 2 * U * Math.Max(0, scaled.Count - 1) * extra);
                    next[n * fout + o] = li < Sizes.Length - 2 ? Bounded.Tanh(z) : z;
                }
            }
            h = next;
        }
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - h[i].V) <= h[i].E, $"{context}: output [{i}] {actual[i]} vs {h[i].V} (bound {h[i].E:E2})");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomOperationSequencesKeepTheOutputAndRestoreMergedWeights(int seed)
    {
        var rng = new Random(seed);
        var data = Data();
        var x = data.Features[..(8 * Sizes[0])];
        int applied = 0, refused = 0;
        for (int run = 0; run < 12; run++)
        {
            var m = new Mlp(Sizes, ActivationKind.Tanh, 0, seed: (ulong)(seed * 100 + run));
            var names = new List<string>();
            var preMerge = new Dictionary<string, float[]>();
            for (int step = 0; step < 18; step++)
            {
                var layers = m.LoraLayers().ToList();
                var weightsBefore = layers.ToDictionary(l => l.Path, l => Base(l.Layer).Weight.ToArray());
                var mergedBefore = layers.ToDictionary(l => l.Path, l => l.Layer.MergedAdapters.ToList());
                int op = rng.Next(9);
                string context = $"seed {seed} run {run} step {step} op {op}";
                try
                {
                    switch (op)
                    {
                        case 0:
                        {
                            string n = "a" + rng.Next(3);
                            string[] targets = rng.Next(2) == 0 ? ["layers.0", "layers.1"] : ["layers.1", "layers.2"];
                            m.ApplyLora(new LoraConfig { R = 1 + rng.Next(3), Alpha = 2, TargetModules = targets }, n, (ulong)rng.Next());
                            if (!names.Contains(n)) names.Add(n);
                            foreach (var (_, l) in m.LoraLayers())
                                foreach (var a in l.Adapters)
                                    if (a.B.ToArray().All(v => v == 0))
                                        for (int i = 0; i < a.B.Length; i++) a.B.Data[i] = (float)(rng.NextDouble() - 0.5);
                            break;
                        }
                        case 1: if (names.Count > 0) m.SetActiveAdapters(names[rng.Next(names.Count)]); break;
                        case 2: m.DisableAdapters(); break;
                        case 3: m.EnableAdapters(); break;
                        case 4: m.MergeAdapters(); break;
                        case 5: m.UnmergeAdapters(); break;
                        case 6: if (names.Count > 0) { var n = names[rng.Next(names.Count)]; m.DeleteAdapter(n); names.Remove(n); } break;
                        case 7: if (names.Count > 0) { string w = "w" + rng.Next(2); m.AddWeightedAdapter(w, [(names[rng.Next(names.Count)], 0.5f)]); if (!names.Contains(w)) names.Add(w); } break;
                        default:
                            new Trainer(m, TrainableSlots.AdamW(m, LearningRateSchedule.Constant(1e-2)), new TrainerOptions { Epochs = 1, BatchSize = 8 }).Fit(data);
                            break;
                    }
                    applied++;
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    refused++;
                    continue;
                }
                foreach (var (path, l) in m.LoraLayers())
                {
                    bool wasMerged = mergedBefore.TryGetValue(path, out var before) && before.Count > 0;
                    if (!wasMerged && l.IsMerged) preMerge[path] = weightsBefore[path];
                    else if (wasMerged && !l.IsMerged)
                    {
                        if (op == 5 && preMerge.TryGetValue(path, out var w0)) AssertRestored(w0, Base(l).Weight.ToArray(), before!, l.FanIn, context);
                        preMerge.Remove(path);
                    }
                }
                CheckOutput(m, x, 8, context);
            }
        }
        Assert.True(applied > 100 && refused > 10, $"{applied} operations applied, {refused} refused: the sequences should exercise both");
    }

    static void AssertRestored(float[] w0, float[] w, List<LoraAdapter> merged, int fanIn, string context)
    {
        for (int e = 0; e < w.Length; e++)
        {
            int o = e / fanIn, i = e % fanIn;
            double tol = 0;
            foreach (var a in merged)
            {
                double mag = 0;
                for (int q = 0; q < a.Rank; q++) mag += Math.Abs(a.B.Data[o * a.Rank + q] * a.A.Data[q * fanIn + i]);
                tol += 2 * (a.Rank + 2) * U * (Math.Abs(w0[e]) + a.Scale * mag);
            }
            Assert.True(Math.Abs(w[e] - w0[e]) <= tol, $"{context}: W[{e}] {w[e]} vs {w0[e]} before the merge (bound {tol:E2})");
        }
    }
}
