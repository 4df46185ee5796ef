using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Tests.Core.IO;
using Lora.Tests.Kernels;
using static Lora.Tests.Core.Modules.RecurrentTestData;

namespace Lora.Tests.Core.Modules;

/// <summary>LoRA on a recurrent layer's <c>ih</c> and <c>hh</c>: merged and unmerged agree within a derived bound,
/// and a PEFT-layout adapter survives save → load bit for bit.</summary>
public class RecurrentLoraTests
{
    const int N = 2, Steps = 4, In = 5, Hidden = 6, Vocab = 7;

    static RecurrentTestModel Adapted(bool gru)
    {
        var model = new RecurrentTestModel(gru, In, Hidden, Vocab, 21);
        model.ApplyLora(new LoraConfig { R = 2, Alpha = 3, TargetModules = ["rnn.ih", "rnn.hh"] }, seed: 22);
        ulong s = 23;
        foreach (var (_, l) in model.LoraLayers()) Uniform(l.Adapters[0].B.Length, -0.5, 0.5, s++).CopyTo(l.Adapters[0].B.Data);
        return model;
    }

    static float[] Run(RecurrentLayer rnn, float[] x, float[] h0)
    {
        var tape = Tape.Current;
        tape.Reset();
        float[] y;
        using (Tape.NoGrad()) y = rnn.Forward(new Tensor(x, new Shape(N, Steps, In)), new Tensor(h0, new Shape(N, Hidden))).ToArray();
        tape.Reset();
        return y;
    }

    /// <summary>W + s·B·A in double, with the error bound (K + r + 2)·U·(|W| + s·Σ|B||A|) per element: it covers the
    /// merge's rounding ((r + 1)·U·(…), see LoraMath.AddDelta) and the unmerged fused kernel's extra rounding of the
    /// low-rank path and of its K + r long sums, so either float evaluation is one of the weights within the bound.</summary>
    static Bounded[] Effective(LoraLayer layer)
    {
        var a = layer.Adapters[0];
        int r = a.Rank, k = layer.FanIn, d = layer.FanOut;
        float s = a.Scale;
        var w = layer.BaseWeight.Data;
        var result = new Bounded[d * k];
        for (int j = 0; j < d; j++)
            for (int c = 0; c < k; c++)
            {
                double delta = 0, abs = 0;
                for (int q = 0; q < r; q++)
                {
                    delta += (double)a.B.Data[j * r + q] * a.A.Data[q * k + c];
                    abs += Math.Abs((double)a.B.Data[j * r + q] * a.A.Data[q * k + c]);
                }
                double wjc = w[j * k + c];
                result[j * k + c] = new Bounded(wjc + s * delta, (k + r + 2) * KernelTestData.U * (Math.Abs(wjc) + s * abs));
            }
        return result;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergedEqualsUnmergedWithinTheRoundingBound(bool gru)
    {
        var model = Adapted(gru);
        model.Eval();
        float[] x = Uniform(N * Steps * In, -1, 1, 24), h0 = Uniform(N * Hidden, -1, 1, 25);
        var ih = (LoraLayer)model.Rnn.InputToHidden;
        var hh = (LoraLayer)model.Rnn.HiddenToHidden;
        var reference = new RecurrentReference(gru, N, Steps, In, Hidden, Effective(ih), RecurrentReference.Exact(ih.BaseBias!.ToArray()),
            Effective(hh), RecurrentReference.Exact(hh.BaseBias!.ToArray()), x, h0, new float[N * Steps * Hidden]);
        var unmerged = Run(model.Rnn, x, h0);
        model.MergeAdapters();
        Assert.True(ih.IsMerged && hh.IsMerged);
        var merged = Run(model.Rnn, x, h0);
        model.UnmergeAdapters();
        var again = Run(model.Rnn, x, h0);
        model.DisableAdapters();
        var baseOnly = Run(model.Rnn, x, h0);
        double worstGap = 0;
        for (int i = 0; i < merged.Length; i++)
        {
            double tol = 2 * reference.Output[i].E; // each evaluation is within E of the exact function
            Assert.True(Math.Abs(merged[i] - unmerged[i]) <= tol, $"merged[{i}] = {merged[i]:R}, unmerged {unmerged[i]:R}, tolerance {tol:E2}");
            Assert.True(Math.Abs(again[i] - unmerged[i]) <= tol, $"after unmerge [{i}] = {again[i]:R}, before {unmerged[i]:R}, tolerance {tol:E2}");
            worstGap = Math.Max(worstGap, Math.Abs(baseOnly[i] - unmerged[i]) / tol);
        }
        // The adapters do change the function, by far more than the bound (else the test could not fail).
        Assert.True(worstGap > 1000, $"the adapters change the output by only {worstGap:F1}× the bound");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PeftAdapterSaveThenLoadIsBitwise(bool gru)
    {
        using var dir = new TempDir();
        var model = Adapted(gru);
        LoraAdapterFiles.Save(model, dir.File("adapter"));
        var loaded = new RecurrentTestModel(gru, In, Hidden, Vocab, 21); // the same base weights
        LoraAdapterFiles.Load(loaded, dir.File("adapter"), trainable: true);
        Assert.Equal(model.NamedParameters().Select(p => p.Name), loaded.NamedParameters().Select(p => p.Name));
        var original = model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var (name, p) in loaded.NamedParameters())
        {
            Assert.Equal(original[name].ToArray(), p.ToArray());
            Assert.Equal(original[name].Frozen, p.Frozen);
        }
        Assert.Contains("rnn.hh.lora_B.default.weight", original.Keys);
        var adapter = PeftAdapter.Load(dir.File("adapter"));
        Assert.Equal(["rnn.hh", "rnn.ih"], adapter.Modules.Select(m => m.ModulePath).Order());
        float[] x = Uniform(N * Steps * In, -1, 1, 26), h0 = Uniform(N * Hidden, -1, 1, 27);
        model.Eval();
        loaded.Eval();
        Assert.Equal(Run(model.Rnn, x, h0), Run(loaded.Rnn, x, h0));
    }
}
