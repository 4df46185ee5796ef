using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>Layer normalisation over the last axis, forward and backward.</summary>
/// <remarks>
/// For each row x (d elements): μ = Σx/d, σ² = Σ(x − μ)²/d (two passes, biased as in PyTorch),
/// ρ = 1/√(σ² + eps), x̂ = (x − μ)·ρ, y = x̂ ⊙ γ + β. Backward, with g = dy ⊙ γ:
/// dx = ρ·(g − mean(g) − x̂·mean(g ⊙ x̂)), dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.
/// </remarks>
public static class LayerNormKernels
{
    /// <summary>x, y (rows, d); gamma, beta (d) or empty (γ = 1, β = 0); mean, rstd (rows) saved for backward.</summary>
    public static void Forward(int rows, int d, float eps, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd) => Forward(rows, d, eps, x, gamma, beta, y, mean, rstd, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="Forward(int, int, float, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float})"/>.</summary>
    public static void ForwardScalar(int rows, int d, float eps, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd) => Forward(rows, d, eps, x, gamma, beta, y, mean, rstd, false);

    /// <summary>dx += …, dgamma += …, dbeta += … (any of them may be empty to skip it); see the remarks on the class.</summary>
    public static void Backward(int rows, int d, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
        => Backward(rows, d, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="Backward(int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float})"/>.</summary>
    public static void BackwardScalar(int rows, int d, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
        => Backward(rows, d, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, false);

    static void Forward(int rows, int d, float eps, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> y, Span<float> mean, Span<float> rstd, bool vector)
    {
        CheckCommon(rows, d, x.Length, gamma, mean.Length, rstd.Length);
        if (!beta.IsEmpty && beta.Length != d) throw new ArgumentException($"LayerNorm: beta has {beta.Length} elements, expected ({d}).", nameof(beta));
        if (y.Length != x.Length) throw new ArgumentException($"LayerNorm: y has {y.Length} elements, expected ({rows}, {d}).", nameof(y));
        if (!(eps >= 0f)) throw new ArgumentException($"LayerNorm: eps must be non-negative, got {eps}.", nameof(eps));
        // y may be x (each row is read before it is written); any other sharing would overwrite rows not yet read.
        const string k = "LayerNorm";
        SpanOverlap.SameOrDisjoint(k, "y", y, "x", x);
        SpanOverlap.Disjoint(k, "y", y, "gamma", gamma);
        SpanOverlap.Disjoint(k, "y", y, "beta", beta);
        NotShared(k, "mean", mean, x, y, gamma, beta);
        NotShared(k, "rstd", rstd, x, y, gamma, beta);
        SpanOverlap.Disjoint(k, "rstd", rstd, "mean", mean);
        for (int i = 0; i < rows; i++)
        {
            var xr = x.Slice(i * d, d);
            var yr = y.Slice(i * d, d);
            float mu = Reductions.Sum(xr, vector) / d;
            Elementwise.BinaryWithScalar<SubtractOperator>(xr, mu, yr, vector); // y = x − μ
            float variance = Reductions.Dot(yr, yr, vector) / d;
            float rho = 1f / MathF.Sqrt(variance + eps);
            Elementwise.BinaryWithScalar<MultiplyOperator>(yr, rho, yr, vector); // y = x̂
            if (!gamma.IsEmpty) Elementwise.Binary<MultiplyOperator>(yr, gamma, yr, vector, accumulate: false);
            if (!beta.IsEmpty) Elementwise.Binary<AddOperator>(yr, beta, yr, vector, accumulate: false);
            mean[i] = mu;
            rstd[i] = rho;
        }
    }

    static void Backward(int rows, int d, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta, bool vector)
    {
        CheckCommon(rows, d, x.Length, gamma, mean.Length, rstd.Length);
        if (dy.Length != x.Length) throw new ArgumentException($"LayerNorm.Backward: dy has {dy.Length} elements, expected ({rows}, {d}).", nameof(dy));
        if (!dx.IsEmpty && dx.Length != x.Length) throw new ArgumentException($"LayerNorm.Backward: dx has {dx.Length} elements, expected ({rows}, {d}).", nameof(dx));
        if (!dgamma.IsEmpty && dgamma.Length != d) throw new ArgumentException($"LayerNorm.Backward: dgamma has {dgamma.Length} elements, expected ({d}).", nameof(dgamma));
        if (!dbeta.IsEmpty && dbeta.Length != d) throw new ArgumentException($"LayerNorm.Backward: dbeta has {dbeta.Length} elements, expected ({d}).", nameof(dbeta));
        // dx may be x or dy (each row is read before it is written); dγ and dβ are written while every row is read.
        const string k = "LayerNorm.Backward";
        SpanOverlap.SameOrDisjoint(k, "dx", dx, "x", x);
        SpanOverlap.SameOrDisjoint(k, "dx", dx, "dy", dy);
        NotShared(k, "dx", dx, gamma, mean, rstd, default);
        NotShared(k, "dgamma", dgamma, x, dy, dx, dbeta);
        NotShared(k, "dgamma", dgamma, gamma, mean, rstd, default);
        NotShared(k, "dbeta", dbeta, x, dy, dx, gamma);
        NotShared(k, "dbeta", dbeta, mean, rstd, default, default);
        for (int i = 0; i < rows; i++)
        {
            var xr = x.Slice(i * d, d);
            var dyr = dy.Slice(i * d, d);
            float mu = mean[i], rho = rstd[i];
            if (!dbeta.IsEmpty) Elementwise.Binary<SecondOperator>(dyr, dyr, dbeta, vector, accumulate: true);
            // One scalar pass: the two row means the dx formula needs, plus dγ.
            float sumG = 0f, sumGx = 0f;
            for (int j = 0; j < d; j++)
            {
                float xhat = (xr[j] - mu) * rho;
                float g = gamma.IsEmpty ? dyr[j] : dyr[j] * gamma[j];
                sumG += g;
                sumGx += g * xhat;
                if (!dgamma.IsEmpty) dgamma[j] += dyr[j] * xhat;
            }
            if (dx.IsEmpty) continue;
            var dxr = dx.Slice(i * d, d);
            float meanG = sumG / d, meanGx = sumGx / d;
            for (int j = 0; j < d; j++)
            {
                float xhat = (xr[j] - mu) * rho;
                float g = gamma.IsEmpty ? dyr[j] : dyr[j] * gamma[j];
                dxr[j] += rho * (g - meanG - xhat * meanGx);
            }
        }
    }

    /// <summary>Throws if <paramref name="output"/> overlaps any of the four spans (empty ones overlap nothing).</summary>
    static void NotShared(string kernel, string name, ReadOnlySpan<float> output, ReadOnlySpan<float> s0, ReadOnlySpan<float> s1,
        ReadOnlySpan<float> s2, ReadOnlySpan<float> s3)
    {
        if (SpanOverlap.Overlaps(output, s0) || SpanOverlap.Overlaps(output, s1) || SpanOverlap.Overlaps(output, s2) || SpanOverlap.Overlaps(output, s3))
            throw new ArgumentException($"{kernel}: {name} ({output.Length} elements) shares memory with another operand; only y (dx) may be x (x or dy) itself.", name);
    }

    static void CheckCommon(int rows, int d, int xLength, ReadOnlySpan<float> gamma, int meanLength, int rstdLength)
    {
        if (rows < 0 || d <= 0) throw new ArgumentException($"LayerNorm: need rows ≥ 0 and d > 0, got ({rows}, {d}).");
        if (xLength != (long)rows * d) throw new ArgumentException($"LayerNorm: x has {xLength} elements, expected ({rows}, {d}).", "x");
        if (!gamma.IsEmpty && gamma.Length != d) throw new ArgumentException($"LayerNorm: gamma has {gamma.Length} elements, expected ({d}).", nameof(gamma));
        if (meanLength != rows) throw new ArgumentException($"LayerNorm: mean has {meanLength} elements, expected ({rows}).", "mean");
        if (rstdLength != rows) throw new ArgumentException($"LayerNorm: rstd has {rstdLength} elements, expected ({rows}).", "rstd");
    }
}
