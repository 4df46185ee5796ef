using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Lora;
using Lora.Core.Modules;
using Lora.Core.Optim;
using Lora.Tests.Core.IO;
using static Lora.Tests.Core.Lora.LoraTestUtil;

namespace Lora.Tests.Core.Lora;

/// <summary>LoraConv2d: PEFT's layout, the base output at B = 0, merge/unmerge, adapter files and a training step.</summary>
public class LoraConv2dTests
{
    const int N = 2, C = 2, Hw = 6;

    /// <summary>Unflatten → conv 3×3 (pad 1) → tanh → conv 3×3 (stride 2, pad 1) → flatten → linear.</summary>
    static Sequential Cnn(ulong seed)
    {
        var rng = new SeededRandom(seed);
        return new Sequential(new Unflatten(C, Hw, Hw), new Conv2d(C, 4, 3, rng, padding: 1), new Activation(ActivationKind.Tanh),
            new Conv2d(4, 3, 3, rng, stride: 2, padding: 1), new Flatten(), new Linear(3 * 3 * 3, 2, rng));
    }

    static Sequential Adapted(ulong seed, double dropout = 0)
    {
        var m = Cnn(seed);
        m.ApplyLora(new LoraConfig { R = 2, Alpha = 3, Dropout = dropout, TargetModules = ["1", "3"] }, seed: 5);
        foreach (var (_, l) in m.LoraLayers()) Random(l.Adapters[0].B.Length, 6, 0.3).CopyTo(l.Adapters[0].B.Data);
        return m;
    }

    [Fact]
    public void ApplyLoraWrapsConvolutionsInPeftsLayout()
    {
        var m = Adapted(1);
        var l = Assert.IsType<LoraConv2d>(m[1]);
        Assert.IsType<LoraConv2d>(m[3]);
        Assert.Equal((18, 4), (l.FanIn, l.FanOut));
        var p = m.NamedParameters().ToDictionary(t => t.Name, t => t.Parameter);
        Assert.Equal(new Shape(2, 2, 3, 3), p["1.lora_A.default.weight"].Shape);
        Assert.Equal(new Shape(4, 2, 1, 1), p["1.lora_B.default.weight"].Shape);
        Assert.Equal(new Shape(2, 4, 3, 3), p["3.lora_A.default.weight"].Shape);
        Assert.Equal(new Shape(3, 2, 1, 1), p["3.lora_B.default.weight"].Shape);
        Assert.True(p["1.base_layer.weight"].Frozen);
        Assert.False(p["1.lora_A.default.weight"].Frozen);
        // PEFT's init of a convolution's A: kaiming_uniform_(a=√5) over fanIn = in·k·k, i.e. U(±1/√18).
        Assert.All(p["1.lora_A.default.weight"].ToArray(), v => Assert.InRange(v, -1 / Math.Sqrt(18), 1 / Math.Sqrt(18)));
        var layout = LoraLayerTypes.LayoutOf(((LoraConv2d)m[3]).BaseLayer)!;
        Assert.Equal([2, 4, 3, 3], layout.ShapeOfA(2));
        Assert.Equal([3, 2, 1, 1], layout.ShapeOfB(2));
        Assert.IsType<LoraConv2d>(LoraLayerTypes.Wrap(new Conv2d(1, 1, 1)));
    }

    [Fact]
    public void ZeroBGivesTheBaseOutputBitwise()
    {
        // B = 0 adds exact zeros before the bias, in the same tiles of the same kernel as the plain convolution, so the
        // whole network's output is bitwise the base network's, with and without LoRA dropout in training mode.
        var x = Random(N * C * Hw * Hw, 2);
        var baseOut = Run(Cnn(3).Eval(), x, N);
        var m = Cnn(3);
        m.ApplyLora(new LoraConfig { R = 3, Dropout = 0.2, TargetModules = ["1", "3"] }, seed: 7);
        Assert.Equal(baseOut, Run(m.Eval(), x, N));
        Assert.Equal(baseOut, Run(m.Train(), x, N));
    }

    [Fact]
    public void MergedEqualsUnmergedAndUnmergeRestoresW()
    {
        var conv = new Conv2d(3, 5, 3, new SeededRandom(4), stride: 2, padding: 1);
        var l = new LoraConv2d(conv);
        l.AddAdapter("default", 2, 3, false, 0, Random(2 * 27, 5, 0.3), Random(5 * 2, 6, 0.3));
        l.Eval();
        var x = Random(N * 3 * 7 * 7, 8);
        var w0 = conv.Weight.ToArray();
        var shape = new Shape(N, 3, 7, 7);
        var unmerged = Run(l, x, shape);
        l.Merge();
        var merged = Run(l, x, shape);
        l.Unmerge();
        var (exact, mag) = Exact(l, x, 7, 7);
        int ckk = 27, r = 2;
        for (int i = 0; i < exact.Length; i++)
        {
            // Unmerged: ckk + r + 4 roundings (LoraConv's bound); merged: the merged W's own r + 1 on top.
            Assert.True(Math.Abs(unmerged[i] - exact[i]) <= (ckk + r + 4) * Eps * mag[i], $"unmerged y[{i}] = {unmerged[i]}, exact {exact[i]}");
            Assert.True(Math.Abs(merged[i] - exact[i]) <= (ckk + 2 * r + 6) * Eps * mag[i], $"merged y[{i}] = {merged[i]}, exact {exact[i]}");
        }
        var a = l.Adapters[0];
        float[] A = a.A.ToArray(), B = a.B.ToArray();
        double s = a.Scale;
        var w1 = conv.Weight.ToArray();
        for (int o = 0; o < 5; o++)
            for (int p = 0; p < ckk; p++)
            {
                double deltaMag = 0;
                for (int j = 0; j < r; j++) deltaMag += s * Math.Abs((double)B[o * r + j] * A[j * ckk + p]);
                Assert.True(Math.Abs(w1[o * ckk + p] - w0[o * ckk + p]) <= 2 * (r + 2) * Eps * (Math.Abs(w0[o * ckk + p]) + deltaMag), $"W[{o},{p}] not restored");
            }
        Assert.Same(conv, l.MergeAndUnload());
    }

    [Fact]
    public void PeftAdapterFilesRoundTripBitwise()
    {
        using var dir = new TempDir();
        var m = Adapted(9, dropout: 0.1);
        LoraAdapterFiles.Save(m, dir.File("adapter"));
        var saved = PeftAdapter.Load(dir.File("adapter"));
        var conv1 = saved.Modules.Single(w => w.ModulePath == "1");
        Assert.True(conv1.A.HasShape(2, 2, 3, 3));
        Assert.True(conv1.B.HasShape(4, 2, 1, 1));
        var loaded = Cnn(9);
        LoraAdapterFiles.Load(loaded, dir.File("adapter"), trainable: true);
        Assert.IsType<LoraConv2d>(loaded[1]);
        var original = Snapshot(m);
        Assert.Equal(original.Keys, loaded.NamedParameters().Select(p => p.Name));
        foreach (var (name, p) in loaded.NamedParameters()) Assert.Equal(original[name], p.ToArray());
        var x = Random(N * C * Hw * Hw, 10);
        Assert.Equal(Run(m.Eval(), x, N), Run(loaded.Eval(), x, N));
    }

    [Fact]
    public void ALoraStepLeavesTheBaseKernelBitwiseUnchangedAndMovesTheFactors()
    {
        var m = Adapted(11, dropout: 0.1);
        var before = Snapshot(m);
        var opt = new AdamW(TrainableSlots.From(m), LearningRateSchedule.Constant(0.01));
        Tape.Current.Reset();
        var x = new Tensor(Random(N * C * Hw * Hw, 12), new Shape(N, C * Hw * Hw));
        var target = new Tensor(Random(N * 2, 13), new Shape(N, 2));
        Ops.Mse(m.Train().Forward(x), target).Backward();
        opt.Step();
        Tape.Current.Reset();
        foreach (var (name, p) in m.NamedParameters())
        {
            if (name.Contains("base_layer")) Assert.Equal(before[name], p.ToArray());
            if (name.Contains("lora_")) Assert.NotEqual(before[name], p.ToArray());
        }
    }

    [Fact]
    public void SeveralAdaptersAndATrainableKernelPassTheGradientCheck()
    {
        var conv = new Conv2d(2, 3, 3, new SeededRandom(14), stride: 1, padding: 1);
        var l = new LoraConv2d(conv);
        l.AddAdapter("one", 2, 4, false, 0, Random(2 * 18, 15, 0.3), Random(3 * 2, 16, 0.3));
        l.AddAdapter("two", 1, 1, false, 0, Random(18, 17, 0.3), Random(3, 18, 0.3));
        Assert.Equal(["one", "two"], l.ActiveAdapters.Select(a => a.Name));
        conv.Weight.Frozen = false; // full fine-tuning of W alongside the adapters
        var x = new Tensor(Random(2 * 2 * 5 * 4, 19), new Shape(2, 2, 5, 4), requiresGrad: true);
        Tape.Current.Reset();
        var ps = new List<Tensor> { x, conv.Weight, conv.Bias! };
        foreach (var a in l.Adapters) { ps.Add(a.A); ps.Add(a.B); }
        var r = GradCheck.Run(() => l.Forward(x), ps, null);
        Assert.True(r.Passed, r.ToString());
        // The two adapters' terms add: y = conv(x, W) + b + Σ s_i·conv1×1(A_i ⋆ x, B_i), the second through plain
        // convolutions: each of the ckk + r_i + 4 rounding bounds at most, summed over the terms.
        l.Eval();
        Tape.Current.Reset();
        var y = Run(l, x.ToArray(), x.Shape);
        var (exact, mag) = Exact(l, x.ToArray(), 5, 4);
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - exact[i]) <= (18 + 2 + 4 + 18 + 1 + 4 + 1) * Eps * mag[i], $"y[{i}] = {y[i]}, exact {exact[i]}");
    }

    /// <summary>y = conv(x, W + Σ s_i·B_i·A_i) + b in double (N images of h×w), and M = Σ (|W| + Σ|s_i|·|B_i||A_i|)·|x| + |b|.</summary>
    static (double[] Y, double[] Mag) Exact(LoraConv2d l, float[] x, int h, int w)
    {
        var conv = l.BaseLayer;
        int c = conv.InChannels, cout = conv.OutChannels, k = conv.KernelSize, st = conv.Stride, pad = conv.Padding, ckk = c * k * k;
        int oh = (h + 2 * pad - k) / st + 1, ow = (w + 2 * pad - k) / st + 1;
        var wt = conv.Weight.ToArray().Select(v => (double)v).ToArray();
        var wabs = wt.Select(Math.Abs).ToArray();
        foreach (var a in l.ActiveAdapters)
        {
            float[] A = a.A.ToArray(), B = a.B.ToArray();
            for (int o = 0; o < cout; o++)
                for (int p = 0; p < ckk; p++)
                    for (int j = 0; j < a.Rank; j++)
                    {
                        double d = (double)a.Scale * B[o * a.Rank + j] * A[j * ckk + p];
                        wt[o * ckk + p] += d; wabs[o * ckk + p] += Math.Abs(d);
                    }
        }
        var b = conv.Bias?.ToArray() ?? new float[cout];
        double[] y = new double[N * cout * oh * ow], mag = new double[y.Length];
        for (int i = 0; i < N; i++)
            for (int o = 0; o < cout; o++)
                for (int q = 0; q < oh * ow; q++)
                {
                    int at = (i * cout + o) * oh * ow + q;
                    y[at] = b[o]; mag[at] = Math.Abs(b[o]);
                    for (int ch = 0; ch < c; ch++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++)
                            {
                                int iy = q / ow * st - pad + ki, ix = q % ow * st - pad + kj, p = (ch * k + ki) * k + kj;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                double xv = x[((i * c + ch) * h + iy) * w + ix];
                                y[at] += wt[o * ckk + p] * xv;
                                mag[at] += wabs[o * ckk + p] * Math.Abs(xv);
                            }
                }
        return (y, mag);
    }
}
