using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>Every invalid Sgemm argument throws ArgumentException naming the parameter.</summary>
public class GemmArgumentTests
{
    static void Call(int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[] c, int ldc,
        Transpose ta = Transpose.No, Transpose tb = Transpose.No) =>
        Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);

    static void Throws(string param, Action call)
    {
        var e = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(param, e.ParamName);
    }

    [Fact]
    public void NegativeSizes()
    {
        float[] x = new float[16];
        Throws("m", () => Call(-1, 2, 2, x, 2, x, 2, new float[4], 2));
        Throws("n", () => Call(2, -1, 2, x, 2, x, 2, new float[4], 2));
        Throws("k", () => Call(2, 2, -3, x, 2, x, 2, new float[4], 2));
    }

    [Fact]
    public void LeadingDimensionsSmallerThanRows()
    {
        float[] a = new float[64], b = new float[64], c = new float[64];
        Throws("lda", () => Call(3, 4, 5, a, 4, b, 4, c, 4));                   // A is 3×5
        Throws("lda", () => Call(3, 4, 5, a, 2, b, 4, c, 4, ta: Transpose.Yes)); // A stored 5×3
        Throws("ldb", () => Call(3, 4, 5, a, 5, b, 3, c, 4));                   // B is 5×4
        Throws("ldb", () => Call(3, 4, 5, a, 5, b, 4, c, 4, tb: Transpose.Yes)); // B stored 4×5
        Throws("ldc", () => Call(3, 4, 5, a, 5, b, 4, c, 3));
        Throws("ldc", () => Call(0, 0, 0, a, 1, b, 1, c, 0));                   // must be ≥ 1 even when empty
    }

    [Fact]
    public void SpansTooShort()
    {
        // A 3×5 with lda 6 needs 2·6 + 5 = 17 elements.
        Throws("a", () => Call(3, 4, 5, new float[16], 6, new float[20], 4, new float[12], 4));
        Call(3, 4, 5, new float[17], 6, new float[20], 4, new float[12], 4);
        Throws("b", () => Call(3, 4, 5, new float[15], 5, new float[19], 4, new float[12], 4));
        Throws("b", () => Call(3, 4, 5, new float[15], 5, new float[19], 5, new float[12], 4, tb: Transpose.Yes));
        Throws("c", () => Call(3, 4, 5, new float[15], 5, new float[20], 4, new float[11], 4));
        Throws("c", () => Call(3, 4, 5, new float[15], 5, new float[20], 4, new float[13], 5));
    }

    [Fact]
    public void COverlappingAOrB()
    {
        float[] buf = new float[100];
        Throws("c", () => Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, buf.AsSpan(0, 16), 4, buf.AsSpan(50, 16), 4, 0f, buf.AsSpan(10, 16), 4));
        Throws("c", () => Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, buf.AsSpan(0, 16), 4, buf.AsSpan(50, 16), 4, 0f, buf.AsSpan(62, 16), 4));
        Throws("c", () => Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, buf.AsSpan(20, 16), 4, buf.AsSpan(50, 16), 4, 0f, buf.AsSpan(5, 16), 4));
        // Identical spans.
        float[] same = new float[16];
        Throws("c", () => Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, same, 4, new float[16], 4, 0f, same, 4));
    }

    [Fact]
    public void InterleavedButDisjointColumnBlocksAreAllowed()
    {
        // One 4×8 buffer: A in columns 0..3, C in columns 4..7 (lda = ldc = 8). Their extents overlap but no
        // element is shared, so this is legal and must compute A·I = A into the right half.
        float[] buf = new float[32];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) buf[i * 8 + j] = i * 4 + j + 1;
        float[] eye = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, buf.AsSpan(0, 28), 8, eye, 4, 0f, buf.AsSpan(4), 8);
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) Assert.Equal(buf[i * 8 + j], buf[i * 8 + 4 + j]);
        // Shift C one column left and it now shares column 3 with A.
        Throws("c", () => Gemm.Sgemm(Transpose.No, Transpose.No, 4, 4, 4, 1f, buf.AsSpan(0, 28), 8, eye, 4, 0f, buf.AsSpan(3), 8));
    }

    [Fact]
    public void EmptyShapesAreNoOps()
    {
        float[] c = [1, 2, 3];
        Gemm.Sgemm(Transpose.No, Transpose.No, 0, 3, 4, 1f, [], 4, new float[12], 3, 0f, c, 3);
        Gemm.Sgemm(Transpose.No, Transpose.No, 1, 0, 4, 1f, new float[4], 4, [], 1, 0f, c, 3);
        Assert.Equal([1f, 2f, 3f], c);
        // k == 0 with beta = 0 clears C even when it held NaN.
        float[] nan = [float.NaN, float.NaN];
        Gemm.Sgemm(Transpose.No, Transpose.No, 1, 2, 0, 1f, [], 1, [], 2, 0f, nan, 2);
        Assert.Equal([0f, 0f], nan);
    }
}
