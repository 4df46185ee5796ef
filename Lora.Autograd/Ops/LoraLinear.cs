using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// The fused LoRA layer y = x·Wᵀ + b + s·(d(x)·Aᵀ)·Bᵀ for x (…, in), a frozen packed W (out, in), A (r, in),
    /// B (out, r), bias (out) or null, scale s = alpha/r, and LoRA dropout d (inverted, seeded; pass 0 in eval).
    /// </summary>
    /// <remarks>
    /// Runs on <see cref="LoraGemm"/>. With h = d(x)·Aᵀ and g = dy·B, the backward is dx += dy·W + s·(g·A) ⊙ m
    /// (m the dropout mask), dA += s·gᵀ·d(x), dB += s·dyᵀ·h, db += Σ_rows dy; never dW. The weight is passed per
    /// call, so a module may repack or swap it whenever W changes (e.g. on merge).
    /// The dropout mask of element i is <see cref="DropoutKernels.Mask"/>(seed, 0, p) — the same bits for any thread count.
    /// </remarks>
    public static Tensor LoraLinear(Tensor x, PackedWeight weight, Tensor a, Tensor b, Tensor? bias, float scale,
        float dropout = 0f, ulong seed = 0)
    {
        const string op = "LoraLinear";
        ArgumentNullException.ThrowIfNull(weight);
        RequireRank(op, x, 1);
        RequireRank(op, a, 2, 2);
        RequireRank(op, b, 2, 2);
        int k = weight.InFeatures, d = weight.OutFeatures, r = a.Shape[0], n = x.Shape.Rows;
        if (x.Shape.Last != k) throw new ArgumentException($"{op}: {x.Describe()} does not match the weight ({d}, {k}).");
        if (a.Shape[1] != k) throw new ArgumentException($"{op}: {a.Describe()} must be (r, {k}) for the weight ({d}, {k}).");
        if (b.Shape[0] != d || b.Shape[1] != r) throw Mismatch(op, $"B must be ({d}, r) with the r of A", b, a);
        if (bias != null && (bias.Shape.Rank != 1 || bias.Length != d)) throw new ArgumentException($"{op}: {bias.Describe()} must be ({d}).");
        if (!(dropout >= 0f && dropout < 1f)) throw new ArgumentException($"{op}: dropout must be in [0, 1), got {dropout}.", nameof(dropout));
        var tape = Tape.Current;
        var y = tape.NewTensor(x.Shape.WithLast(d));
        var h = tape.NewTensor(new Shape(n, r));
        Tensor? xDrop = null;
        if (dropout > 0f && r > 0)
        {
            xDrop = tape.NewTensor(x.Shape);
            DropoutKernels.Mask(seed, 0, dropout, xDrop.Data);
            Elementwise.Multiply(x.Data, xDrop.Data, xDrop.Data);
        }
        LoraGemm.Forward(n, d, k, r, scale, x.Data, xDrop != null ? xDrop.Data : default, weight, a.Data, b.Data,
            bias != null ? bias.Data : default, h.Data, y.Data);
        if (Tape.NeedsGrad(x, a, b, bias))
        {
            ref var node = ref tape.Record(op, &LoraLinearBackward, y);
            node.A = x; node.B = a; node.C = b; node.D = bias; node.Saved0 = h; node.Saved1 = xDrop; node.Obj = weight;
            node.I0 = n; node.I1 = d; node.I2 = k; node.I3 = r; node.F0 = scale; node.F1 = dropout; node.U0 = seed;
        }
        return tape.Finish(op, y);
    }

    static void LoraLinearBackward(ref Node node)
    {
        int n = node.I0, d = node.I1, k = node.I2, r = node.I3;
        float scale = node.F0, dropout = node.F1;
        var w = (PackedWeight)node.Obj!;
        Tensor x = node.A!, a = node.B!, b = node.C!, h = node.Saved0!;
        var xDrop = node.Saved1 != null ? node.Saved1.Data : default;
        var dy = node.Out.Grad;
        var pool = node.Out._tape!.Pool;
        float[]? scratch = r > 0 && (Wants(x) || Wants(a)) ? pool.RentFloats(n * r) : null;
        var g = scratch != null ? scratch.AsSpan(0, n * r) : default;
        if (node.Saved1 == null || !Wants(x))
        {
            // Without dropout the kernel's dx (dy·W + s·(dy·B)·A) is exactly the gradient.
            LoraGemm.Backward(n, d, k, r, scale, x.Data, xDrop, w, a.Data, b.Data, h.Data, dy, g,
                GradOf(x), GradOf(a), GradOf(b), GradOf(node.D), default, accumulate: true);
        }
        else
        {
            // With dropout the LoRA path's dx passes through the mask: dx += dy·W (rank-0 call), then
            // dx += (s·g·A) ⊙ m with the mask regenerated from the seed (counter-based, so identical).
            LoraGemm.Backward(n, d, k, 0, scale, x.Data, default, w, default, default, default, dy, default,
                x.Grad, default, default, default, default, accumulate: true);
            LoraGemm.Backward(n, d, k, r, scale, x.Data, xDrop, w, a.Data, b.Data, h.Data, dy, g,
                default, GradOf(a), GradOf(b), GradOf(node.D), default, accumulate: true);
            float[] t = pool.RentFloats(n * k), mask = pool.RentFloats(n * k);
            var ts = t.AsSpan(0, n * k);
            var ms = mask.AsSpan(0, n * k);
            // g was filled by the second call only when A wants a gradient; recompute it for dx either way.
            Gemm.Sgemm(Transpose.No, Transpose.No, n, r, d, 1f, dy, d, b.Data, r, 0f, g, r);
            Gemm.Sgemm(Transpose.No, Transpose.No, n, k, r, scale, g, r, a.Data, k, 0f, ts, k);
            DropoutKernels.Mask(node.U0, 0, dropout, ms);
            Elementwise.BinaryAccumulate<MultiplyOperator>(ts, ms, x.Grad);
            pool.Return(t);
            pool.Return(mask);
        }
        if (scratch != null) pool.Return(scratch);
    }
}
