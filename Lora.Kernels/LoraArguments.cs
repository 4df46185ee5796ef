namespace Lora.Kernels;

/// <summary>Shape checks for <see cref="LoraGemm"/>; every message names the offending shapes.</summary>
internal static class LoraArguments
{
    public static void CheckForward(int n, int d, int k, int r, ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop,
        PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
    {
        CheckSizes(n, d, k, r, w);
        Need("x", x.Length, n, k);
        if (!xDrop.IsEmpty) Need("xDrop", xDrop.Length, n, k);
        Need("a", a.Length, r, k);
        Need("b", b.Length, d, r);
        if (!bias.IsEmpty && bias.Length != d) throw new ArgumentException($"bias has {bias.Length} elements, expected ({d}).", nameof(bias));
        Need("h", h.Length, n, r);
        Need("y", y.Length, n, d);
    }

    public static void CheckBackward(int n, int d, int k, int r, ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop,
        PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> dy,
        Span<float> scratch, Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW)
    {
        CheckSizes(n, d, k, r, w);
        Need("x", x.Length, n, k);
        if (!xDrop.IsEmpty) Need("xDrop", xDrop.Length, n, k);
        Need("a", a.Length, r, k);
        Need("b", b.Length, d, r);
        Need("h", h.Length, n, r);
        Need("dy", dy.Length, n, d);
        if (r > 0 && (!dx.IsEmpty || !dA.IsEmpty)) Need("scratch", scratch.Length, n, r);
        if (!dx.IsEmpty) Need("dx", dx.Length, n, k);
        if (!dA.IsEmpty) Need("dA", dA.Length, r, k);
        if (!dB.IsEmpty) Need("dB", dB.Length, d, r);
        if (!dBias.IsEmpty && dBias.Length != d) throw new ArgumentException($"dBias has {dBias.Length} elements, expected ({d}).", nameof(dBias));
        if (!dW.IsEmpty) Need("dW", dW.Length, d, k);
    }

    static void CheckSizes(int n, int d, int k, int r, PackedWeight w)
    {
        if (n < 0 || d < 0 || k < 0 || r < 0)
            throw new ArgumentException($"LoRA sizes must be non-negative: n = {n}, d = {d}, k = {k}, r = {r}.");
        if (w.OutFeatures != d || w.InFeatures != k)
            throw new ArgumentException($"packed weight is ({w.OutFeatures}, {w.InFeatures}) but the layer is (d = {d}, k = {k}).", nameof(w));
    }

    static void Need(string name, int length, int rows, int cols)
    {
        if (length != (long)rows * cols)
            throw new ArgumentException($"{name} has {length} elements, expected ({rows}, {cols}).", name);
    }
}
