using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

/// <summary>
/// The LoRA layer's thin products, where one side is only r (rank) wide: h = xd·Aᵀ and g = dy·B (row times r
/// rows: <see cref="Dot"/>), dA = s·gᵀ·xd and dB = s·dyᵀ·h (r rows of rank-n updates: <see cref="Outer"/>, and
/// <see cref="OuterTransposed"/> for dB's d×r layout).
/// </summary>
/// <remarks>
/// A general GEMM pads r to its 16-column register tile or runs them on its skinny paths; at n = 128, r = 8 those
/// reached ~21 GFLOP/s. <see cref="Dot"/> keeps 12 accumulators on full registers (3 rows × 4 rank rows) and reads
/// the rank-sized operand from L1; <see cref="Outer"/> and <see cref="OuterTransposed"/> hold a 4×24 or 12×8 tile
/// of the output in registers over blocks of 32 rows of the long operand, copied into column strips first. Each output element is one fixed chain of operations that does not depend on how
/// the call is split, so the bits are the same for any thread count. <see cref="DotReference"/> and
/// <see cref="OuterReference"/> (<see cref="OuterTransposedReference"/>) are the scalar twins (and the fallback
/// without AVX2/FMA). docs/kernels.md has the measurements.
/// </remarks>
internal static unsafe partial class LoraLowRank
{
    /// <summary>True when the vector kernels run.</summary>
    public static bool Fast => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y (n×r) = x (n×c, row stride c)·mᵀ, m (r×c) row-major; y overwritten.</summary>
    /// <remarks>Split over threads by pairs of rows, so every row is computed the same way for any split.</remarks>
    public static void Dot(int n, int r, int c, float* x, float* m, float* y)
    {
        if (!Fast) { DotReference(n, r, c, x, m, y); return; }
        var job = new Job { N = n, R = r, C = c, A = x, B = m, Out = y };
        if (WideDot && r >= 4 && c >= 8 && n > 0)
        {
            // Packed once here, read by every part.
            job.P = LoraBuffers.Current.DotPairs((long)(r & ~3) * c);
            PackPairs(r & ~3, c, m, job.P);
        }
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
        public float* P; // Dot's rank rows in pairs (the AVX-512 path), or null
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
        if (job.P != null) { DotRowsWide(ref job, i0, i1); return; }
        int r = job.R, c = job.C;
        float* x = job.A, m = job.B, y = job.Out;
        int i = i0;
        // Three rows, then two, then one against four rank rows: the same single-vector chain per element in each,
        // so the grouping (and hence the thread split) never changes a bit.
        for (; i + 3 <= i1; i += 3) DotGroup(3, i, r, c, x, m, y);
        for (; i + 2 <= i1; i += 2) DotGroup(2, i, r, c, x, m, y);
        for (; i < i1; i++) DotGroup(1, i, r, c, x, m, y);
    }

    static void DotGroup(int rows, int i, int r, int c, float* x, float* m, float* y)
    {
        float* x0 = x + (nint)i * c;
        int j = 0;
        for (; j + 4 <= r; j += 4)
        {
            float* mj = m + (nint)j * c, yj = y + (nint)i * r + j;
            if (rows == 3) Dot3x4(c, x0, mj, yj, r);
            else if (rows == 2) Dot2x4(c, x0, mj, yj, r);
            else Dot1x4(c, x0, mj, yj);
        }
        for (; j < r; j++)
            for (int q = 0; q < rows; q++) y[(nint)(i + q) * r + j] = Dot1(c, x0 + (nint)q * c, m + (nint)j * c);
    }

    /// <summary>o (r×c) = s·uᵀ·v + beta·o for u (n×r), v (n×c), both row-major; beta = 0 never reads o.</summary>
    /// <remarks>Tiles of 4 rank rows × 24 columns stay in registers while a block of 32 rows of v goes by (o is
    /// read and written once per tile and block, not once per row of v); each block is first copied row by row into
    /// 24-column strips that the tiles read from L1. Each element is one chain: beta·o, then + (s·u[i, j])·v[i, p]
    /// fused, for i in order. Split over threads by 8-column groups of o; the chain is the same for any split,
    /// tiling or blocking.</remarks>
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

    // Three rows of x against four rows of m: 12 chains of 8 lanes, each element's chain as in Dot2x4.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Dot3x4(int c, float* x0, float* m0, float* y, int ldy)
    {
        float* x1 = x0 + c, x2 = x1 + c, m1 = m0 + c, m2 = m1 + c, m3 = m2 + c;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        int p = 0;
        for (; p + 8 <= c; p += 8)
        {
            var u = Avx.LoadVector256(x0 + p);
            var v = Avx.LoadVector256(x1 + p);
            var t = Avx.LoadVector256(x2 + p);
            var w = Avx.LoadVector256(m0 + p);
            a00 = Fma.MultiplyAdd(u, w, a00); a10 = Fma.MultiplyAdd(v, w, a10); a20 = Fma.MultiplyAdd(t, w, a20);
            w = Avx.LoadVector256(m1 + p);
            a01 = Fma.MultiplyAdd(u, w, a01); a11 = Fma.MultiplyAdd(v, w, a11); a21 = Fma.MultiplyAdd(t, w, a21);
            w = Avx.LoadVector256(m2 + p);
            a02 = Fma.MultiplyAdd(u, w, a02); a12 = Fma.MultiplyAdd(v, w, a12); a22 = Fma.MultiplyAdd(t, w, a22);
            w = Avx.LoadVector256(m3 + p);
            a03 = Fma.MultiplyAdd(u, w, a03); a13 = Fma.MultiplyAdd(v, w, a13); a23 = Fma.MultiplyAdd(t, w, a23);
        }
        y[0] = Finish(a00, c, p, x0, m0); y[1] = Finish(a01, c, p, x0, m1);
        y[2] = Finish(a02, c, p, x0, m2); y[3] = Finish(a03, c, p, x0, m3);
        y += ldy;
        y[0] = Finish(a10, c, p, x1, m0); y[1] = Finish(a11, c, p, x1, m1);
        y[2] = Finish(a12, c, p, x1, m2); y[3] = Finish(a13, c, p, x1, m3);
        y += ldy;
        y[0] = Finish(a20, c, p, x2, m0); y[1] = Finish(a21, c, p, x2, m1);
        y[2] = Finish(a22, c, p, x2, m2); y[3] = Finish(a23, c, p, x2, m3);
    }

    // One row of x against four rows of m, each element's chain as in Dot2x4.
    static void Dot1x4(int c, float* x0, float* m0, float* y)
    {
        float* m1 = m0 + c, m2 = m1 + c, m3 = m2 + c;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int p = 0;
        for (; p + 8 <= c; p += 8)
        {
            var u = Avx.LoadVector256(x0 + p);
            a0 = Fma.MultiplyAdd(u, Avx.LoadVector256(m0 + p), a0); a1 = Fma.MultiplyAdd(u, Avx.LoadVector256(m1 + p), a1);
            a2 = Fma.MultiplyAdd(u, Avx.LoadVector256(m2 + p), a2); a3 = Fma.MultiplyAdd(u, Avx.LoadVector256(m3 + p), a3);
        }
        y[0] = Finish(a0, c, p, x0, m0); y[1] = Finish(a1, c, p, x0, m1);
        y[2] = Finish(a2, c, p, x0, m2); y[3] = Finish(a3, c, p, x0, m3);
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
            for (int p = 0; p < c; p++) o[(nint)j * c + p] = OuterElement(n, r, c, s, u, v, j, p, beta, o[(nint)j * c + p]);
    }

    /// <summary>One element of the scalar twins: s·Σ_i u[i, j]·v[i, p] + beta·old, the sum in row order (old is not
    /// read when beta = 0).</summary>
    static float OuterElement(int n, int r, int c, float s, float* u, float* v, int j, int p, float beta, float old)
    {
        float acc = 0f;
        for (int i = 0; i < n; i++) acc += u[(nint)i * r + j] * v[(nint)i * c + p];
        return beta == 0f ? s * acc : s * acc + beta * old;
    }
}
