namespace Lora.Kernels;

/// <summary>Shape checks for <see cref="LoraGemm"/>; every message names the offending shapes.</summary>
internal static class LoraArguments
{
    const string Kernel = "LoraGemm";

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
        // The fused GEMMs read x, A and B while they write h and y: a shared buffer gives wrong numbers, not an error.
        ForwardReads("y", y, x, xDrop, a, b, bias);
        ForwardReads("h", h, x, xDrop, a, b, bias);
        SpanOverlap.Disjoint(Kernel, "h", h, "y", y);
    }

    /// <summary>The dropout forward's xDrop (n, k) is written before x, A and B are read: it must overlap none of
    /// the other operands.</summary>
    public static void CheckDropOutput(ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> h, ReadOnlySpan<float> y)
    {
        ForwardReads("xDrop", xDrop, x, default, a, b, bias);
        SpanOverlap.Disjoint(Kernel, "xDrop", xDrop, "h", h);
        SpanOverlap.Disjoint(Kernel, "xDrop", xDrop, "y", y);
    }

    static void ForwardReads(string name, ReadOnlySpan<float> output, ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> bias) =>
        SpanOverlap.DisjointFromAll(Kernel, name, output, "x|xDrop|a|b|bias", x, xDrop, a, b, bias);

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
        // Every output (and the scratch g, read again for dx and dA) is written while the inputs are still read.
        ReadOnlySpan<float> g = r > 0 && (!dx.IsEmpty || !dA.IsEmpty) ? scratch : default; // only then is it written
        BackwardReads("scratch", g, x, xDrop, a, b, h, dy);
        BackwardReads("dx", dx, x, xDrop, a, b, h, dy);
        BackwardReads("dA", dA, x, xDrop, a, b, h, dy);
        BackwardReads("dB", dB, x, xDrop, a, b, h, dy);
        BackwardReads("dBias", dBias, x, xDrop, a, b, h, dy);
        BackwardReads("dW", dW, x, xDrop, a, b, h, dy);
        SpanOverlap.Disjoint(Kernel, "dx", dx, "scratch", g);
        SpanOverlap.Disjoint(Kernel, "dA", dA, "scratch", g);
        SpanOverlap.Disjoint(Kernel, "dB", dB, "scratch", g);
        SpanOverlap.Disjoint(Kernel, "dBias", dBias, "scratch", g);
        SpanOverlap.Disjoint(Kernel, "dW", dW, "scratch", g);
        SpanOverlap.Disjoint(Kernel, "dA", dA, "dx", dx);
        SpanOverlap.Disjoint(Kernel, "dB", dB, "dx", dx);
        SpanOverlap.Disjoint(Kernel, "dB", dB, "dA", dA);
        SpanOverlap.Disjoint(Kernel, "dBias", dBias, "dx", dx);
        SpanOverlap.Disjoint(Kernel, "dBias", dBias, "dA", dA);
        SpanOverlap.Disjoint(Kernel, "dBias", dBias, "dB", dB);
        SpanOverlap.Disjoint(Kernel, "dW", dW, "dx", dx);
        SpanOverlap.Disjoint(Kernel, "dW", dW, "dA", dA);
        SpanOverlap.Disjoint(Kernel, "dW", dW, "dB", dB);
        SpanOverlap.Disjoint(Kernel, "dW", dW, "dBias", dBias);
    }

    static void BackwardReads(string name, ReadOnlySpan<float> output, ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> dy) =>
        SpanOverlap.DisjointFromAll(Kernel, name, output, "x|xDrop|a|b|h|dy", x, xDrop, a, b, h, dy);

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
