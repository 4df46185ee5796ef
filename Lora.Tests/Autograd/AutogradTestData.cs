using Lora.Autograd;

namespace Lora.Tests.Autograd;

internal static class AutogradTestData
{
    public static float[] Uniform(int n, double lo, double hi, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * r.NextDouble());
        return a;
    }

    /// <summary>Values in ±[lo, hi]: kept away from 0 so kinks (ReLU) are not crossed by the perturbation.</summary>
    public static float[] AwayFromZero(int n, double lo, double hi, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((lo + (hi - lo) * r.NextDouble()) * (r.Next(2) == 0 ? -1 : 1));
        return a;
    }

    public static Tensor Leaf(Shape shape, int seed, double lo = -1, double hi = 1, bool requiresGrad = true, string? name = null) =>
        new(Uniform(shape.Length, lo, hi, seed), shape, requiresGrad, name);

    public static Parameter Param(string name, Shape shape, int seed, double lo = -1, double hi = 1) =>
        new(name, Uniform(shape.Length, lo, hi, seed), shape);

    public static void AssertPasses(GradCheckResult r) => Assert.True(r.Passed, r.ToString());
}
