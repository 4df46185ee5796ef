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
/// reached ~21 GFLOP/s. <see cref="Dot"/> keeps 8 accumulators on full registers (2 rows × 4 rank rows) and reads
/// the rank-sized operand from L1; <see cref="Outer"/> streams the long operand row by row into an L1-resident
/// output. Each output element is one fixed chain of operations that does not depend on how
/// the call is split, so the bits are the same for any thread count. <see cref="DotReference"/> and
/// <see cref="OuterReference"/> are the scalar twins (and the fallback without AVX2/FMA).
/// </remarks>
internal static unsafe class LoraLowRank
{
    /// <summary>True when the vector kernels run.</summary>
    public static bool Fast => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y (n×r) = x (n×c, row stride c)·mᵀ, m (r×c) row-major; y overwritten.</summary>
    /// <remarks>Split over threads by pairs of rows, so every row is computed the same way for any split.</remarks>
    public static void Dot(int n, int r, int c, float* x, float* m, float* y)
    {
        if (!Fast) { DotReference(n, r, c, x, m, y); return; }
        var job = new Job { N = n, R = r, C = c, A = x, B = m, Out = y };
        int parts = Parts(2L * n * r * c, (n + 1) / 2);
        if (parts <= 1) DotRows(ref job, 0, n);
        else WorkerPool.Run(&DotPart, &job, parts);
    }

    /// <summary>Whether a thin product may use more than one thread (tuning and A/B measurements).</summary>
    internal static bool Split = true;

    /// <summary>The arguments of one thin product, on the caller's stack while the parts run.</summary>
    struct Job
    {
        public int N, R, C;
        public float S, Beta;
        public float* A, B, Out;
    }

    /// <summary>Parts for a thin product: a quarter of the GEMM's per-part work threshold, as these are memory-light.</summary>
    static int Parts(long flops, int units)
    {
        if (!Split) return 1;
        long byWork = Math.Max(1, flops / Math.Max(1, GemmDriver.MinFlopsPerPart / 8));
        return (int)Math.Max(1, Math.Min(Math.Min(KernelThreads.Count, units), byWork));
    }

    static void DotPart(void* state, int part, int parts)
    {
        ref Job j = ref *(Job*)state;
        var (i0, i1) = WorkerPool.Share(j.N, 2, part, parts);
        DotRows(ref j, i0, i1);
    }

    // Rows i0..i1 of y (i0 even): pairs on the 2×4 kernel, an odd last row alone.
    static void DotRows(ref Job job, int i0, int i1)
    {
        int r = job.R, c = job.C;
        float* x = job.A, m = job.B, y = job.Out;
        int i = i0;
        for (; i + 2 <= i1; i += 2)
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
        for (; i < i1; i++)
            for (int j = 0; j < r; j++) y[(nint)i * r + j] = Dot1(c, x + (nint)i * c, m + (nint)j * c);
    }

    /// <summary>o (r×c) = s·uᵀ·v + beta·o for u (n×r), v (n×c), both row-major; beta = 0 never reads o.</summary>
    /// <remarks>Streams v row by row (contiguous, so the prefetcher keeps up) and adds four rows at a time into o,
    /// which stays in L1 for LoRA's r·c: o[j, :] += (s·u[i, j])·v[i, :] for i in order. Split over threads by
    /// 8-column groups of o; each element's chain is the same for any split.</remarks>
    /// <param name="threads">At most this many threads (0: <see cref="KernelThreads.Count"/>); 1 runs on the calling
    /// thread only, as inside a part of another parallel job, whose workers must not call back into the pool.</param>
    public static void Outer(int n, int r, int c, float s, float* u, float* v, float beta, float* o, int threads = 0)
    {
        if (!Fast) { OuterReference(n, r, c, s, u, v, beta, o); return; }
        var job = new Job { N = n, R = r, C = c, S = s, Beta = beta, A = u, B = v, Out = o };
        int parts = Math.Min(threads > 0 ? threads : KernelThreads.Count, Parts(2L * n * r * c, (c + 7) / 8));
        if (parts <= 1) OuterColumns(ref job, 0, c);
        else WorkerPool.Run(&OuterPart, &job, parts);
    }

    static void OuterPart(void* state, int part, int parts)
    {
        ref Job j = ref *(Job*)state;
        var (p0, p1) = WorkerPool.Share(j.C, 8, part, parts);
        OuterColumns(ref j, p0, p1);
    }

    // Columns p0..p1 of o.
    static void OuterColumns(ref Job job, int p0, int p1)
    {
        int n = job.N, r = job.R, c = job.C, w = p1 - p0;
        float s = job.S, beta = job.Beta;
        float* u = job.A, v = job.B + p0, o = job.Out + p0;
        if (w <= 0) return;
        for (int j = 0; j < r; j++)
        {
            var row = new Span<float>(o + (nint)j * c, w);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) for (int p = 0; p < w; p++) row[p] *= beta;
        }
        int i = 0;
        for (; i + 4 <= n; i += 4)
            for (int j = 0; j < r; j++) AddRows4(w, c, s, u + (nint)i * r + j, r, v + (nint)i * c, o + (nint)j * c);
        for (; i < n; i++)
            for (int j = 0; j < r; j++) AddRow(w, s * u[(nint)i * r + j], v + (nint)i * c, o + (nint)j * c);
    }

    // o[0..w) += Σ_{q<4} (s·u[q·ldu])·v[q·c + ..], the four terms added in row order (v's rows c apart).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void AddRows4(int w, int c, float s, float* u, int ldu, float* v, float* o)
    {
        float s0 = s * u[0], s1 = s * u[ldu], s2 = s * u[2 * ldu], s3 = s * u[3 * ldu];
        var b0 = Vector256.Create(s0); var b1 = Vector256.Create(s1);
        var b2 = Vector256.Create(s2); var b3 = Vector256.Create(s3);
        float* v1 = v + c, v2 = v1 + c, v3 = v2 + c;
        int p = 0;
        for (; p + 8 <= w; p += 8)
        {
            var acc = Avx.LoadVector256(o + p);
            acc = Fma.MultiplyAdd(b0, Avx.LoadVector256(v + p), acc);
            acc = Fma.MultiplyAdd(b1, Avx.LoadVector256(v1 + p), acc);
            acc = Fma.MultiplyAdd(b2, Avx.LoadVector256(v2 + p), acc);
            acc = Fma.MultiplyAdd(b3, Avx.LoadVector256(v3 + p), acc);
            Avx.Store(o + p, acc);
        }
        for (; p < w; p++)
        {
            float acc = o[p];
            acc = MathF.FusedMultiplyAdd(s0, v[p], acc);
            acc = MathF.FusedMultiplyAdd(s1, v1[p], acc);
            acc = MathF.FusedMultiplyAdd(s2, v2[p], acc);
            o[p] = MathF.FusedMultiplyAdd(s3, v3[p], acc);
        }
    }

    static void AddRow(int w, float su, float* v, float* o)
    {
        var b = Vector256.Create(su);
        int p = 0;
        for (; p + 8 <= w; p += 8) Avx.Store(o + p, Fma.MultiplyAdd(b, Avx.LoadVector256(v + p), Avx.LoadVector256(o + p)));
        for (; p < w; p++) o[p] = MathF.FusedMultiplyAdd(su, v[p], o[p]);
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
