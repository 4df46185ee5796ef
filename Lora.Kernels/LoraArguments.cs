namespace Lora.Kernels;

/// <summary>Shape checks for <see cref="LoraGemm"/>; every message names the offending shapes.</summary>
internal static class LoraArguments
{
    public static void CheckForward(int n, int d, int k, int r, ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop,
        PackedShape w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
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
        PackedShape w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> dy,
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

    /// <summary>The (d, k) of a weight, packed or not.</summary>
    public readonly record struct PackedShape(int OutFeatures, int InFeatures)
    {
        public static implicit operator PackedShape(PackedWeight w) => new(w.OutFeatures, w.InFeatures);
    }

    public static void CheckMerge(int d, int k, int r, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> w, PackedWeight? packed)
    {
        if (d < 0 || k < 0 || r < 0)
            throw new ArgumentException($"LoRA merge sizes must be non-negative: d = {d}, k = {k}, r = {r}.");
        Need("a", a.Length, r, k);
        Need("b", b.Length, d, r);
        Need("w", w.Length, d, k);
        if (packed != null && (packed.OutFeatures != d || packed.InFeatures != k))
            throw new ArgumentException($"packed weight is ({packed.OutFeatures}, {packed.InFeatures}) but W is ({d}, {k}).", nameof(packed));
    }

    static void CheckSizes(int n, int d, int k, int r, PackedShape w)
    {
        if (n < 0 || d < 0 || k < 0 || r < 0)
            throw new ArgumentException($"LoRA sizes must be non-negative: n = {n}, d = {d}, k = {k}, r = {r}.");
        if (w.OutFeatures != d || w.InFeatures != k)
            throw new ArgumentException($"packed weight is ({w.OutFeatures}, {w.InFeatures}) but the layer is (d = {d}, k = {k}).", "w");
    }

    public static void Need(string name, int length, int rows, int cols)
    {
        if (length != (long)rows * cols)
            throw new ArgumentException($"{name} has {length} elements, expected ({rows}, {cols}).", name);
    }
}
