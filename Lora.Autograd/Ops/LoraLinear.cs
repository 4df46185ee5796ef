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
    /// The dropout is <see cref="LoraDropout"/>(p, seed): element i of x has the mask bit of
    /// <see cref="DropoutKernels.Mask"/>(seed, 0, p) — the same bits for any thread count — and the backward
    /// regenerates the mask instead of storing it.
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
        var drop = dropout > 0f ? new LoraDropout(dropout, seed) : LoraDropout.None;
        // With dropout the kernel writes x ⊙ mask here; the backward needs it for dA.
        var xDrop = drop.IsActive ? tape.NewTensor(x.Shape) : null;
        LoraGemm.Forward(n, d, k, r, scale, x.Data, xDrop != null ? xDrop.Data : default, weight, a.Data, b.Data,
            bias != null ? bias.Data : default, h.Data, y.Data, drop);
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
        Tensor x = node.A!, a = node.B!, b = node.C!, h = node.Saved0!;
        var drop = node.F1 > 0f ? new LoraDropout(node.F1, node.U0) : LoraDropout.None;
        var pool = node.Out._tape!.Pool;
        float[]? scratch = r > 0 && (Wants(x) || Wants(a)) ? pool.RentFloats(n * r) : null;
        // dx = dy·W + (s·(dy·B)·A) ⊙ mask, the mask regenerated from the seed; dW is never computed (W is frozen).
        // A fresh dx is stored rather than added to a zeroed buffer; the parameters' gradients accumulate.
        bool overwrite = false;
        var dx = Wants(x) ? x.GradForWrite(out overwrite) : default;
        LoraGemm.Backward(n, d, k, r, node.F0, x.Data, node.Saved1 != null ? node.Saved1.Data : default,
            (PackedWeight)node.Obj!, a.Data, b.Data, h.Data, node.Out.Grad, scratch != null ? scratch.AsSpan(0, n * r) : default,
            dx, GradOf(a), GradOf(b), GradOf(node.D), default, accumulate: true, drop, accumulateDx: !overwrite);
        if (scratch != null) pool.Return(scratch);
    }
}
