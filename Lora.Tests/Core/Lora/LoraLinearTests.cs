using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>PEFT's invariants for one LoRA layer, checked against double-precision references.</summary>
public class LoraLinearTests
{
    const int N = 5, K = 12, D = 7;

    static LoraLinear Layer(int r = 3, double alpha = 6, ulong seed = 1, bool randomB = true)
    {
        var lin = new Linear(K, D, new SeededRandom(seed));
        var l = new LoraLinear(lin);
        lin.Freeze();
        l.AddAdapter("default", r, alpha, false, 0, Random(r * K, seed + 10, 0.3), randomB ? Random(D * r, seed + 20, 0.3) : new float[D * r]);
        return l;
    }

    /// <summary>y in double from W, b and the adapters (s·B·A) plus the element-wise magnitude Σ|terms| for bounds.</summary>
    static (double[] Y, double[] Mag) Reference(LoraLinear l, float[] x, IEnumerable<(LoraAdapter A, double Weight)> adapters)
    {
        var w = l.BaseLayer.Weight.ToArray(); var b = l.BaseLayer.Bias!.ToArray();
        var y = new double[N * D]; var mag = new double[N * D];
        var list = adapters.ToList();
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++)
            {
                double acc = b[j], m = Math.Abs(b[j]);
                for (int c = 0; c < K; c++) { acc += (double)x[i * K + c] * w[j * K + c]; m += Math.Abs((double)x[i * K + c] * w[j * K + c]); }
                foreach (var (ad, wt) in list)
                {
                    var A = ad.A.ToArray(); var B = ad.B.ToArray();
                    for (int q = 0; q < ad.Rank; q++)
                    {
                        double h = 0, hm = 0;
                        for (int c = 0; c < K; c++) { h += (double)x[i * K + c] * A[q * K + c]; hm += Math.Abs((double)x[i * K + c] * A[q * K + c]); }
                        acc += wt * ad.Scale * h * B[j * ad.Rank + q];
                        m += Math.Abs(wt * ad.Scale * B[j * ad.Rank + q]) * hm;
                    }
                }
                y[i * D + j] = acc; mag[i * D + j] = m;
            }
        return (y, mag);
    }

    // A float evaluation of a sum of T products with magnitudes Σ|terms| errs by at most ~T·ε·Σ|terms|; the LoRA
    // path has depth K + r plus the scale and the add, so (K + r + 4)·ε·Σ|terms| bounds every output element.
    static void AssertNear(double[] expected, double[] mag, float[] actual, int depth, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = (depth + 4) * Eps * mag[i];
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol, $"{what}[{i}]: {actual[i]} vs {expected[i]} (tol {tol:E2})");
        }
    }

    [Fact]
    public void UnmergedForwardMatchesDoubleReference()
    {
        var l = Layer();
        var x = Random(N * K, 99);
        var (y, mag) = Reference(l, x, [(l.Adapters[0], 1.0)]);
        AssertNear(y, mag, Run(l.Eval(), x, N), K + 3, "y");
    }

    [Fact]
    public void TheFusedPathSeesAWeightTrainedWhileUnfrozenAndOneRefreshedByHand()
    {
        var l = Layer();
        var x = Random(N * K, 99);
        _ = Run(l.Eval(), x, N); // the fused path packs W
        var w = l.BaseLayer.Weight;
        // Unfrozen, W runs on the plain path; changed there (as an optimizer would) and frozen again, the fused path
        // must not use the copy packed before.
        w.Frozen = false;
        _ = Run(l, x, N);
        for (int i = 0; i < w.Length; i++) w.Data[i] += 0.25f * MathF.Sin(i);
        w.Frozen = true;
        var (y, mag) = Reference(l, x, [(l.Adapters[0], 1.0)]);
        AssertNear(y, mag, Run(l, x, N), K + 3, "after unfreeze, change, freeze");
        // Values written by hand while frozen need RefreshBaseWeight.
        for (int i = 0; i < w.Length; i++) w.Data[i] -= 0.5f * MathF.Cos(i);
        l.RefreshBaseWeight();
        (y, mag) = Reference(l, x, [(l.Adapters[0], 1.0)]);
        AssertNear(y, mag, Run(l, x, N), K + 3, "after RefreshBaseWeight");
    }

    [Fact]
    public void ZeroBOutputEqualsBase()
    {
        // B = 0 adds exact zeros: the only difference to the base layer is the summation order of x·Wᵀ inside the
        // fused kernel (one GEMM over k + r with its own blocking), so the bound is the GEMM's rounding bound. It is
        // not bitwise in general: the fused kernel and the plain Sgemm may block the sum differently.
        var l = Layer(randomB: false);
        var x = Random(N * K, 98);
        var baseOut = Run(l.BaseLayer, x, N);
        var (y, mag) = Reference(l, x, []);
        var loraOut = Run(l.Eval(), x, N);
        AssertNear(y, mag, loraOut, K, "lora");
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(loraOut[i] - baseOut[i]) <= 2 * (K + 4) * Eps * mag[i]);
    }

    [Fact]
    public void DisabledAdapterIsTheBaseBitwise()
    {
        var l = Layer();
        var x = Random(N * K, 97);
        var baseOut = Run(l.BaseLayer, x, N);
        l.DisableAdapters();
        Assert.Equal(baseOut, Run(l.Eval(), x, N));
        l.EnableAdapters();
        Assert.NotEqual(baseOut, Run(l, x, N));
    }

    [Fact]
    public void MergedEqualsUnmergedAndUnmergeRestoresW()
    {
        var l = Layer();
        l.Eval();
        var x = Random(N * K, 96);
        var w0 = l.BaseLayer.Weight.ToArray();
        var unmerged = Run(l, x, N);
        l.Merge();
        Assert.True(l.IsMerged);
        var merged = Run(l, x, N);
        // merged and unmerged both approximate the exact adapted output; each is within its rounding bound of it
        l.Unmerge();
        var (exact, m) = Reference(l, x, [(l.Adapters[0], 1.0)]);
        // the merged W itself carries (r+1)·ε·(|W| + s·Σ|B||A|) per element, multiplied by Σ|x| in the product
        AssertNear(exact, m, merged, K + 3 + 3 + 1, "merged");
        AssertNear(exact, m, unmerged, K + 3, "unmerged");
        var w1 = l.BaseLayer.Weight.ToArray();
        var a = l.Adapters[0];
        var A = a.A.ToArray(); var B = a.B.ToArray();
        for (int j = 0; j < D; j++)
            for (int c = 0; c < K; c++)
            {
                double deltaMag = 0;
                for (int q = 0; q < a.Rank; q++) deltaMag += a.Scale * Math.Abs((double)B[j * a.Rank + q] * A[q * K + c]);
                double bound = 2 * (a.Rank + 2) * Eps * (Math.Abs(w0[j * K + c]) + deltaMag);
                Assert.True(Math.Abs(w1[j * K + c] - w0[j * K + c]) <= bound, $"W[{j},{c}] not restored");
            }
    }

    [Fact]
    public void TrainingWhileMergedIsAnError()
    {
        var l = Layer();
        l.GetAdapter("default").A.Frozen = false;
        l.Merge();
        Tape.Current.Reset();
        var ex = Assert.Throws<InvalidOperationException>(() => l.Train().Forward(new Tensor(Random(N * K, 1), new Shape(N, K))));
        Assert.Contains("Unmerge", ex.Message);
        Tape.Current.Reset();
        // inference while merged is fine
        Assert.Equal(N * D, Run(l.Eval(), Random(N * K, 1), N).Length);
    }

    [Fact]
    public void SeveralActiveAdaptersAddTheirDeltas()
    {
        var l = Layer();
        l.AddAdapter("second", 2, 4, true, 0, Random(2 * K, 5, 0.3), Random(D * 2, 6, 0.3));
        Assert.Equal(["default", "second"], l.ActiveAdapters.Select(a => a.Name));
        var x = Random(N * K, 95);
        var (y, mag) = Reference(l, x, [(l.Adapters[0], 1.0), (l.Adapters[1], 1.0)]);
        AssertNear(y, mag, Run(l.Eval(), x, N), K + 6, "two adapters");
        l.SetActiveAdapters("second");
        (y, mag) = Reference(l, x, [(l.Adapters[1], 1.0)]);
        AssertNear(y, mag, Run(l, x, N), K + 3, "second only");
        Assert.Throws<ArgumentException>(() => l.SetActiveAdapters("nope"));
    }

    [Fact]
    public void WeightedAdapterIsTheExactWeightedSum()
    {
        var l = Layer();
        l.AddAdapter("second", 2, 4, false, 0, Random(2 * K, 5, 0.3), Random(D * 2, 6, 0.3));
        var combo = l.AddWeightedAdapter("combo", [("default", 0.75f), ("second", -2f)]);
        Assert.Equal(5, combo.Rank);
        Assert.Equal(1f, combo.Scale);
        l.SetActiveAdapters("combo");
        var x = Random(N * K, 94);
        var (y, mag) = Reference(l, x, [(l.Adapters[0], 0.75), (l.Adapters[1], -2.0)]);
        AssertNear(y, mag, Run(l.Eval(), x, N), K + 6, "combo");
    }

    [Fact]
    public void DeleteAdapterRemovesItsParameters()
    {
        var l = Layer();
        l.AddAdapter("second", 2, 4, false, 0, Random(2 * K, 5), Random(D * 2, 6));
        l.DeleteAdapter("default");
        Assert.Equal(["base_layer.bias", "base_layer.weight", "lora_A.second.weight", "lora_B.second.weight"],
            l.NamedParameters().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["second"], l.ActiveAdapters.Select(a => a.Name));
        Assert.Throws<ArgumentException>(() => l.DeleteAdapter("default"));
    }

    [Fact]
    public void DeletingTheLastActiveAdapterRunsTheFirstRemainingByNameAsPeftDoes()
    {
        // PEFT's delete_adapter: the next adapter is the first of the sorted remaining names, not the oldest, so
        // every layer holding the same adapters makes the same choice.
        var l = Layer();
        l.AddAdapter("zeta", 2, 4, false, 0, Random(2 * K, 5), Random(D * 2, 6));
        l.AddAdapter("gamma", 2, 4, false, 0, Random(2 * K, 11), Random(D * 2, 12));
        l.AddAdapter("beta", 2, 4, false, 0, Random(2 * K, 7), Random(D * 2, 8));
        l.SetActiveAdapters("zeta", "gamma");
        l.DeleteAdapter("gamma"); // another active adapter remains: it alone runs
        Assert.Equal(["zeta"], l.ActiveAdapters.Select(a => a.Name));
        l.DeleteAdapter("zeta"); // default (the oldest) and beta remain: beta comes first by name
        Assert.Equal(["beta"], l.ActiveAdapters.Select(a => a.Name));
        Assert.All(l.NamedParameters(), p => Assert.Equal(p.Name.Contains(".beta."), !p.Parameter.Frozen));
        var x = Random(N * K, 96);
        var (y, mag) = Reference(l, x, [(l.GetAdapter("beta"), 1.0)]);
        AssertNear(y, mag, Run(l.Eval(), x, N), K + 6, "beta after deleting zeta");

        // While disabled the new active adapter is chosen but stays frozen, and the layer still runs the base.
        l.AddAdapter("alpha", 2, 4, false, 0, Random(2 * K, 9), Random(D * 2, 10));
        l.SetActiveAdapters("alpha");
        l.DisableAdapters();
        l.DeleteAdapter("alpha");
        Assert.Equal(["beta"], l.ActiveAdapters.Select(a => a.Name));
        Assert.All(l.NamedParameters(), p => Assert.True(p.Parameter.Frozen, p.Name));
        l.EnableAdapters();
        l.DeleteAdapter("default");
        l.DeleteAdapter("beta"); // none remains: the base layer runs
        Assert.Empty(l.ActiveAdapters);
        var (yBase, magBase) = Reference(l, x, []);
        AssertNear(yBase, magBase, Run(l.Eval(), x, N), K + 6, "no adapter left");
    }

    [Fact]
    public void BadAdaptersAreRejected()
    {
        var l = Layer();
        Assert.Throws<ArgumentException>(() => l.AddAdapter("default", 1, 1, false, 0, new float[K], new float[D]));
        Assert.Throws<ArgumentException>(() => l.AddAdapter("x.y", 1, 1, false, 0, new float[K], new float[D]));
        Assert.Contains("(2, 12)", Assert.Throws<ArgumentException>(() => l.AddAdapter("z", 2, 1, false, 0, new float[K], new float[D * 2])).Message);
        Assert.Throws<ArgumentException>(() => l.AddAdapter("z", 1, 0, false, 0, new float[K], new float[D]));
        Assert.Throws<ArgumentException>(() => l.AddAdapter("z", 1, 1, false, 1.0, new float[K], new float[D]));
    }
}
