using Lora.Autograd;
using Lora.Core.IO;
using Lora.Core.Optim;
using Lora.Tests.Core.IO;

namespace Lora.Tests.Core.Optim;

/// <summary>Each slot counts its own updates (PyTorch's per-parameter <c>state["step"]</c>): a parameter frozen for a
/// while takes its AdamW bias correction from its own count, not the optimizer's (which made the first step of a
/// parameter unfrozen at step t about (1 − β1)/√(1 − β2ᵗ)·lr instead of lr). The counts survive SaveState/LoadState.</summary>
public sealed class SlotStepCountTests : IDisposable
{
    readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    const double Wd = 0.1, B1 = 0.9, B2 = 0.999, Eps = 1e-8;
    static readonly LearningRateSchedule Schedule = LearningRateSchedule.LinearWarmup(0.05, 2);

    static Parameter Param(string name, params float[] values) => new(name, values, new Shape(values.Length));

    static float Grad(int step, int slot, int i) => (float)Math.Sin(1.3 * step + 0.7 * i + 2.1 * slot);

    /// <summary>PyTorch's AdamW in double for one parameter with its own step t.</summary>
    static void Reference(double[] p, float[] g, double[] m, double[] v, double lr, long t)
    {
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * Wd;
            m[i] = B1 * m[i] + (1 - B1) * g[i];
            v[i] = B2 * v[i] + (1 - B2) * g[i] * (double)g[i];
            p[i] -= lr / (1 - Math.Pow(B1, t)) * m[i] / (Math.Sqrt(v[i] / (1 - Math.Pow(B2, t))) + Eps);
        }
    }

    [Fact]
    public void AFrozenSlotTakesItsBiasCorrectionFromItsOwnUpdates()
    {
        var a = Param("a", 0.5f, -1f, 2f);
        var b = Param("b", 3f, -0.25f);
        var opt = new AdamW([new OptimizerSlot(a), new OptimizerSlot(b)], Schedule, B1, B2, Eps, Wd);
        double[] ad = [.. a.Data.ToArray().Select(x => (double)x)], bd = [.. b.Data.ToArray().Select(x => (double)x)];
        double[] ma = new double[3], va = new double[3], mb = new double[2], vb = new double[2];
        long tb = 0;
        const int steps = 9, frozenSteps = 5;
        double maxP = 3, maxLr = 0.05;
        b.Frozen = true;
        for (int step = 1; step <= steps; step++)
        {
            if (step == frozenSteps + 1) b.Frozen = false;
            float[] ga = [.. Enumerable.Range(0, 3).Select(i => Grad(step, 0, i))], gb = [.. Enumerable.Range(0, 2).Select(i => Grad(step, 1, i))];
            ga.CopyTo(a.Grad);
            gb.CopyTo(b.Grad); // stale while frozen: ignored
            double lr = (float)Schedule.At(step - 1); // the update rule gets a float rate
            Reference(ad, ga, ma, va, lr, step);
            if (!b.Frozen) Reference(bd, gb, mb, vb, lr, ++tb);
            opt.Step();
        }
        Assert.Equal(steps, opt.StepCount);
        Assert.Equal(steps, opt.SlotStepCount(0));
        Assert.Equal(steps - frozenSteps, opt.SlotStepCount(1));
        // Float rounding: a few ulps of |p| and of the step (|m̂|/(√v̂ + ε) stays below (1 − β1)/√(1 − β2) ≈ 3.2) per step.
        double tol = steps * 8 * Math.Pow(2, -24) * (maxP + 4 * maxLr);
        for (int i = 0; i < 3; i++) Assert.Equal(ad[i], a.Data[i], tol);
        for (int i = 0; i < 2; i++) Assert.Equal(bd[i], b.Data[i], tol);
    }

    (AdamW Opt, Parameter A, Parameter B) Make(float[] a, float[] b)
    {
        var pa = new Parameter("a", a.ToArray(), new Shape(a.Length));
        var pb = new Parameter("b", b.ToArray(), new Shape(b.Length));
        return (new AdamW([new OptimizerSlot(pa), new OptimizerSlot(pb)], Schedule, B1, B2, Eps, Wd), pa, pb);
    }

    static void Run(AdamW opt, Parameter a, Parameter b, int from, int to)
    {
        for (int step = from; step <= to; step++)
        {
            for (int i = 0; i < 3; i++) a.Grad[i] = Grad(step, 0, i);
            for (int i = 0; i < 2; i++) b.Grad[i] = Grad(step, 1, i);
            opt.Step();
        }
    }

    [Fact]
    public void SavedCountsResumeBitForBit()
    {
        var (opt, a, b) = Make([0.5f, -1f, 2f], [3f, -0.25f]);
        b.Frozen = true;
        Run(opt, a, b, 1, 3);
        string path = _temp.File("state.safetensors");
        opt.SaveState(path);
        var meta = SafeTensors.Read(path).Metadata;
        Assert.Equal("0", meta["step.b"]);
        Assert.False(meta.ContainsKey("step.a")); // a took every step: no key
        float[] aAt3 = a.Data.ToArray(), bAt3 = b.Data.ToArray();
        b.Frozen = false;
        Run(opt, a, b, 4, 7);

        var (resumed, ra, rb) = Make(aAt3, bAt3);
        resumed.LoadState(path);
        Assert.Equal((3L, 3L, 0L), (resumed.StepCount, resumed.SlotStepCount(0), resumed.SlotStepCount(1)));
        Run(resumed, ra, rb, 4, 7);
        Assert.True(a.Data.SequenceEqual(ra.Data));
        Assert.True(b.Data.SequenceEqual(rb.Data));
    }

    [Theory]
    [InlineData("step.nope", "1")]
    [InlineData("step.b", "4")]  // more updates than the optimizer's 3 steps
    [InlineData("step.b", "-1")]
    [InlineData("step.b", "two")]
    public void ABadSlotCountIsRefusedNamingFileAndKeyAndChangesNothing(string key, string value)
    {
        var (opt, a, b) = Make([0.5f, -1f, 2f], [3f, -0.25f]);
        Run(opt, a, b, 1, 3);
        string good = _temp.File("good.safetensors");
        opt.SaveState(good);
        var file = SafeTensors.Read(good);
        string bad = _temp.File("bad.safetensors");
        SafeTensors.Write(bad, file.Tensors, new Dictionary<string, string>(file.Metadata) { [key] = value });

        var (target, ta, tb) = Make([1f, 1f, 1f], [1f, 1f]);
        tb.Frozen = true;
        Run(target, ta, tb, 1, 2);
        string before = _temp.File("before.safetensors");
        target.SaveState(before);
        byte[] beforeBytes = File.ReadAllBytes(before);
        var e = Assert.Throws<InvalidDataException>(() => target.LoadState(bad));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains($"__metadata__.{key}", e.Message);
        Assert.Equal((2L, 2L, 0L), (target.StepCount, target.SlotStepCount(0), target.SlotStepCount(1)));
        target.SaveState(before);
        Assert.Equal(beforeBytes, File.ReadAllBytes(before));
    }
}

/// <summary>LoadState refuses state values no optimizer could have written (they turned the parameters NaN at the next
/// step): NaN or ∞ anywhere, a negative second moment.</summary>
public sealed class OptimizerStateValueTests : IDisposable
{
    readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    static Optimizer Make(string kind, Parameter p) => kind == "sgd"
        ? new Sgd([new OptimizerSlot(p)], LearningRateSchedule.Constant(0.1), momentum: 0.9)
        : new AdamW([new OptimizerSlot(p)], LearningRateSchedule.Constant(0.1));

    [Theory]
    [InlineData("adamw", "exp_avg_sq.w", -1e-3f)]
    [InlineData("adamw", "exp_avg_sq.w", float.NaN)]
    [InlineData("adamw", "exp_avg.w", float.PositiveInfinity)]
    [InlineData("sgd", "momentum_buffer.w", float.NaN)]
    public void ABadStateValueIsRefusedNamingFileAndKeyAndChangesNothing(string kind, string key, float bad)
    {
        var p = new Parameter("w", [1f, -2f, 3f], new Shape(3));
        var opt = Make(kind, p);
        p.Grad.Fill(0.5f);
        opt.Step();
        string good = _temp.File("good.safetensors");
        opt.SaveState(good);
        var file = SafeTensors.Read(good);
        string badPath = _temp.File("bad.safetensors");
        SafeTensors.Write(badPath, file.Tensors.Select(t => t.Name == key ? new TensorData(t.Name, t.Shape, [t.Data[0], bad, t.Data[2]]) : t), file.Metadata);

        var before = opt.StepCount;
        var e = Assert.Throws<InvalidDataException>(() => opt.LoadState(badPath));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains($"'{key}'", e.Message);
        Assert.Contains("element 1", e.Message);
        Assert.Equal(before, opt.StepCount);
        string again = _temp.File("again.safetensors");
        opt.SaveState(again);
        Assert.Equal(File.ReadAllBytes(good), File.ReadAllBytes(again));
    }
}
