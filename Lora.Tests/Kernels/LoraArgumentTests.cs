using Lora.Kernels;

namespace Lora.Tests.Kernels;

/// <summary>Shape mismatches in the LoRA kernels throw ArgumentException naming the shapes.</summary>
public class LoraArgumentTests
{
    const int N = 3, D = 5, K = 4, R = 2;
    static readonly PackedWeight W = new(D, K);

    static ArgumentException Forward(int x = N * K, int a = R * K, int b = D * R, int bias = D, int h = N * R, int y = N * D, PackedWeight? w = null) =>
        Assert.Throws<ArgumentException>(() => LoraGemm.Forward(N, D, K, R, 1f, new float[x], default, w ?? W,
            new float[a], new float[b], new float[bias], new float[h], new float[y]));

    [Fact]
    public void ForwardNamesTheMismatchedShapes()
    {
        Assert.Contains("x has 11 elements, expected (3, 4)", Forward(x: 11).Message);
        Assert.Contains("a has 7 elements, expected (2, 4)", Forward(a: 7).Message);
        Assert.Contains("b has 9 elements, expected (5, 2)", Forward(b: 9).Message);
        Assert.Contains("bias has 4 elements, expected (5)", Forward(bias: 4).Message);
        Assert.Contains("h has 5 elements, expected (3, 2)", Forward(h: 5).Message);
        Assert.Contains("y has 16 elements, expected (3, 5)", Forward(y: 16).Message);
        Assert.Contains("packed weight is (4, 5) but the layer is (d = 5, k = 4)", Forward(w: new PackedWeight(4, 5)).Message);
        var e = Assert.Throws<ArgumentException>(() => LoraGemm.Forward(-1, D, K, R, 1f, [], default, W, [], [], [], [], []));
        Assert.Contains("n = -1", e.Message);
    }

    [Fact]
    public void BackwardNamesTheMismatchedShapes()
    {
        ArgumentException Call(int dy = N * D, int scratch = N * R, int dx = N * K, int dA = R * K, int dB = D * R, int db = D, int dW = D * K) =>
            Assert.Throws<ArgumentException>(() => LoraGemm.Backward(N, D, K, R, 1f, new float[N * K], default, W,
                new float[R * K], new float[D * R], new float[N * R], new float[dy], new float[scratch], new float[dx],
                new float[dA], new float[dB], new float[db], new float[dW], false));
        Assert.Contains("dy has 14 elements, expected (3, 5)", Call(dy: 14).Message);
        Assert.Contains("scratch has 5 elements, expected (3, 2)", Call(scratch: 5).Message);
        Assert.Contains("dx has 13 elements, expected (3, 4)", Call(dx: 13).Message);
        Assert.Contains("dA has 9 elements, expected (2, 4)", Call(dA: 9).Message);
        Assert.Contains("dB has 11 elements, expected (5, 2)", Call(dB: 11).Message);
        Assert.Contains("dBias has 6 elements, expected (5)", Call(db: 6).Message);
        Assert.Contains("dW has 21 elements, expected (5, 4)", Call(dW: 21).Message);
    }

    [Fact]
    public void DropoutMergeAndPackNameTheirShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => LoraGemm.Forward(N, D, K, R, 1f, new float[N * K], new float[5], W,
            new float[R * K], new float[D * R], default, new float[N * R], new float[N * D], new LoraDropout(0.5f, 1)));
        Assert.Contains("xDrop has 5 elements, expected (3, 4)", e.Message);
        Assert.Throws<ArgumentException>(() => new LoraDropout(1f, 1));
        e = Assert.Throws<ArgumentException>(() => LoraGemm.Merge(D, K, R, 1f, new float[R * K], new float[D * R], new float[D * K], new PackedWeight(D, K + 1)));
        Assert.Contains("packed weight is (5, 5) but W is (5, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => LoraGemm.Unmerge(D, K, R, 1f, new float[R * K], new float[3], new float[D * K], null));
        Assert.Contains("b has 3 elements, expected (5, 2)", e.Message);
        e = Assert.Throws<ArgumentException>(() => W.Pack(new float[D * K - 1]));
        Assert.Contains("expected (5, 4)", e.Message);
        Assert.Throws<ArgumentException>(() => new PackedWeight(-1, 3));
    }
}
