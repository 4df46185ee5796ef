using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Lora.Core.Optim;

/// <summary>The per-element optimizer updates over spans, in PyTorch's formulation (torch.optim.SGD / AdamW).</summary>
/// <remarks>
/// Each rule has a vectorised body (<see cref="Vector{T}"/>) and a scalar twin; both perform the same float
/// operations in the same order (no fused multiply-add), so they agree bit for bit and the scalar twin is the
/// oracle in tests. Nothing allocates.
/// </remarks>
public static class UpdateRules
{
    /// <summary>One SGD step on p with gradient g.</summary>
    /// <remarks>
    /// d = g + wd·p; with momentum μ &gt; 0: buf ← μ·buf + d (buf starts at 0, so the first step gives buf = d exactly as
    /// PyTorch's clone), then d = d + μ·buf (Nesterov) or d = buf; finally p ← p − lr·d.
    /// <paramref name="buffer"/> may be empty when μ = 0.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sgd(Span<float> p, ReadOnlySpan<float> g, Span<float> buffer,
        float lr, float momentum, float weightDecay, bool nesterov)
    {
        CheckLengths(p, g, momentum != 0 ? buffer.Length : p.Length, p.Length, "Sgd");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<float>.Count;
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var bv = momentum != 0 ? MemoryMarshal.Cast<float, Vector<float>>(buffer) : default;
            Vector<float> vLr = new(lr), vMu = new(momentum), vWd = new(weightDecay);
            for (int j = 0; j < pv.Length; j++)
            {
                var d = gv[j] + vWd * pv[j];
                if (momentum != 0)
                {
                    var b = vMu * bv[j] + d;
                    bv[j] = b;
                    d = nesterov ? d + vMu * b : b;
                }
                pv[j] = pv[j] - vLr * d;
            }
            i = pv.Length * w;
        }
        SgdScalar(p[i..], g[i..], momentum != 0 ? buffer[i..] : default, lr, momentum, weightDecay, nesterov);
    }

    /// <summary>The scalar twin of <see cref="Sgd"/>.</summary>
    public static void SgdScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> buffer,
        float lr, float momentum, float weightDecay, bool nesterov)
    {
        CheckLengths(p, g, momentum != 0 ? buffer.Length : p.Length, p.Length, "SgdScalar");
        for (int i = 0; i < p.Length; i++)
        {
            float d = g[i] + weightDecay * p[i];
            if (momentum != 0)
            {
                float b = momentum * buffer[i] + d;
                buffer[i] = b;
                d = nesterov ? d + momentum * b : b;
            }
            p[i] = p[i] - lr * d;
        }
    }

    /// <summary>The step-dependent constants of AdamW step t (1-based): lr/(1 − β1ᵗ) and 1/√(1 − β2ᵗ), in double.</summary>
    public static (float StepSize, float InvSqrtBias2) AdamWConstants(double lr, double beta1, double beta2, long t)
    {
        if (t < 1) throw new ArgumentException($"AdamW step t = {t} must be ≥ 1.", nameof(t));
        double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
        return ((float)(lr / bc1), (float)(1 / Math.Sqrt(bc2)));
    }

    /// <summary>One AdamW step (decoupled weight decay, bias-corrected moments).</summary>
    /// <remarks>
    /// p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
    /// p ← p − (lr/(1 − β1ᵗ))·(m / (√v/√(1 − β2ᵗ) + ε)). Pass <paramref name="stepSize"/> and
    /// <paramref name="invSqrtBias2"/> from <see cref="AdamWConstants"/>.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AdamW(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float stepSize, float invSqrtBias2)
    {
        CheckLengths(p, g, m.Length, v.Length, "AdamW");
        float decay = 1 - lr * weightDecay, c1 = 1 - beta1, c2 = 1 - beta2;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            Vector<float> vDecay = new(decay), vB1 = new(beta1), vC1 = new(c1), vB2 = new(beta2), vC2 = new(c2),
                vStep = new(stepSize), vInv = new(invSqrtBias2), vEps = new(eps);
            for (int j = 0; j < pv.Length; j++)
            {
                var gj = gv[j];
                var mj = vB1 * mv[j] + vC1 * gj;
                var vj = vB2 * vv[j] + vC2 * (gj * gj);
                mv[j] = mj;
                vv[j] = vj;
                var denom = Vector.SquareRoot(vj) * vInv + vEps;
                pv[j] = pv[j] * vDecay - vStep * (mj / denom);
            }
            i = pv.Length * Vector<float>.Count;
        }
        AdamWScalar(p[i..], g[i..], m[i..], v[i..], lr, beta1, beta2, eps, weightDecay, stepSize, invSqrtBias2);
    }

    /// <summary>The scalar twin of <see cref="AdamW"/>.</summary>
    public static void AdamWScalar(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float stepSize, float invSqrtBias2)
    {
        CheckLengths(p, g, m.Length, v.Length, "AdamWScalar");
        float decay = 1 - lr * weightDecay, c1 = 1 - beta1, c2 = 1 - beta2;
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            float mi = beta1 * m[i] + c1 * gi;
            float vi = beta2 * v[i] + c2 * (gi * gi);
            m[i] = mi;
            v[i] = vi;
            float denom = MathF.Sqrt(vi) * invSqrtBias2 + eps;
            p[i] = p[i] * decay - stepSize * (mi / denom);
        }
    }

    static void CheckLengths(Span<float> p, ReadOnlySpan<float> g, int len3, int len4, string rule)
    {
        if (g.Length != p.Length || len3 != p.Length || len4 != p.Length)
            throw new ArgumentException($"{rule}: parameter has {p.Length} elements but gradient/state have {g.Length}, {len3}, {len4}.");
    }
}
