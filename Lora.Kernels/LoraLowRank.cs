using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

/// <summary>
/// The LoRA layer's thin products, where one side is only r (rank) wide: h = xd·Aᵀ and g = dy·B (row times r
/// rows: <see cref="Dot"/>), dA = s·gᵀ·xd and dB = s·dyᵀ·h (r rows of rank-n updates: <see cref="Outer"/>).
/// </summary>
/// <remarks>
/// A general GEMM pads r to its 16-column register tile or runs them on its skinny paths; at n = 128, r = 8 those
/// reached ~21 GFLOP/s, a tenth of a training step. These AVX2/FMA kernels keep 8 accumulators on full registers
/// (2 rows × 4 rank rows for <see cref="Dot"/>, 4 rank rows × 16 columns for <see cref="Outer"/>) and read the
/// rank-sized operand from L1. Each output element is one fixed chain of operations that does not depend on how
/// the call is split, so the bits are the same for any thread count. <see cref="DotReference"/> and
/// <see cref="OuterReference"/> are the scalar twins (and the fallback without AVX2/FMA).
/// </remarks>
internal static unsafe class LoraLowRank
{
    /// <summary>True when the vector kernels run.</summary>
    public static bool Fast => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y (n×r) = x (n×c, row stride c)·mᵀ, m (r×c) row-major; y overwritten.</summary>
    public static void Dot(int n, int r, int c, float* x, float* m, float* y)
    {
        if (!Fast) { DotReference(n, r, c, x, m, y); return; }
        int i = 0;
        for (; i + 2 <= n; i += 2)
        {
            float* x0 = x + (nint)i * c;
            int j = 0;
            for (; j + 4 <= r; j += 4) Dot2x4(c, x0, m + (nint)j * c, y + (nint)i * r + j, r);
            for (; j < r; j++)
            {
                y[(nint)i * r + j] = Dot1(c, x0, m + (nint)j * c);
                y[(nint)(i + 1) * r + j] = Dot1(c, x0 + c, m + (nint)j * c);
            }
        }
        for (; i < n; i++)
            for (int j = 0; j < r; j++) y[(nint)i * r + j] = Dot1(c, x + (nint)i * c, m + (nint)j * c);
    }

    /// <summary>o (r×c) = s·uᵀ·v + beta·o for u (n×r), v (n×c), both row-major; beta = 0 never reads o.</summary>
    public static void Outer(int n, int r, int c, float s, float* u, float* v, float beta, float* o)
    {
        if (!Fast) { OuterReference(n, r, c, s, u, v, beta, o); return; }
        int p = 0;
        for (; p + 16 <= c; p += 16)
        {
            int j = 0;
            for (; j + 4 <= r; j += 4) Outer4x16(n, r, c, s, u + j, v + p, beta, o + (nint)j * c + p);
            for (; j < r; j++) Outer1x16(n, r, c, s, u + j, v + p, beta, o + (nint)j * c + p);
        }
        // Columns past the last multiple of 16: one scalar chain each (in the same order as the reference).
        for (; p < c; p++)
            for (int j = 0; j < r; j++) o[(nint)j * c + p] = OuterElement(n, r, c, s, u + j, v + p, beta, o[(nint)j * c + p]);
    }

    // Two rows of x against four rows of m: 8 chains of 8 lanes, then each reduced in a fixed order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot2x4(int c, float* x0, float* m0, float* y, int ldy)
    {
        float* x1 = x0 + c, m1 = m0 + c, m2 = m1 + c, m3 = m2 + c;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        int p = 0;
        for (; p + 8 <= c; p += 8)
        {
            var u = Avx.LoadVector256(x0 + p);
            var v = Avx.LoadVector256(x1 + p);
            var w = Avx.LoadVector256(m0 + p);
            a00 = Fma.MultiplyAdd(u, w, a00); a10 = Fma.MultiplyAdd(v, w, a10);
            w = Avx.LoadVector256(m1 + p);
            a01 = Fma.MultiplyAdd(u, w, a01); a11 = Fma.MultiplyAdd(v, w, a11);
            w = Avx.LoadVector256(m2 + p);
            a02 = Fma.MultiplyAdd(u, w, a02); a12 = Fma.MultiplyAdd(v, w, a12);
            w = Avx.LoadVector256(m3 + p);
            a03 = Fma.MultiplyAdd(u, w, a03); a13 = Fma.MultiplyAdd(v, w, a13);
        }
        y[0] = Finish(a00, c, p, x0, m0); y[1] = Finish(a01, c, p, x0, m1);
        y[2] = Finish(a02, c, p, x0, m2); y[3] = Finish(a03, c, p, x0, m3);
        y += ldy;
        y[0] = Finish(a10, c, p, x1, m0); y[1] = Finish(a11, c, p, x1, m1);
        y[2] = Finish(a12, c, p, x1, m2); y[3] = Finish(a13, c, p, x1, m3);
    }

    // One row against one row of m: two chains (so the FMA latency is half hidden), combined lane by lane.
    static float Dot1(int c, float* x, float* m)
    {
        Vector256<float> a0 = default, a1 = default;
        int p = 0;
        for (; p + 16 <= c; p += 16)
        {
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + p), Avx.LoadVector256(m + p), a0);
            a1 = Fma.MultiplyAdd(Avx.LoadVector256(x + p + 8), Avx.LoadVector256(m + p + 8), a1);
        }
        if (p + 8 <= c)
        {
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + p), Avx.LoadVector256(m + p), a0);
            p += 8;
        }
        return Finish(a0 + a1, c, p, x, m);
    }

    /// <summary>Sums the 8 lanes pairwise, then adds the elements p..c-1 one by one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Finish(Vector256<float> acc, int c, int p, float* x, float* m)
    {
        var q = acc.GetLower() + acc.GetUpper();
        float sum = (q.GetElement(0) + q.GetElement(2)) + (q.GetElement(1) + q.GetElement(3));
        for (; p < c; p++) sum = MathF.FusedMultiplyAdd(x[p], m[p], sum);
        return sum;
    }

    // Four rank rows × 16 columns of o: per row i of v, two loads of v and four broadcasts of u feed 8 FMAs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Outer4x16(int n, int r, int c, float s, float* u, float* v, float beta, float* o)
    {
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
        for (int i = 0; i < n; i++, u += r, v += c)
        {
            var v0 = Avx.LoadVector256(v);
            var v1 = Avx.LoadVector256(v + 8);
            var b = Vector256.Create(u[0]); a00 = Fma.MultiplyAdd(b, v0, a00); a01 = Fma.MultiplyAdd(b, v1, a01);
            b = Vector256.Create(u[1]); a10 = Fma.MultiplyAdd(b, v0, a10); a11 = Fma.MultiplyAdd(b, v1, a11);
            b = Vector256.Create(u[2]); a20 = Fma.MultiplyAdd(b, v0, a20); a21 = Fma.MultiplyAdd(b, v1, a21);
            b = Vector256.Create(u[3]); a30 = Fma.MultiplyAdd(b, v0, a30); a31 = Fma.MultiplyAdd(b, v1, a31);
        }
        Store(o, a00, s, beta); Store(o + 8, a01, s, beta); o += c;
        Store(o, a10, s, beta); Store(o + 8, a11, s, beta); o += c;
        Store(o, a20, s, beta); Store(o + 8, a21, s, beta); o += c;
        Store(o, a30, s, beta); Store(o + 8, a31, s, beta);
    }

    static void Outer1x16(int n, int r, int c, float s, float* u, float* v, float beta, float* o)
    {
        Vector256<float> a0 = default, a1 = default;
        for (int i = 0; i < n; i++, u += r, v += c)
        {
            var b = Vector256.Create(u[0]);
            a0 = Fma.MultiplyAdd(b, Avx.LoadVector256(v), a0);
            a1 = Fma.MultiplyAdd(b, Avx.LoadVector256(v + 8), a1);
        }
        Store(o, a0, s, beta);
        Store(o + 8, a1, s, beta);
    }

    /// <summary>o = s·acc + beta·o, as one FMA per lane (o is not read when beta = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* o, Vector256<float> acc, float s, float beta)
    {
        var vs = Vector256.Create(s);
        var r = beta == 0f ? acc * vs : Fma.MultiplyAdd(acc, vs, Avx.LoadVector256(o) * Vector256.Create(beta));
        Avx.Store(o, r);
    }

    static float OuterElement(int n, int r, int c, float s, float* u, float* v, float beta, float o)
    {
        float acc = 0f;
        for (int i = 0; i < n; i++) acc = MathF.FusedMultiplyAdd(u[(nint)i * r], v[(nint)i * c], acc);
        return beta == 0f ? acc * s : MathF.FusedMultiplyAdd(acc, s, o * beta);
    }

    /// <summary>Scalar twin of <see cref="Dot"/>: y[i, j] = Σ_p x[i, p]·m[j, p], one chain per element.</summary>
    public static void DotReference(int n, int r, int c, float* x, float* m, float* y)
    {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < r; j++)
            {
                float sum = 0f;
                for (int p = 0; p < c; p++) sum += x[(nint)i * c + p] * m[(nint)j * c + p];
                y[(nint)i * r + j] = sum;
            }
    }

    /// <summary>Scalar twin of <see cref="Outer"/>: o[j, p] = s·Σ_i u[i, j]·v[i, p] + beta·o[j, p].</summary>
    public static void OuterReference(int n, int r, int c, float s, float* u, float* v, float beta, float* o)
    {
        for (int j = 0; j < r; j++)
            for (int p = 0; p < c; p++)
            {
                float acc = 0f;
                for (int i = 0; i < n; i++) acc += u[(nint)i * r + j] * v[(nint)i * c + p];
                o[(nint)j * c + p] = beta == 0f ? s * acc : s * acc + beta * o[(nint)j * c + p];
            }
    }
}
