using Lora.Core.Modules;
using Lora.Core.Optim;

namespace Lora.Tests.Core.Optim;

/// <summary>Optimizer updates against the textbook formulas evaluated in double.</summary>
public class UpdateRulesTests
{
    static float[] Random(int n, ulong seed, double std = 1)
    {
        var a = new float[n];
        new SeededRandom(seed).FillGaussian(a, std);
        return a;
    }

    // Per step each float op rounds with relative error 2⁻²⁴; an update touches p with ~10 ops, so the float result
    // drifts from the double one by at most ~10·2⁻²⁴ relative per step, accumulated over the steps.
    static void AssertClose(double[] expected, float[] actual, int steps, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = 16 * steps * Math.Pow(2, -24) * (Math.Abs(expected[i]) + 1e-3);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"{what}[{i}]: {actual[i]} vs {expected[i]} (tol {tol})");
        }
    }

    [Theory]
    [InlineData(0.0f, 0.0f, false)]
    [InlineData(0.9f, 0.0f, false)]
    [InlineData(0.9f, 0.01f, true)]
    [InlineData(0.0f, 0.1f, false)]
    public void SgdMatchesFormulaOverSeveralSteps(float mu, float wd, bool nesterov)
    {
        const int n = 37, steps = 5;
        const float lr = 0.05f;
        var p = Random(n, 1);
        var buf = new float[n];
        double[] pd = p.Select(x => (double)x).ToArray(), bd = new double[n];
        for (int t = 0; t < steps; t++)
        {
            var g = Random(n, 100 + (ulong)t);
            UpdateRules.Sgd(p, g, mu != 0 ? buf : default, lr, mu, wd, nesterov);
            for (int i = 0; i < n; i++)
            {
                double d = g[i] + (double)wd * pd[i];
                if (mu != 0)
                {
                    // PyTorch: first step buf = d, later buf = μ·buf + d (dampening 0).
                    bd[i] = t == 0 ? d : mu * bd[i] + d;
                    d = nesterov ? d + mu * bd[i] : bd[i];
                }
                pd[i] -= lr * d;
            }
        }
        AssertClose(pd, p, steps, "p");
    }

    [Theory]
    [InlineData(0.0f)]
    [InlineData(0.01f)]
    [InlineData(0.5f)]
    public void AdamWMatchesFormulaOverSeveralSteps(float wd)
    {
        const int n = 41, steps = 6;
        const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        var p = Random(n, 2);
        float[] m = new float[n], v = new float[n];
        double[] pd = p.Select(x => (double)x).ToArray(), md = new double[n], vd = new double[n];
        for (int t = 1; t <= steps; t++)
        {
            var g = Random(n, 200 + (ulong)t, std: 0.1);
            var (stepSize, inv) = UpdateRules.AdamWConstants(lr, b1, b2, t);
            UpdateRules.AdamW(p, g, m, v, lr, b1, b2, eps, wd, stepSize, inv);
            for (int i = 0; i < n; i++)
            {
                pd[i] *= 1 - (double)lr * wd;                       // decoupled decay
                md[i] = b1 * md[i] + (1 - (double)b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - (double)b2) * g[i] * (double)g[i];
                double mHat = md[i] / (1 - Math.Pow(b1, t)), vHat = vd[i] / (1 - Math.Pow(b2, t));
                pd[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
        AssertClose(pd, p, steps, "p");
        AssertClose(md, m, steps, "m");
        AssertClose(vd, v, steps, "v");
    }

    [Fact]
    public void AdamWFirstStepMovesEachWeightByAboutLr()
    {
        // With bias correction the first step is lr·g/(|g| + ε/…) ≈ lr·sign(g): the classic sanity check that
        // catches a missing bias correction (which would give a step of lr·(1−β1)/√(1−β2) ≈ 3.16·lr).
        var p = new float[5];
        float[] g = [0.3f, -2f, 1e-3f, 5f, -0.07f], m = new float[5], v = new float[5];
        var (s, inv) = UpdateRules.AdamWConstants(0.1, 0.9, 0.999, 1);
        UpdateRules.AdamW(p, g, m, v, 0.1f, 0.9f, 0.999f, 1e-8f, 0f, s, inv);
        for (int i = 0; i < 5; i++) Assert.Equal(-0.1 * Math.Sign(g[i]), p[i], 1e-5);
    }

    [Fact]
    public void VectorAndScalarTwinsAgreeBitwiseOnEveryTailLength()
    {
        int w = System.Numerics.Vector<float>.Count;
        for (int n = 0; n <= 2 * w + 1; n++)
        {
            var g = Random(n, 5);
            float[] p1 = Random(n, 6), p2 = (float[])p1.Clone(), m1 = Random(n, 7, 0.01), m2 = (float[])m1.Clone();
            float[] v1 = Random(n, 8, 0.01).Select(MathF.Abs).ToArray(), v2 = (float[])v1.Clone();
            var (s, inv) = UpdateRules.AdamWConstants(1e-3, 0.9, 0.999, 3);
            UpdateRules.AdamW(p1, g, m1, v1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s, inv);
            UpdateRules.AdamWScalar(p2, g, m2, v2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s, inv);
            Assert.Equal(p2, p1); Assert.Equal(m2, m1); Assert.Equal(v2, v1);

            float[] q1 = Random(n, 9), q2 = (float[])q1.Clone(), b1 = new float[n], b2 = new float[n];
            UpdateRules.Sgd(q1, g, b1, 0.1f, 0.9f, 0.01f, true);
            UpdateRules.SgdScalar(q2, g, b2, 0.1f, 0.9f, 0.01f, true);
            Assert.Equal(q2, q1); Assert.Equal(b2, b1);
        }
    }

    [Fact]
    public void MismatchedLengthsThrow()
    {
        Assert.Throws<ArgumentException>(() => UpdateRules.Sgd(new float[3], new float[2], default, 0.1f, 0, 0, false));
        Assert.Throws<ArgumentException>(() => UpdateRules.Sgd(new float[3], new float[3], new float[2], 0.1f, 0.9f, 0, false));
        Assert.Throws<ArgumentException>(() => UpdateRules.AdamW(new float[3], new float[3], new float[3], new float[4], 0.1f, 0.9f, 0.99f, 1e-8f, 0, 1, 1));
        Assert.Throws<ArgumentException>(() => UpdateRules.AdamWConstants(0.1, 0.9, 0.99, 0));
    }
}
