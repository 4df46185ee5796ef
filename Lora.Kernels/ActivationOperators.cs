using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>max(x, 0), NaN kept (PyTorch's relu).</summary>
public readonly struct ReluOperator : IUnaryOperator
{
    /// <inheritdoc/>
    // NaN passes through, as in PyTorch: mapping it to 0 would hide a diverged layer from the loss (and from the
    // trainer's check for a non-finite loss). −0 gives +0 in both forms.
    public static float Invoke(float x) => x <= 0f ? 0f : x;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x) => Vector256.AndNot(x, Vector256.LessThanOrEqual(x, Vector256<float>.Zero));
}

/// <summary>dy · [x &gt; 0]: ReLU's local gradient applied to the incoming gradient (x, dy).</summary>
public readonly struct ReluBackwardOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float dy) => x > 0f ? dy : 0f;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy) => Vector256.GreaterThan(x, Vector256<float>.Zero) & dy;
}

/// <summary>σ(x) = 1 / (1 + e^(−x)).</summary>
/// <remarks>This form keeps a small relative error over the whole range: e^(−x) overflows to +∞ for very negative
/// x and the quotient becomes 0, the correct limit.</remarks>
public readonly struct SigmoidOperator : IUnaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x) => 1f / (1f + MathF.Exp(-x));
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));
}

/// <summary>dy · y · (1 − y), given the sigmoid's output y: (y, dy).</summary>
public readonly struct SigmoidBackwardOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float y, float dy) => dy * y * (1f - y);
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * y * (Vector256<float>.One - y);
}

/// <summary>tanh(x) = sign(x) · (1 − 2 / (e^(2|x|) + 1)).</summary>
/// <remarks>The absolute error is a few ε (the form loses relative accuracy only where |tanh x| is tiny).
/// The scalar form uses <see cref="MathF.Tanh"/>.</remarks>
public readonly struct TanhOperator : IUnaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x) => MathF.Tanh(x);
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x)
    {
        var signBit = Vector256.Create(-0f);
        var ax = Vector256.AndNot(x, signBit);
        var e = Vector256.Exp(ax + ax);
        var t = Vector256<float>.One - Vector256.Create(2f) / (e + Vector256<float>.One);
        return t | (x & signBit);
    }
}

/// <summary>dy · (1 − y²), given tanh's output y: (y, dy).</summary>
public readonly struct TanhBackwardOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float y, float dy) => dy * (1f - y * y);
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * (Vector256<float>.One - y * y);
}

/// <summary>GELU, tanh approximation: ½·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).</summary>
/// <remarks>Computed as x·σ(2u), which is the same function (½(1 + tanh u) = σ(2u)) but keeps a small relative
/// error for negative x, where the tanh form cancels.</remarks>
public readonly struct GeluOperator : IUnaryOperator
{
    internal const float C = 0.7978845608028654f; // √(2/π)
    internal const float A = 0.044715f;

    /// <inheritdoc/>
    public static float Invoke(float x)
    {
        float u2 = 2f * C * (x + A * x * x * x);
        return x / (1f + MathF.Exp(-u2));
    }

    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x)
    {
        var u2 = Vector256.Create(2f * C) * (x + Vector256.Create(A) * x * x * x);
        return x / (Vector256<float>.One + Vector256.Exp(-u2));
    }
}

/// <summary>dy · gelu′(x), (x, dy), for the tanh approximation.</summary>
/// <remarks>With e = exp(−2u) and s = σ(2u) = 1/(1 + e): gelu′(x) = s + 2·x·s·(1 − s)·√(2/π)·(1 + 3·0.044715·x²),
/// since 1 − tanh²u = 4s(1 − s). The factor 1 − s is computed as e·s, not by subtraction, which would lose all
/// relative accuracy where s → 1; e is capped at float.MaxValue so that e·s stays finite (≈ 0) where s → 0.</remarks>
public readonly struct GeluBackwardOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float dy)
    {
        float x2 = x * x;
        float e = MathF.Min(MathF.Exp(-2f * GeluOperator.C * (x + GeluOperator.A * x2 * x)), float.MaxValue);
        float s = 1f / (1f + e);
        float du = GeluOperator.C * (1f + 3f * GeluOperator.A * x2);
        return dy * (s + 2f * x * s * (e * s) * du);
    }

    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
    {
        var one = Vector256<float>.One;
        var x2 = x * x;
        var u2 = Vector256.Create(2f * GeluOperator.C) * (x + Vector256.Create(GeluOperator.A) * x2 * x);
        var e = Vector256.Min(Vector256.Exp(-u2), Vector256.Create(float.MaxValue));
        var s = one / (one + e);
        var du = Vector256.Create(GeluOperator.C) * (one + Vector256.Create(3f * GeluOperator.A) * x2);
        return dy * (s + Vector256.Create(2f) * x * s * (e * s) * du);
    }
}
