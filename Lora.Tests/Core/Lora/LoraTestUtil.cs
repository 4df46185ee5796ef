using Lora.Autograd;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Lora;

internal static class LoraTestUtil
{
    public const double Eps = 1.0 / (1 << 24);

    public static float[] Random(int n, ulong seed, double std = 1)
    {
        var a = new float[n];
        new SeededRandom(seed).FillGaussian(a, std);
        return a;
    }

    /// <summary>Forward of rows × (x.Length / rows) without recording, returning a copy of the output.</summary>
    public static float[] Run(Module m, float[] x, int rows) => Run(m, x, new Shape(rows, x.Length / rows));

    /// <summary>Forward of x in the given shape without recording, returning a copy of the output.</summary>
    public static float[] Run(Module m, float[] x, Shape shape)
    {
        Tape.Current.Reset();
        using (Tape.NoGrad())
        {
            var result = m.Forward(new Tensor(x, shape)).ToArray();
            Tape.Current.Reset();
            return result;
        }
    }

    public static Dictionary<string, float[]> Snapshot(Module m) =>
        m.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());

    /// <summary>Asserts that <paramref name="loaded"/> holds <paramref name="original"/>'s parameters (names in order,
    /// bits, frozen flags) and computes the same output on a random batch of 5 rows of <paramref name="inFeatures"/>.</summary>
    public static void AssertSameModel(Module original, Module loaded, int inFeatures)
    {
        Assert.Equal(original.NamedParameters().Select(p => p.Name), loaded.NamedParameters().Select(p => p.Name));
        var expected = Snapshot(original);
        foreach (var (name, p) in loaded.NamedParameters())
        {
            Assert.Equal(expected[name], p.ToArray());
            Assert.Equal(original.NamedParameters().First(q => q.Name == name).Parameter.Frozen, p.Frozen);
        }
        var x = Random(5 * inFeatures, 3);
        Assert.Equal(Run(original.Eval(), x, 5), Run(loaded.Eval(), x, 5));
    }

    /// <summary>A network layer for <see cref="AssertMatchesTorch"/>: the base Linear of a LoRA layer with its first
    /// adapter (none unless <paramref name="withLora"/>), a modules_to_save wrapper's running module, or a Linear.</summary>
    public static (Linear Base, LoraAdapter? Adapter) Layer(Module m, bool withLora) => m switch
    {
        LoraLinear l => (l.BaseLayer, withLora ? l.Adapters[0] : null),
        ModulesToSaveLayer s => ((Linear)s.Running, null),
        _ => ((Linear)m, null),
    };

    /// <summary>
    /// Compares a float32 forward with PyTorch's float64 one. Bound: each layer's float evaluation errs by at most
    /// (k + r + 4)·ε·M elementwise (the rounding of a dot product of k + r terms, plus the bias, scale and ReLU
    /// steps), M the same network evaluated on absolute values (|x|·|W|ᵀ + |b| + s·(|x|·|A|ᵀ)·|B|ᵀ, ReLU being
    /// 1-Lipschitz); M dominates how earlier errors propagate, so L layers give L·(k_max + r_max + 4)·ε·M.
    /// </summary>
    /// <param name="layers">The network's Linear layers in order (<see cref="Layer"/>), ReLU between them.</param>
    public static void AssertMatchesTorch(IReadOnlyList<(Linear Base, LoraAdapter? Adapter)> layers, float[] x, int n,
        float[] actual, double[][] expected)
    {
        double[] mag = x.Select(v => (double)Math.Abs(v)).ToArray();
        int kMax = 0, rMax = 0;
        foreach (var (l, ad) in layers)
        {
            var (w, b, a, bb) = (l.Weight.ToArray(), l.Bias!.ToArray(), ad?.A.ToArray() ?? [], ad?.B.ToArray() ?? []);
            int k = l.InFeatures, d = l.OutFeatures, r = ad?.Rank ?? 0;
            (kMax, rMax) = (Math.Max(kMax, k), Math.Max(rMax, r));
            var next = new double[n * d];
            for (int i = 0; i < n; i++)
            {
                var h = new double[r];
                for (int q = 0; q < r; q++) for (int c = 0; c < k; c++) h[q] += mag[i * k + c] * Math.Abs(a[q * k + c]);
                for (int j = 0; j < d; j++)
                {
                    double acc = Math.Abs(b[j]);
                    for (int c = 0; c < k; c++) acc += mag[i * k + c] * Math.Abs(w[j * k + c]);
                    for (int q = 0; q < r; q++) acc += ad!.Scale * h[q] * Math.Abs(bb[j * r + q]);
                    next[i * d + j] = acc;
                }
            }
            mag = next;
        }
        int width = mag.Length / n;
        Assert.Equal(mag.Length, actual.Length);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < width; j++)
            {
                double tol = layers.Count * (kMax + rMax + 4) * Eps * mag[i * width + j];
                Assert.True(Math.Abs(actual[i * width + j] - expected[i][j]) <= tol,
                    $"y[{i},{j}] = {actual[i * width + j]} vs PyTorch {expected[i][j]} (tol {tol:E2})");
            }
    }

    /// <summary>Asserts that a steady-state SGD step of <paramref name="model"/>'s trainable parameters (softmax
    /// cross-entropy on <paramref name="labels"/>) allocates nothing on the managed heap once warm, and that the steps
    /// reduce the loss (so the step really trained).</summary>
    public static void AssertTrainingStepAllocatesNothing(Module model, Tensor input, int[] labels)
    {
        var trainable = model.TrainableParameters().Select(p => p.Parameter).ToArray();
        var opt = TrainableSlots.Sgd(model, LearningRateSchedule.Constant(0.05));
        var tape = Tape.Current;
        float lastLoss = 0;
        void Step()
        {
            tape.Reset();
            var loss = Ops.SoftmaxCrossEntropy(model.Forward(input), labels);
            loss.Backward();
            lastLoss = loss.Item;
            opt.Step();
            foreach (var p in trainable) p.ZeroGrad(); // Module.ZeroGrad enumerates (allocates); the step does not
        }
        for (int i = 0; i < 3; i++) Step();
        float firstLoss = lastLoss;
        long allocated = global::Lora.Tests.AllocationProbe.QuietestWindow(Step, calls: 10);
        tape.Reset();
        Assert.Equal(0, allocated);
        Assert.True(lastLoss < firstLoss, $"training should reduce the loss: {firstLoss} → {lastLoss}");
    }
}
