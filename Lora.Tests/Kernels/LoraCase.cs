using Lora.Kernels;
using MathNet.Numerics.LinearAlgebra;
using static Lora.Tests.Kernels.LoraOracle;

namespace Lora.Tests.Kernels;

/// <summary>One LoRA layer with random inputs, run through the fused kernels and checked against the double oracle.</summary>
internal sealed class LoraCase
{
    public readonly int N, D, K, R;
    public readonly float S;
    public readonly float[] X, W, A, B, Bias, Dy;
    public readonly PackedWeight Packed;

    public LoraCase(int n, int d, int k, int r, float s, bool bias, int seed, bool zeroB = false)
    {
        N = n; D = d; K = k; R = r; S = s;
        X = Random(n * k, seed);
        W = Random(d * k, seed + 1);
        A = Random(r * k, seed + 2);
        B = zeroB ? new float[d * r] : Random(d * r, seed + 3);
        Bias = bias ? Random(d, seed + 4) : [];
        Dy = Random(n * d, seed + 5);
        Packed = new PackedWeight(d, k);
        Packed.Pack(W);
    }

    public (float[] H, float[] Y) Forward(ReadOnlySpan<float> xDrop = default)
    {
        float[] h = new float[N * R], y = Random(N * D, 99); // garbage in y: the forward must overwrite it
        LoraGemm.Forward(N, D, K, R, S, X, xDrop, Packed, A, B, Bias, h, y);
        return (h, y);
    }

    /// <summary>Checks h and y of a forward against xd·Aᵀ and x·Wᵀ + b + s·(xd·Aᵀ)·Bᵀ.</summary>
    public void CheckForward(float[] h, float[] y, ReadOnlySpan<float> xDrop = default)
    {
        var x = M(N, K, X);
        var xd = xDrop.IsEmpty ? x : M(N, K, xDrop);
        Matrix<double> w = M(D, K, W), a = M(R, K, A), b = M(D, R, B), bias = Rows(N, D, Bias), hf = M(N, R, h);
        var hx = Abs(xd) * Abs(a).Transpose();
        Close(h, xd * a.Transpose(), Gamma(K) * hx, "h");
        var y0 = x * w.Transpose() + S * (xd * a.Transpose()) * b.Transpose() + bias;
        var bound = Gamma(K + R) * (Abs(x) * Abs(w).Transpose() + Math.Abs(S) * Abs(hf) * Abs(b).Transpose() + Abs(bias))
            + Math.Abs(S) * Gamma(K) * hx * Abs(b).Transpose();
        Close(y, y0, bound, "y");
    }

    public sealed record Grads(float[] Dx, float[] DA, float[] DB, float[] DBias, float[] DW);

    /// <summary>Initial gradient buffers: random when accumulating (so += is checked), NaN-free garbage otherwise.</summary>
    public Grads Initial(int seed) => new(Random(N * K, seed), Random(R * K, seed + 1), Random(D * R, seed + 2),
        Random(D, seed + 3), Random(D * K, seed + 4));

    public Grads Backward(float[] h, bool accumulate, LoraDropout dropout = default, ReadOnlySpan<float> xDrop = default)
    {
        var g = Initial(7);
        var scratch = new float[N * R];
        LoraGemm.Backward(N, D, K, R, S, X, xDrop, Packed, A, B, h, Dy, scratch, g.Dx, g.DA, g.DB,
            Bias.Length > 0 ? g.DBias : default, g.DW, accumulate, dropout);
        return g;
    }

    /// <summary>Checks every gradient against the double formulas (mask: the dropout mask on dx's low-rank term, or null).</summary>
    public void CheckBackward(Grads got, float[] h, bool accumulate, ReadOnlySpan<float> xDrop = default, float[]? mask = null)
    {
        var init = Initial(7);
        double s = S, abs = Math.Abs(S), acc = accumulate ? 1 : 0;
        Matrix<double> x = M(N, K, X), w = M(D, K, W), a = M(R, K, A), b = M(D, R, B), dy = M(N, D, Dy);
        var xd = xDrop.IsEmpty ? x : M(N, K, xDrop);
        Matrix<double> hf = M(N, R, h), gx = dy * b, gAbs = Abs(dy) * Abs(b); // g = dy·B exact, and |dy||B|
        var gf = Matrix<double>.Build.Dense(N, R);
        var scratch = new float[N * R];
        Gemm.Sgemm(Transpose.No, Transpose.No, N, R, D, 1f, Dy, D, B, R, 0f, scratch, R); // |ĝ| ≤ |g| + γ|dy||B|, used in bounds
        gf = M(N, R, scratch).PointwiseAbs() + Gamma(D) * gAbs;

        var dx0 = acc * M(N, K, init.Dx);
        var low = s * gx * a;
        var lowBound = abs * (Gamma(D + R) * gf * Abs(a) + Gamma(D) * gAbs * Abs(a));
        if (mask != null)
        {
            var m = M(N, K, mask);
            low = low.PointwiseMultiply(m);
            lowBound = lowBound.PointwiseMultiply(m.PointwiseAbs());
        }
        Close(got.Dx, dy * w + low + dx0, Gamma(D + R) * (Abs(dy) * Abs(w) + Abs(dx0)) + lowBound, "dx");

        var dA0 = acc * M(R, K, init.DA);
        Close(got.DA, s * gx.Transpose() * xd + dA0,
            Gamma(N) * (abs * gf.Transpose() * Abs(xd) + Abs(dA0)) + abs * Gamma(D) * gAbs.Transpose() * Abs(xd), "dA");

        var dB0 = acc * M(D, R, init.DB);
        var hExact = xd * a.Transpose();
        Close(got.DB, s * dy.Transpose() * hExact + dB0,
            Gamma(N) * (abs * Abs(dy).Transpose() * Abs(hf) + Abs(dB0)) + abs * Gamma(K) * Abs(dy).Transpose() * (Abs(xd) * Abs(a).Transpose()), "dB");

        if (Bias.Length > 0)
        {
            var db0 = acc * M(1, D, init.DBias);
            var ones = Matrix<double>.Build.Dense(1, N, 1.0);
            Close(got.DBias, ones * dy + db0, Gamma(N) * (ones * Abs(dy) + Abs(db0)), "dBias");
        }
        var dW0 = acc * M(D, K, init.DW);
        Close(got.DW, dy.Transpose() * x + dW0, Gamma(N) * (Abs(dy).Transpose() * Abs(x) + Abs(dW0)), "dW");
    }
}
