using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>Row-wise softmax and the fused softmax–cross-entropy loss, forward and backward.</summary>
/// <remarks>
/// Every row is shifted by its maximum before exponentiating (log-sum-exp), so no exponent overflows:
/// softmax(x)ⱼ = e^(xⱼ − m) / Σₖ e^(xₖ − m), m = maxₖ xₖ; the per-row loss is m + log Σₖ e^(xₖ − m) − x_label.
/// </remarks>
public static class Softmax
{
    /// <summary>y[i, :] = softmax(x[i, :]) for x, y (rows, cols). y may be x.</summary>
    public static void Forward(int rows, int cols, ReadOnlySpan<float> x, Span<float> y) => Forward(rows, cols, x, y, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="Forward(int, int, ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void ForwardScalar(int rows, int cols, ReadOnlySpan<float> x, Span<float> y) => Forward(rows, cols, x, y, false);

    /// <summary>dx[i, :] += y[i, :] ⊙ (dy[i, :] − ⟨dy[i, :], y[i, :]⟩), the softmax Jacobian–vector product.</summary>
    public static void Backward(int rows, int cols, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Check("Softmax.Backward", rows, cols, y.Length, dx.Length);
        if (dy.Length != y.Length) throw new ArgumentException($"Softmax.Backward: dy has {dy.Length} elements, expected ({rows}, {cols}).", nameof(dy));
        // In place (dx being dy or y) is exact: a row's dot product is taken before its elements are written.
        SpanOverlap.SameOrDisjoint("Softmax.Backward", "dx", dx, "y", y);
        SpanOverlap.SameOrDisjoint("Softmax.Backward", "dx", dx, "dy", dy);
        for (int i = 0; i < rows; i++)
        {
            var yr = y.Slice(i * cols, cols);
            var dyr = dy.Slice(i * cols, cols);
            var dxr = dx.Slice(i * cols, cols);
            float dot = Reductions.Dot(dyr, yr);
            for (int j = 0; j < cols; j++) dxr[j] += yr[j] * (dyr[j] - dot);
        }
    }

    /// <summary>
    /// probs = softmax(logits) row-wise; returns the mean over rows of −log probs[i, labels[i]], computed stably as
    /// m + log Σ e^(x − m) − x_label and averaged in double. logits, probs (rows, cols); labels (rows) in [0, cols).
    /// probs may be logits (in place). No rows: NaN, the mean of nothing (as PyTorch's mean-reduced cross_entropy).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A label outside [0, cols), naming its row.</exception>
    public static float CrossEntropyForward(int rows, int cols, ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, Span<float> probs)
        => CrossEntropyForward(rows, cols, logits, labels, probs, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="CrossEntropyForward(int, int, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float})"/>.</summary>
    public static float CrossEntropyForwardScalar(int rows, int cols, ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, Span<float> probs)
        => CrossEntropyForward(rows, cols, logits, labels, probs, false);

    /// <summary>dlogits[i, j] += scale · (probs[i, j] − [j = labels[i]]); for the mean loss, scale = dLoss / rows.</summary>
    public static void CrossEntropyBackward(int rows, int cols, ReadOnlySpan<float> probs, ReadOnlySpan<int> labels, float scale, Span<float> dlogits)
    {
        Check("CrossEntropyBackward", rows, cols, probs.Length, dlogits.Length);
        SpanOverlap.SameOrDisjoint("CrossEntropyBackward", "dlogits", dlogits, "probs", probs);
        CheckLabels(rows, cols, labels);
        for (int i = 0; i < rows; i++)
        {
            var dr = dlogits.Slice(i * cols, cols);
            Elementwise.AddScaled(scale, probs.Slice(i * cols, cols), dr);
            dr[labels[i]] -= scale;
        }
    }

    static void Forward(int rows, int cols, ReadOnlySpan<float> x, Span<float> y, bool vector)
    {
        Check("Softmax.Forward", rows, cols, x.Length, y.Length);
        SpanOverlap.SameOrDisjoint("Softmax.Forward", "y", y, "x", x); // a shifted y would overwrite rows not yet read
        for (int i = 0; i < rows; i++) Row(x.Slice(i * cols, cols), y.Slice(i * cols, cols), vector);
    }

    static float CrossEntropyForward(int rows, int cols, ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, Span<float> probs, bool vector)
    {
        Check("CrossEntropyForward", rows, cols, logits.Length, probs.Length);
        SpanOverlap.SameOrDisjoint("CrossEntropyForward", "probs", probs, "logits", logits);
        CheckLabels(rows, cols, labels);
        double total = 0;
        for (int i = 0; i < rows; i++)
        {
            var xr = logits.Slice(i * cols, cols);
            float picked = xr[labels[i]]; // read before the row is softmaxed, which overwrites it when probs is logits
            float logSum = Row(xr, probs.Slice(i * cols, cols), vector);
            total += logSum - picked;
        }
        return rows == 0 ? float.NaN : (float)(total / rows); // the mean of no rows, as Mean and PyTorch's cross_entropy give
    }

    /// <summary>y = softmax(x) for one row; returns log Σ e^x (the row's log-sum-exp).</summary>
    static float Row(ReadOnlySpan<float> x, Span<float> y, bool vector)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        float m = Reductions.Max(x, vector);
        // A row of all −∞ has no finite maximum; shifting by 0 keeps it from turning into NaN via ∞ − ∞.
        if (float.IsNegativeInfinity(m)) m = 0f;
        Elementwise.BinaryWithScalar<ExpOfDifferenceOperator>(x, m, y, vector);
        float sum = Reductions.Sum(y, vector);
        Elementwise.BinaryWithScalar<MultiplyOperator>(y, 1f / sum, y, vector);
        return m + MathF.Log(sum);
    }

    static void Check(string op, int rows, int cols, int inLength, int outLength)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"{op}: sizes must be non-negative, got ({rows}, {cols}).");
        long len = (long)rows * cols;
        if (inLength != len) throw new ArgumentException($"{op}: input has {inLength} elements, expected ({rows}, {cols}).");
        if (outLength != len) throw new ArgumentException($"{op}: output has {outLength} elements, expected ({rows}, {cols}).");
    }

    static void CheckLabels(int rows, int cols, ReadOnlySpan<int> labels)
    {
        if (labels.Length != rows) throw new ArgumentException($"labels has {labels.Length} entries, expected one per row ({rows}).", nameof(labels));
        for (int i = 0; i < rows; i++)
            if ((uint)labels[i] >= (uint)cols)
                throw new ArgumentOutOfRangeException(nameof(labels), $"label {labels[i]} at row {i} is outside [0, {cols}).");
    }
}
