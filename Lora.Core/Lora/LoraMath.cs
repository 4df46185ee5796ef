using Lora.Kernels;

namespace Lora.Core.Lora;

/// <summary>The span-level arithmetic behind LoRA's weight surgery: merging, PiSSA initialisation and the exact
/// concatenation of several adapters. Shapes: W (d, k), A (r, k), B (d, r).</summary>
public static class LoraMath
{
    /// <summary>W ← W + sign·s·B·A (merge with sign = +1, unmerge with −1), one GEMM.</summary>
    /// <remarks>Each element of W changes by one rounded product-sum: |error| ≤ (r + 1)·2⁻²⁴·(|W| + s·Σ_j |B_ij||A_jk|)
    /// per merge, and a merge followed by an unmerge restores W within twice that bound (not bitwise).</remarks>
    public static void AddDelta(Span<float> w, int d, int k, int r, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float sign)
    {
        Check(w, d, k, r, a, b);
        if (r == 0 || d == 0 || k == 0) return;
        Gemm.Sgemm(Transpose.No, Transpose.No, d, k, r, sign * scale, b, r, a, k, 1f, w, k);
    }

    /// <summary>PiSSA: from W's top-r singular triplets, A = √S·Vᵀ/√s and B = U·√S/√s (so s·B·A = U·S·Vᵀ), and
    /// W ← W − s·B·A, the residual. The layer's output is unchanged up to rounding.</summary>
    /// <remarks>The returned A and B are freshly computed; W is modified in place. See <see cref="TruncatedSvd"/>.</remarks>
    public static void PissaInit(Span<float> w, int d, int k, int r, float scale, ulong seed, int iterations,
        Span<float> a, Span<float> b)
    {
        Check(w, d, k, r, a, b);
        if (!(scale > 0 && float.IsFinite(scale))) throw new ArgumentException($"PiSSA: scale {scale} must be finite and positive.", nameof(scale));
        var svd = TruncatedSvd.Compute(w, d, k, r, seed, iterations);
        double invSqrtScale = 1 / Math.Sqrt(scale);
        for (int j = 0; j < r; j++)
        {
            double f = Math.Sqrt(svd.S[j]) * invSqrtScale;
            for (int c = 0; c < k; c++) a[j * k + c] = (float)(f * svd.Vt[j * k + c]);
            for (int i = 0; i < d; i++) b[i * r + j] = (float)(f * svd.U[i * r + j]);
        }
        AddDelta(w, d, k, r, scale, a, b, -1f);
    }

    /// <summary>Concatenates adapters into one whose delta is exactly Σ_i weight_i·s_i·B_i·A_i, with scale 1:
    /// A = [A_1; A_2; …] (Σr, k) and B = [w_1·s_1·B_1, w_2·s_2·B_2, …] (d, Σr).</summary>
    /// <remarks>Exact in real arithmetic; in float each element of B is one rounded product, so the combined delta
    /// differs from the weighted sum of deltas by at most ~2⁻²³ relative per term.</remarks>
    public static (float[] A, float[] B, int Rank) Concatenate(int d, int k,
        IReadOnlyList<(float[] A, float[] B, int Rank, float Scale, float Weight)> adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        if (adapters.Count == 0) throw new ArgumentException("Concatenate: no adapters given.", nameof(adapters));
        int total = 0;
        foreach (var ad in adapters)
        {
            if (ad.A.Length != ad.Rank * k || ad.B.Length != d * ad.Rank)
                throw new ArgumentException($"Concatenate: an adapter of rank {ad.Rank} has A {ad.A.Length} and B {ad.B.Length} elements, expected ({ad.Rank}, {k}) and ({d}, {ad.Rank}).");
            if (!float.IsFinite(ad.Weight)) throw new ArgumentException($"Concatenate: weight {ad.Weight} must be finite.");
            total += ad.Rank;
        }
        var a = new float[total * k];
        var b = new float[d * total];
        int offset = 0;
        foreach (var ad in adapters)
        {
            ad.A.CopyTo(a, offset * k);
            float f = ad.Weight * ad.Scale;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < ad.Rank; j++) b[i * total + offset + j] = f * ad.B[i * ad.Rank + j];
            offset += ad.Rank;
        }
        return (a, b, total);
    }

    static void Check(ReadOnlySpan<float> w, int d, int k, int r, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (d < 0 || k < 0 || r < 0) throw new ArgumentException($"LoRA shapes W ({d}, {k}), rank {r} must be non-negative.");
        if (w.Length != d * k || a.Length != r * k || b.Length != d * r)
            throw new ArgumentException($"LoRA shapes: W has {w.Length} elements (expected ({d}, {k})), A {a.Length} (expected ({r}, {k})), B {b.Length} (expected ({d}, {r})).");
    }
}
