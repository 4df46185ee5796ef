namespace Lora.Kernels;

/// <summary>The LoRA layer's forward and backward: y = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ, never forming B·A.</summary>
/// <remarks>
/// <para>Shapes: x (n, k), W (d, k) frozen and packed (<see cref="PackedWeight"/>), A (r, k), B (d, r), bias (d) or
/// empty, h = xd·Aᵀ (n, r), y (n, d), where xd is x after LoRA dropout (or x itself when dropout is off).</para>
/// <para>Fused: the forward is one GEMM over the inner dimension k + r, y = [x | s·h]·[W | B]ᵀ + bias, reading the
/// packed W panels and a per-call packed B panel, so the low-rank term costs its FLOPs and no extra pass over y.
/// The input gradient is fused the same way, dx = [dy | s·dy·B]·[W ; A]. For n ≤ 16 both stream W once from its
/// packed panels (docs/kernels.md). Results are bitwise the same for any <see cref="KernelThreads.Count"/>, and a
/// call allocates nothing on the managed heap after the first call on a thread.</para>
/// <para><see cref="LoraGemmReference"/> is the unfused scalar twin over a plain row-major W.</para>
/// </remarks>
public static class LoraGemm
{
    /// <summary>h = xd·Aᵀ, then y = x·Wᵀ + bias + scale·h·Bᵀ (y is overwritten).</summary>
    /// <param name="xDrop">x after dropout on the LoRA path, (n, k), computed by the caller; empty means no dropout.</param>
    /// <remarks>With scale = 0 or r = 0 the result is bitwise the plain x·Wᵀ + bias of this kernel; so is it with
    /// B = 0 (the low-rank stretch then adds exact zeros).</remarks>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Forward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(w);
        LoraArguments.CheckForward(n, d, k, r, x, xDrop, w, a, b, bias, h, y);
        LoraGemmFused.Forward(n, d, k, r, scale, x, xDrop.IsEmpty ? x : xDrop, w, a, b, bias, h, y);
    }

    /// <summary>
    /// As <see cref="Forward(int, int, int, int, float, ReadOnlySpan{float}, ReadOnlySpan{float}, PackedWeight, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float})"/>,
    /// with the seeded dropout applied here: xDrop (n, k) receives x ⊙ mask (keep it for the backward; it may be
    /// empty when the dropout is inactive).
    /// </summary>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Forward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, Span<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> bias, Span<float> h, Span<float> y, LoraDropout dropout)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (!dropout.IsActive)
        {
            Forward(n, d, k, r, scale, x, default, w, a, b, bias, h, y);
            return;
        }
        LoraArguments.CheckForward(n, d, k, r, x, default, w, a, b, bias, h, y);
        LoraArguments.Need("xDrop", xDrop.Length, n, k);
        LoraArguments.CheckDropOutput(x, xDrop, a, b, bias, h, y);
        DropoutKernels.Mask(dropout.Seed, 0, dropout.P, xDrop);
        Elementwise.Multiply(x, xDrop, xDrop);
        LoraGemmFused.Forward(n, d, k, r, scale, x, xDrop, w, a, b, bias, h, y);
    }

    /// <summary>
    /// Given dy (n, d): dx = dy·W + s·(dy·B)·A; dA = s·(dy·B)ᵀ·xd; dB = s·dyᵀ·h; dBias = Σ_rows dy; dW = dyᵀ·x.
    /// Any output passed as an empty span is skipped (dW is the full fine-tuning gradient: skip it for LoRA).
    /// </summary>
    /// <remarks>Here dx is not masked: with dropout, use the overload taking a <see cref="LoraDropout"/>, whose dx
    /// is the true input gradient dy·W + (s·(dy·B)·A) ⊙ mask.</remarks>
    /// <param name="accumulate">true: outputs are added into (+=), as gradients accumulate; false: overwritten.</param>
    /// <param name="scratch">(n, r) workspace that receives g = dy·B; may be empty when r = 0 or when neither dx nor
    /// dA is wanted.</param>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Backward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> scratch,
        Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW, bool accumulate)
    {
        ArgumentNullException.ThrowIfNull(w);
        LoraArguments.CheckBackward(n, d, k, r, x, xDrop, w, a, b, h, dy, scratch, dx, dA, dB, dBias, dW);
        LoraGemmFused.Backward(n, d, k, r, scale, x, xDrop.IsEmpty ? x : xDrop, w, a, b, h, dy, scratch,
            dx, dA, dB, dBias, dW, accumulate, LoraDropout.None, accumulate);
    }

    /// <summary>
    /// As the overload without dropout, for a forward run with <paramref name="dropout"/>: xDrop is the forward's
    /// x ⊙ mask (ignored when the dropout is inactive), and dx = dy·W + (s·(dy·B)·A) ⊙ mask, the mask regenerated
    /// from the seed.
    /// </summary>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Backward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> scratch,
        Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW, bool accumulate, LoraDropout dropout)
        => Backward(n, d, k, r, scale, x, xDrop, w, a, b, h, dy, scratch, dx, dA, dB, dBias, dW, accumulate, dropout,
            accumulateDx: accumulate);

    /// <summary>
    /// As the overload with <paramref name="dropout"/>, with dx's mode chosen apart from the other outputs':
    /// <paramref name="accumulateDx"/> false stores dx (a fresh activation gradient needs no zeroing pass) while
    /// <paramref name="accumulate"/> still governs dA, dB, dBias and dW.
    /// </summary>
    /// <exception cref="ArgumentException">A size is negative or a span does not match its shape.</exception>
    public static void Backward(int n, int d, int k, int r, float scale,
        ReadOnlySpan<float> x, ReadOnlySpan<float> xDrop, PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        ReadOnlySpan<float> h, ReadOnlySpan<float> dy, Span<float> scratch,
        Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW, bool accumulate, LoraDropout dropout,
        bool accumulateDx)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (!dropout.IsActive) xDrop = default;
        else if (!dA.IsEmpty) LoraArguments.Need("xDrop", xDrop.Length, n, k);
        LoraArguments.CheckBackward(n, d, k, r, x, xDrop, w, a, b, h, dy, scratch, dx, dA, dB, dBias, dW);
        LoraGemmFused.Backward(n, d, k, r, scale, x, xDrop.IsEmpty ? x : xDrop, w, a, b, h, dy, scratch,
            dx, dA, dB, dBias, dW, accumulate, dropout, accumulateDx);
    }

    /// <summary>W += scale·B·A in place (the only place B·A is ever formed), then repacks <paramref name="packed"/>.</summary>
    /// <param name="w">W (d, k), row-major.</param>
    /// <param name="packed">The packed copy of W to refresh, or null.</param>
    /// <exception cref="ArgumentException">A span or the packed weight does not match its shape.</exception>
    public static void Merge(int d, int k, int r, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<float> w, PackedWeight? packed) => AddProduct(d, k, r, scale, a, b, w, packed);

    /// <summary>W −= scale·B·A in place, then repacks <paramref name="packed"/>: undoes <see cref="Merge"/> up to
    /// rounding, |ΔW| ≤ 3u·(|W| + |scale|·|B|·|A|) elementwise with u = 2⁻²⁴.</summary>
    /// <exception cref="ArgumentException">A span or the packed weight does not match its shape.</exception>
    public static void Unmerge(int d, int k, int r, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<float> w, PackedWeight? packed) => AddProduct(d, k, r, -scale, a, b, w, packed);

    static void AddProduct(int d, int k, int r, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<float> w, PackedWeight? packed)
    {
        LoraArguments.CheckMerge(d, k, r, a, b, w, packed);
        if (r > 0 && d > 0 && k > 0)
            Gemm.Sgemm(Transpose.No, Transpose.No, d, k, r, scale, b, r, a, k, 1f, w, k); // w (d,k) += s·b (d,r)·a (r,k)
        packed?.Pack(w);
    }
}
