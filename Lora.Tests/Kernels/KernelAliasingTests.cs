using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;
using static Lora.Tests.Kernels.KernelAliasingTests;

namespace Lora.Tests.Kernels;

/// <summary>Outputs that share memory with inputs: where a kernel works in place the result equals the
/// out-of-place one bit for bit; every other overlap is an <see cref="ArgumentException"/> naming both spans, never
/// a silently wrong result (the kernels write rows and GEMM tiles before they have read everything).</summary>
public class KernelAliasingTests
{
    /// <summary>16-float views of a byte buffer starting at a byte offset (spans cannot be captured by lambdas).</summary>
    static class Spans
    {
        public static ReadOnlySpan<float> Read(byte[] b, int at) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b.AsSpan(at, 64));
        public static Span<float> Write(byte[] b, int at) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b.AsSpan(at, 64));
    }

    const int N = 4, D = 24, K = 24, R = 4; // d = k so that y and dx can be laid over x and dy
    const float S = 0.5f;

    static PackedWeight Packed()
    {
        var w = new PackedWeight(D, K);
        w.Pack(Uniform(D * K, -1, 1, 1));
        return w;
    }

    internal static void Rejects(string output, string input, Action call)
    {
        var e = Assert.Throws<ArgumentException>(call);
        Assert.Contains(output, e.Message);
        Assert.Contains(input, e.Message);
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void ElementwiseRejectsAnOutputShiftedByLessThanAFloat()
    {
        // Float views cast from bytes can be misaligned: an output two bytes past its input shares six of every eight
        // bytes with it, and used to pass as "the same span" (the offset was divided by 4 before it was compared).
        var bytes = new byte[4 * 16 + 4];
        Assert.Contains("overlap", Assert.Throws<ArgumentException>(() => Elementwise.AddScaled(2f, Spans.Read(bytes, 0), Spans.Write(bytes, 2))).Message);
        Assert.Contains("overlap", Assert.Throws<ArgumentException>(() => Elementwise.Relu(Spans.Read(bytes, 2), Spans.Write(bytes, 0))).Message);
        Assert.Contains("overlap", Assert.Throws<ArgumentException>(() => Elementwise.Add(Spans.Read(bytes, 0), Spans.Read(bytes, 0), Spans.Write(bytes, 3))).Message);
        Elementwise.Relu(Spans.Read(bytes, 2), Spans.Write(bytes, 2)); // the very same view stays in place
    }

    [Fact]
    public void RowAndColumnSumsRejectSumsOverTheMatrix()
    {
        var x = Uniform(4 * 3, -1, 1, 21); // (4, 3)
        Rejects("sums (4 elements)", "x (12 elements)", () => Reductions.RowSums(4, 3, x, x.AsSpan(8, 4)));
        Rejects("sums (3 elements)", "x (12 elements)", () => Reductions.AddColumnSums(4, 3, x, x.AsSpan(3, 3)));
        Rejects("sums (3 elements)", "x (12 elements)", () => Reductions.AddColumnSumsScalar(4, 3, x, x.AsSpan(0, 3)));
        Assert.Equal(Uniform(4 * 3, -1, 1, 21), x); // nothing was written
    }

    [Fact]
    public void LoraGemmForwardRejectsOutputsOverOperands()
    {
        var w = Packed();
        float[] a = Uniform(R * K, -1, 1, 2), b = Uniform(D * R, -1, 1, 3), x = Uniform(N * K, -1, 1, 4);
        Rejects("y (96 elements)", "x (96 elements)", () => LoraGemm.Forward(N, D, K, R, S, x, default, w, a, b, default, new float[N * R], x));
        Rejects("h (16 elements)", "x (96 elements)", () => LoraGemm.Forward(N, D, K, R, S, x, default, w, a, b, default, x.AsSpan(8, N * R), new float[N * D]));
        var hy = new float[N * D + N * R];
        Rejects("h (16 elements)", "y (96 elements)", () => LoraGemm.Forward(N, D, K, R, S, x, default, w, a, b, default, hy.AsSpan(N * D - 1, N * R), hy.AsSpan(0, N * D)));
        var ab = new float[R * K + D * R];
        Rejects("y (96 elements)", "a (96 elements)", () => LoraGemm.Forward(N, D, K, R, S, x, default, w, ab.AsSpan(0, R * K), b, default, new float[N * R], ab.AsSpan(1, N * D)));
        // With dropout the kernel writes x ⊙ mask first: over x it would destroy the input of the base GEMM.
        var x2 = (float[])x.Clone();
        Rejects("xDrop (96 elements)", "x (96 elements)", () => LoraGemm.Forward(N, D, K, R, S, x2, x2, w, a, b, default, new float[N * R], new float[N * D], new LoraDropout(0.25f, 7)));
        Assert.Equal(x, x2); // rejected before anything was written
    }

    [Fact]
    public void LoraGemmBackwardRejectsOutputsOverOperandsAndEachOther()
    {
        var w = Packed();
        float[] a = Uniform(R * K, -1, 1, 2), b = Uniform(D * R, -1, 1, 3), x = Uniform(N * K, -1, 1, 4);
        float[] h = Uniform(N * R, -1, 1, 5), dy = Uniform(N * D, -1, 1, 6);
        void Call(Span<float> scratch, Span<float> dx, Span<float> dA, Span<float> dB, ReadOnlySpan<float> dyIn) =>
            LoraGemm.Backward(N, D, K, R, S, x, default, w, a, b, h, dyIn, scratch, dx, dA, dB, default, default, false);
        Rejects("dx (96 elements)", "dy (96 elements)", () => Call(new float[N * R], dy, default, default, dy));
        Rejects("scratch (16 elements)", "dy (96 elements)", () => Call(dy.AsSpan(0, N * R), new float[N * K], default, default, dy));
        var grads = new float[R * K + D * R];
        Rejects("dB (96 elements)", "dA (96 elements)", () => Call(new float[N * R], default, grads.AsSpan(0, R * K), grads.AsSpan(R * K - 1, D * R), dy));
        var xCopy = (float[])x.Clone();
        Rejects("dA (96 elements)", "x (96 elements)", () => LoraGemm.Backward(N, D, K, R, S, xCopy, default, w, a, b, h, dy, new float[N * R],
            default, xCopy, default, default, default, true));
        Assert.Equal(x, xCopy);
        // The scratch is written only when dx or dA is wanted: otherwise it is not an output and may be anything.
        var dB = new float[D * R];
        Call(dy.AsSpan(0, N * R), default, default, dB, dy);
        var expected = new float[D * R];
        Call(default, default, default, expected, dy);
        Assert.Equal(expected, dB);
    }

    [Fact]
    public void SoftmaxWorksInPlaceAndRejectsAPartialOverlap()
    {
        const int rows = 3, cols = 5;
        float[] x = Uniform(rows * cols, -3, 3, 1), dy = Uniform(rows * cols, -1, 1, 2);
        var y = new float[rows * cols];
        Softmax.Forward(rows, cols, x, y);
        var inPlace = (float[])x.Clone();
        Softmax.Forward(rows, cols, inPlace, inPlace);
        Assert.Equal(y, inPlace);
        var shifted = new float[rows * cols + cols];
        x.CopyTo(shifted, 0);
        Rejects("y (15 elements)", "x (15 elements)", () => Softmax.Forward(rows, cols, shifted.AsSpan(0, rows * cols), shifted.AsSpan(cols)));

        var dx = new float[rows * cols];
        Softmax.Backward(rows, cols, y, dy, dx);
        var dyInPlace = (float[])dy.Clone(); // dx += …, with dx being dy itself
        Softmax.Backward(rows, cols, y, dyInPlace, dyInPlace);
        for (int i = 0; i < dx.Length; i++) Assert.Equal(dy[i] + dx[i], dyInPlace[i]);
        var dyShifted = new float[rows * cols + 1];
        dy.CopyTo(dyShifted, 0);
        Rejects("dx (15 elements)", "dy (15 elements)", () => Softmax.Backward(rows, cols, y, dyShifted.AsSpan(0, rows * cols), dyShifted.AsSpan(1)));
    }

    [Fact]
    public void CrossEntropyInPlaceGivesTheSameLossAndProbabilities()
    {
        const int rows = 4, cols = 6;
        float[] logits = Uniform(rows * cols, -4, 4, 3);
        int[] labels = [5, 0, 3, 3];
        var probs = new float[rows * cols];
        float loss = Softmax.CrossEntropyForward(rows, cols, logits, labels, probs);
        var inPlace = (float[])logits.Clone();
        float lossInPlace = Softmax.CrossEntropyForward(rows, cols, inPlace, labels, inPlace); // was −log of a probability, not of a logit
        Assert.Equal(loss, lossInPlace);
        Assert.Equal(probs, inPlace);
        var shifted = new float[rows * cols + 2];
        Rejects("probs (24 elements)", "logits (24 elements)", () => Softmax.CrossEntropyForward(rows, cols, shifted.AsSpan(2), labels, shifted.AsSpan(0, rows * cols)));
        Rejects("dlogits (24 elements)", "probs (24 elements)", () => Softmax.CrossEntropyBackward(rows, cols, shifted.AsSpan(2), labels, 0.25f, shifted.AsSpan(0, rows * cols)));
    }

    [Fact]
    public void LayerNormWorksInPlaceAndRejectsOtherSharing()
    {
        const int rows = 3, d = 10;
        float[] x = Uniform(rows * d, -2, 2, 4), gamma = Uniform(d, 0.5, 1.5, 5), beta = Uniform(d, -1, 1, 6), dy = Uniform(rows * d, -1, 1, 7);
        float[] y = new float[rows * d], mean = new float[rows], rstd = new float[rows];
        LayerNormKernels.Forward(rows, d, 1e-5f, x, gamma, beta, y, mean, rstd);
        var inPlace = (float[])x.Clone();
        LayerNormKernels.Forward(rows, d, 1e-5f, inPlace, gamma, beta, inPlace, new float[rows], new float[rows]);
        Assert.Equal(y, inPlace);
        var buf = new float[rows * d + d];
        Rejects("y (30 elements)", "x (30 elements)", () => LayerNormKernels.Forward(rows, d, 1e-5f, buf.AsSpan(0, rows * d), gamma, beta, buf.AsSpan(d), mean, rstd));
        Assert.Contains("mean", Assert.Throws<ArgumentException>(() =>
            LayerNormKernels.Forward(rows, d, 1e-5f, x, gamma, beta, y, y.AsSpan(rows * d - rows), rstd)).Message);

        float[] dx = new float[rows * d], dg = new float[d], db = new float[d];
        LayerNormKernels.Backward(rows, d, x, gamma, mean, rstd, dy, dx, dg, db);
        var dyInPlace = (float[])dy.Clone();
        LayerNormKernels.Backward(rows, d, x, gamma, mean, rstd, dyInPlace, dyInPlace, default, default);
        for (int i = 0; i < dx.Length; i++) Assert.Equal(dy[i] + dx[i], dyInPlace[i]);
        var dyCopy = (float[])dy.Clone();
        Assert.Contains("dgamma", Assert.Throws<ArgumentException>(() =>
            LayerNormKernels.Backward(rows, d, x, gamma, mean, rstd, dyCopy, default, dyCopy.AsSpan(d, d), default)).Message);
        Assert.Equal(dy, dyCopy);
    }
}

/// <summary>The same rule for the convolution, pooling, embedding and recurrent kernels.</summary>
public class KernelAliasingConvAndEmbeddingTests
{
    [Fact]
    public void PoolingAndIm2ColRejectOutputsOverTheirInput()
    {
        var buf = Uniform(2 * 16 + 8, -1, 1, 1);
        Rejects("y", "x", () => Pooling.MaxPool2dForward(2, 4, 4, 2, 2, 0, buf.AsSpan(0, 32), buf.AsSpan(16, 8), new int[8]));
        Rejects("dx", "dy", () => Pooling.MaxPool2dBackward(2, 4, 4, 2, 2, buf.AsSpan(0, 8), new int[8], buf.AsSpan(0, 32)));
        var img = Uniform(36 + 16, -1, 1, 2);
        Rejects("cols", "x", () => Im2Col.Unfold(1, 4, 4, 2, 2, 1, 0, img.AsSpan(0, 16), img.AsSpan(0, 36)));
        Rejects("dx", "dcols", () => Im2Col.FoldAdd(1, 4, 4, 2, 2, 1, 0, img.AsSpan(0, 36), img.AsSpan(20, 16)));
    }

    [Fact]
    public void LoraConvRejectsOutputsOverOperands()
    {
        const int n = 2, c = 3, hw = 4, k = 3, r = 2, pad = 1;
        int xLen = n * c * hw * hw, hLen = n * r * hw * hw;
        float[] w = Uniform(c * c * k * k, -1, 1, 3), a = Uniform(r * c * k * k, -1, 1, 4), b = Uniform(c * r, -1, 1, 5);
        var buf = Uniform(xLen + 8, -1, 1, 6);
        Rejects("y", "x", () => LoraConv.Forward(n, c, hw, hw, c, k, k, 1, pad, r, 0.5f, buf.AsSpan(0, xLen), default, w, a, b, default,
            new float[hLen], buf.AsSpan(8, xLen), LoraDropout.None));
        var x = Uniform(xLen, -1, 1, 7);
        var dy = Uniform(xLen, -1, 1, 8);
        Rejects("dx", "dy", () => LoraConv.Backward(n, c, hw, hw, c, k, k, 1, pad, r, 0.5f, x, default, w, a, b, new float[hLen], dy,
            dy, default, default, default, default, LoraDropout.None));
        var grads = new float[a.Length + b.Length];
        Rejects("dA", "dB", () => LoraConv.Backward(n, c, hw, hw, c, k, k, 1, pad, r, 0.5f, x, default, w, a, b, new float[hLen], dy,
            default, grads.AsSpan(0, a.Length), grads.AsSpan(a.Length - 1, b.Length), default, default, LoraDropout.None));
    }

    [Fact]
    public void EmbeddingKernelsRejectOutputsOverOperands()
    {
        var table = Uniform(12, -1, 1, 9);
        Rejects("y", "table", () => EmbeddingKernels.Gather(4, 3, table, [3, 2], table.AsSpan(3, 6)));
        Rejects("dtable", "dy", () => EmbeddingKernels.ScatterAdd(4, 3, table.AsSpan(0, 6), [0, 1], table));
        // LoRA embedding: num 5, dim 3, r 2; A (2, 5), B (3, 2), two ids.
        float[] a = Uniform(10, -1, 1, 10), b = Uniform(6, -1, 1, 11), dy = Uniform(6, -1, 1, 12);
        Rejects("h", "a", () => LoraEmbeddingKernels.Forward(5, 3, 2, 1f, default, a, b, [1, 4], a.AsSpan(6, 4), new float[6]));
        var g = Uniform(16, -1, 1, 13); // dy (2, 3) at [0, 6), dA (2, 5) at [4, 14)
        Rejects("da", "dy", () => LoraEmbeddingKernels.Backward(5, 3, 2, 1f, b, [1, 4], new float[4], g.AsSpan(0, 6), new float[4], default,
            g.AsSpan(4, 10), default));
    }

    [Fact]
    public void GruWorksInPlaceAndRejectsOtherSharing()
    {
        const int n = 2, h = 9; // 9 columns: a vector block and a scalar tail
        float[] gx = Uniform(n * 3 * h, -2, 2, 14), gh = Uniform(n * 3 * h, -2, 2, 15), hPrev = Uniform(n * h, -1, 1, 16);
        float[] gates = new float[n * 3 * h], hOut = new float[n * h];
        RecurrentCells.GruForward(n, h, gx, gh, hPrev, gates, hOut);
        float[] gx2 = (float[])gx.Clone(), h2 = (float[])hPrev.Clone();
        RecurrentCells.GruForward(n, h, gx2, gh, h2, gx2, h2); // gates over gx, hOut over hPrev
        Assert.Equal(gates, gx2);
        Assert.Equal(hOut, h2);
        var gh2 = (float[])gh.Clone();
        Rejects("hOut", "gh", () => RecurrentCells.GruForward(n, h, gx, gh2, hPrev, gates, gh2.AsSpan(h, n * h)));
        Assert.Equal(gh, gh2);
        var dh = Uniform(n * 3 * h, -1, 1, 17); // dh (n, h) at [0, n·h), dgx (n, 3h) over all of it
        Rejects("dgx", "dh", () => RecurrentCells.GruBackward(n, h, gh, hPrev, gates, dh.AsSpan(0, n * h), dh, default, default));
    }

    [Fact]
    public void LoraNormsRejectScratchAndNormsOverOperands()
    {
        const int d = 6, k = 5, r = 2;
        float[] w = Uniform(d * k, -1, 1, 18), a = Uniform(r * k, -1, 1, 19), b = Uniform(d * r, -1, 1, 20);
        int len = LoraNorms.ScratchLength(d, r);
        Rejects("norms (6 elements)", "w", () => LoraNorms.RowNorms(d, k, r, 1f, w, a, b, new float[len], w.AsSpan(d * k - d)));
        var big = new float[len + r * k];
        Rejects("scratch", "a", () => LoraNorms.RowNorms(d, k, r, 1f, w, big.AsSpan(len - 1, r * k), b, big.AsSpan(0, len), new float[d]));
        Rejects("squares (6 elements)", "w", () => LoraNorms.RowSquares(d, k, w, w.AsSpan(k)));
        // T (k, d) of an embedding: the column norms.
        int colLen = LoraNorms.ColumnScratchLength(d, r);
        var tBuf = new float[k * d + colLen];
        Rejects("scratch", "t", () => LoraNorms.ColumnNorms(d, k, r, 1f, tBuf.AsSpan(0, k * d), a, b, tBuf.AsSpan(k * d - 1, colLen), new float[d]));
    }
}
