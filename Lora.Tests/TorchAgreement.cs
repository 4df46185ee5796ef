namespace Lora.Tests;

/// <summary>The agreement rule of the PyTorch fixture tests: float32 results against PyTorch's float64 ones.</summary>
internal static class TorchAgreement
{
    /// <summary>Relative tolerance: each element must agree within 1e-5 of the larger of its own magnitude and the
    /// tensor's largest, so that near-zero entries of a gradient are judged on the tensor's scale.</summary>
    public const double Rel = 1e-5;

    /// <summary>Asserts <paramref name="actual"/> agrees with <paramref name="expected"/> element by element under <see cref="Rel"/>.</summary>
    public static void Agree(string what, ReadOnlySpan<float> actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = Rel * Math.Max(Math.Abs(expected[i]), scale);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol, $"{what}[{i}] = {actual[i]:R}, PyTorch {expected[i]:R} (tolerance {tol:E2})");
        }
    }
}
