namespace Lora.Tests.Kernels;

/// <summary>
/// A double-precision value with a bound on the absolute error its float32 evaluation may carry (running error
/// analysis): every rounded operation adds U·|result|, products and sums propagate their operands' bounds (first
/// order plus the product of bounds), a dot product of K terms adds γ_K·Σ|aᵢbᵢ| with γ_K = (K + 1)·U (valid in any
/// summation order, FMA or not), and σ and tanh add |f′|·(input bound) + (input bound)² (|f″| ≤ 1) plus their own
/// error 8U·(|f| + |a·f′(a)|) + 4U, the bound the elementwise tests establish for those kernels.
/// </summary>
internal readonly record struct Bounded(double V, double E)
{
    const double U = KernelTestData.U;

    public static Bounded Exact(double v) => new(v, 0);

    public static Bounded operator +(Bounded a, Bounded b) { double v = a.V + b.V; return new(v, a.E + b.E + U * Math.Abs(v)); }

    public static Bounded operator -(Bounded a, Bounded b) { double v = a.V - b.V; return new(v, a.E + b.E + U * Math.Abs(v)); }

    public static Bounded operator *(Bounded a, Bounded b)
    {
        double v = a.V * b.V;
        return new(v, Math.Abs(a.V) * b.E + Math.Abs(b.V) * a.E + a.E * b.E + U * Math.Abs(v));
    }

    public static Bounded OneMinus(Bounded a) => Exact(1) - a;

    /// <summary>Σ aᵢ·bᵢ over K terms, in any order.</summary>
    public static Bounded Dot(ReadOnlySpan<Bounded> a, ReadOnlySpan<Bounded> b)
    {
        double v = 0, e = 0, abs = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double p = a[i].V * b[i].V;
            v += p;
            abs += Math.Abs(p);
            e += Math.Abs(a[i].V) * b[i].E + Math.Abs(b[i].V) * a[i].E + a[i].E * b[i].E;
        }
        return new(v, e + (a.Length + 1) * U * abs);
    }

    /// <summary>Σ aᵢ over K terms, in any order.</summary>
    public static Bounded Sum(ReadOnlySpan<Bounded> a)
    {
        double v = 0, e = 0, abs = 0;
        foreach (var t in a) { v += t.V; e += t.E; abs += Math.Abs(t.V); }
        return new(v, e + a.Length * U * abs);
    }

    public static Bounded Sigmoid(Bounded a)
    {
        double v = 1 / (1 + Math.Exp(-a.V)), d = v * (1 - v);
        return new(v, d * a.E + a.E * a.E + 8 * U * (v + Math.Abs(a.V) * d) + 4 * U);
    }

    public static Bounded Tanh(Bounded a)
    {
        double v = Math.Tanh(a.V), d = 1 - v * v;
        return new(v, d * a.E + a.E * a.E + 8 * U * (Math.Abs(v) + Math.Abs(a.V) * d) + 4 * U);
    }
}
