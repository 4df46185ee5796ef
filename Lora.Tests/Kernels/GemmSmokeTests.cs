using Lora.Kernels;

namespace Lora.Tests.Kernels;

public class GemmSmokeTests
{
    [Fact]
    public void TwoByTwoMatchesHandProduct()
    {
        // Inputs are random-free small integers so the float product is exact.
        float[] a = [1, 2, 3, 4], b = [5, 6, 7, 8], c = new float[4];
        Gemm.Sgemm(Transpose.No, Transpose.No, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        var expected = new float[4];
        for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int p = 0; p < 2; p++) expected[i * 2 + j] += a[i * 2 + p] * b[p * 2 + j];
        Assert.Equal(expected, c);
    }
}
