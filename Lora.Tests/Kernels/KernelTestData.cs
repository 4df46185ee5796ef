namespace Lora.Tests.Kernels;

/// <summary>Shared inputs and checks for the non-GEMM kernel tests.</summary>
internal static class KernelTestData
{
    /// <summary>Unit roundoff of float32: |fl(x ∘ y) − x ∘ y| ≤ U·|x ∘ y| for one correctly rounded operation.</summary>
    public const double U = 1.0 / (1 << 24);

    /// <summary>Every length 0..2·8+1 (so each vector-tail length runs on both sides of a full vector) and a few larger.</summary>
    public static IEnumerable<int> Lengths => Enumerable.Range(0, 18).Concat([31, 32, 33, 100, 1000]);

    public static TheoryData<int> LengthData()
    {
        var d = new TheoryData<int>();
        foreach (int n in Lengths) d.Add(n);
        return d;
    }

    public static float[] Uniform(int n, double lo, double hi, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * r.NextDouble());
        return a;
    }

    /// <summary>Asserts |actual[i] − expected[i]| ≤ tol[i] for every i, reporting the worst offender.</summary>
    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, ReadOnlySpan<double> tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= tol[i]) && !(double.IsNaN(expected[i]) && float.IsNaN(actual[i])) && !(actual[i] == expected[i]))
                Assert.Fail($"{what}[{i}] = {actual[i]:R}, expected {expected[i]:R} ± {tol[i]:E3} (error {err:E3}, n = {actual.Length}).");
        }
    }

    public static void Close(float actual, double expected, double tol, string what)
    {
        double err = Math.Abs(actual - expected);
        if (!(err <= tol) && actual != expected)
            Assert.Fail($"{what} = {actual:R}, expected {expected:R} ± {tol:E3} (error {err:E3}).");
    }
}
