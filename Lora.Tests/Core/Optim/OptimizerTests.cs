using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

public class OptimizerTests
{
    static OptimizerSlot Slot(string name, float[] value, float[] grad, float scale = 1f, bool decay = true) =>
        new(name, value, grad, scale, decay);

    [Fact]
    public void AdamWClassFollowsScheduleAndPerSlotScaleAgainstFormula()
    {
        // Two slots; the second has LrScale 4 (as LoRA+ gives B) and no weight decay. Expected values from the
        // AdamW formula in double with the scheduled lr of each step.
        float[] a = [0.5f, -1f, 2f], ga = new float[3], b = [1f, 0.25f], gb = new float[2];
        var sched = LearningRateSchedule.LinearWarmup(0.1, 2);
        var opt = new AdamW([Slot("a", a, ga), Slot("b", b, gb, 4f, decay: false)], sched, weightDecay: 0.1);
        double[] ad = a.Select(x => (double)x).ToArray(), bd = b.Select(x => (double)x).ToArray();
        double[] ma = new double[3], va = new double[3], mb = new double[2], vb = new double[2];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 3; i++) ga[i] = (float)Math.Sin(t + i);
            for (int i = 0; i < 2; i++) gb[i] = (float)Math.Cos(t * 2 + i);
            double lr = sched.At(t - 1);
            Reference(ad, ga, ma, va, lr, 0.1, t);
            Reference(bd, gb, mb, vb, (float)(lr * 4), 0.0, t);
            opt.Step();
            Assert.Equal(lr, opt.LastLearningRate);
        }
        Assert.Equal(3, opt.StepCount);
        for (int i = 0; i < 3; i++) Assert.Equal(ad[i], a[i], 5e-6);
        for (int i = 0; i < 2; i++) Assert.Equal(bd[i], b[i], 5e-6);
        Assert.Equal(5 * 2 * sizeof(float), opt.StateBytes);

        static void Reference(double[] p, float[] g, double[] m, double[] v, double lr, double wd, int t)
        {
            lr = (float)lr; // the optimizer hands the update rule a float learning rate
            for (int i = 0; i < p.Length; i++)
            {
                p[i] *= 1 - lr * wd;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * (double)g[i];
                p[i] -= lr / (1 - Math.Pow(0.9, t)) * m[i] / (Math.Sqrt(v[i] / (1 - Math.Pow(0.999, t))) + 1e-8);
            }
        }
    }

    [Fact]
    public void SgdWithMomentumOverSlots()
    {
        float[] p = [1f, 2f], g = [0.5f, -0.5f];
        var opt = new Sgd([Slot("p", p, g)], LearningRateSchedule.Constant(0.1), momentum: 0.9);
        opt.Step();                                   // buf = g; p -= 0.1·g
        opt.Step();                                   // buf = 0.9·g + g = 1.9·g; p -= 0.19·g
        Assert.Equal(1 - 0.1f * 0.5f - 0.1f * (0.9f * 0.5f + 0.5f), p[0], 6);
        Assert.Equal(2 + 0.1f * 0.5f + 0.1f * (0.9f * 0.5f + 0.5f), p[1], 6);
        Assert.Equal(2 * sizeof(float), opt.StateBytes);
        Assert.Equal(0, new Sgd([Slot("q", new float[3], new float[3])], LearningRateSchedule.Constant(0.1)).StateBytes);
    }

    [Fact]
    public void ClippingUsesTheJointNormBeforeTheUpdate()
    {
        float[] p = [0f, 0f], g = [3f, 4f];
        var opt = new Sgd([Slot("p", p, g)], LearningRateSchedule.Constant(1.0), maxGradNorm: 1.0);
        opt.Step();
        Assert.Equal(5.0, opt.LastGradNorm, 12);
        double c = 1 / (5 + 1e-6);
        Assert.Equal((float)(-3 * c), p[0], 6);
        Assert.Equal((float)(-4 * c), p[1], 6);
    }

    [Fact]
    public void ZeroGradClearsEveryGradient()
    {
        float[] g1 = [1, 2], g2 = [3];
        var opt = new AdamW([Slot("x", new float[2], g1), Slot("y", new float[1], g2)], LearningRateSchedule.Constant(1e-3));
        opt.ZeroGrad();
        Assert.All(g1.Concat(g2), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void BadSettingsThrow()
    {
        var s = LearningRateSchedule.Constant(0.1);
        Assert.Throws<ArgumentException>(() => new AdamW([], s));
        Assert.Throws<ArgumentException>(() => new AdamW([Slot("a", new float[1], new float[1]), Slot("a", new float[1], new float[1])], s));
        Assert.Throws<ArgumentException>(() => new OptimizerSlot("a", new float[2], new float[1]));
        Assert.Throws<ArgumentException>(() => new AdamW([Slot("a", new float[1], new float[1])], s, beta1: 1.0));
        Assert.Throws<ArgumentException>(() => new AdamW([Slot("a", new float[1], new float[1])], s, eps: 0));
        Assert.Throws<ArgumentException>(() => new Sgd([Slot("a", new float[1], new float[1])], s, nesterov: true));
        Assert.Throws<ArgumentException>(() => new Sgd([Slot("a", new float[1], new float[1])], s, maxGradNorm: -1));
    }
}
