using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>An elementwise function of one float, with a scalar and a 256-bit vector form that agree.</summary>
/// <remarks>The vector form must compute, lane by lane, the same function as the scalar form (up to rounding).</remarks>
public interface IUnaryOperator
{
    /// <summary>f(x) for one element.</summary>
    static abstract float Invoke(float x);

    /// <summary>f(x) for eight elements.</summary>
    static abstract Vector256<float> Invoke(Vector256<float> x);
}

/// <summary>An elementwise function of two floats, with a scalar and a 256-bit vector form that agree.</summary>
public interface IBinaryOperator
{
    /// <summary>f(x, y) for one element.</summary>
    static abstract float Invoke(float x, float y);

    /// <summary>f(x, y) for eight elements.</summary>
    static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
}

/// <summary>x + y.</summary>
public readonly struct AddOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => x + y;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x + y;
}

/// <summary>x − y.</summary>
public readonly struct SubtractOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => x - y;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x - y;
}

/// <summary>x · y.</summary>
public readonly struct MultiplyOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => x * y;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * y;
}

/// <summary>y (the second argument): used with the accumulating driver to express <c>dst += y</c>.</summary>
public readonly struct SecondOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => y;
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => y;
}

/// <summary>exp(x − y): the softmax numerator when y is the row maximum.</summary>
public readonly struct ExpOfDifferenceOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => MathF.Exp(x - y);
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => Vector256.Exp(x - y);
}

/// <summary>(x − y)²: the squared-error term.</summary>
public readonly struct SquaredDifferenceOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) { float d = x - y; return d * d; }
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) { var d = x - y; return d * d; }
}
