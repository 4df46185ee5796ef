using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

/// <summary>A small-m GEMM (m ≤ <see cref="GemmBlocking.SmallM"/>): C (M×N) = alpha·op(A)·op(B) + beta·C (+ bias).</summary>
internal unsafe struct SmallMPlan
{
    public int M, N, K;
    public GemmOperand A, B;
    public float Alpha, Beta;
    public float* C;
    public nint Ldc;
    /// <summary>Optional per-column bias (N values), added after the beta term.</summary>
    public float* Bias;
    internal float* PackedA, Sums;
}

/// <summary>
/// The GEMV-like path for small m (AVX2/FMA only): B is read straight from its storage, once, with no packing;
/// only the tiny op(A) is packed. Work is split across threads along n only.
/// </summary>
/// <remarks>
/// B not transposed (rows of B contiguous along n): "axpy" tiles of up to 6 rows × 16 columns accumulate
/// broadcast(A)·B-row over a KB-long stretch of k, keeping partial sums in a small M×N buffer, so each B row is
/// loaded once and a KB×16 strip stays in L1 for all row groups.
/// B transposed (rows of the stored B contiguous along k): "dot" tiles of up to 3 rows × 4 columns, 12 vector
/// accumulators along k reduced at the end; the 4 B rows stay in L2 while every row group of A passes over them.
/// </remarks>
internal static unsafe partial class GemmSmallM
{
    /// <summary>Rows of B per pass of the axpy path (tuned: docs/kernels.md); a field so the benchmark can sweep it.
    /// 8, not 16: a sweep over 16 rows keeps 16 DRAM streams in flight and read at 12 GB/s on one core, one over 8 or
    /// 4 rows at 21–23 GB/s (m = 1 × 4096 × 4096 NN: 4.8–5.2 → 6.6–7.4 GF/s).</summary>
    internal static int KB = 8;
    /// <summary>Software prefetch distance of the axpy path, in 16-column strips ahead (0 = none).</summary>
    internal static int PrefetchStrips = 8;
    const int AxpyUnit = 16, DotUnit = 4;

    /// <summary>Runs the plan (M in 1..SmallM, N ≥ 1, K ≥ 1, alpha ≠ 0) on up to <see cref="KernelThreads.Count"/> threads.</summary>
    public static void Run(ref SmallMPlan plan)
    {
        int m = plan.M, n = plan.N, k = plan.K;
        bool axpy = !plan.B.Trans;
        float* scratch = GemmBuffers.Current.Scratch(m * k + (axpy ? m * n : 0) + 16);
        plan.PackedA = scratch;
        plan.Sums = scratch + m * k;
        // Axpy reads A p-major (k, m); dot reads it row-major (m, k).
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
                scratch[axpy ? p * m + i : i * k + p] = *plan.A.At(i, p);
        int unit = axpy ? AxpyUnit : DotUnit;
        int parts = GemmDriver.Parts(2L * m * n * k, (n + unit - 1) / unit);
        fixed (SmallMPlan* p = &plan) WorkerPool.Run(&RunPart, p, parts);
    }

    /// <summary>
    /// The strip path for small m where compute matters: op(A) is packed once into MR panels, then the driver runs
    /// with B blocks only <see cref="GemmBlocking.StripNc"/> columns wide, so each packed B strip (KC×16, 16 KB) is
    /// consumed from L1 right after it is packed: B is read from memory once and never round-trips through L3.
    /// B not transposed goes to <see cref="GemmRowBlocks"/> instead (row-streamed blocks; its strips were set-aliased).
    /// </summary>
    public static void RunStrips(int m, int n, int k, GemmOperand a, GemmOperand b, float alpha, float beta, float* c, nint ldc, float* bias)
    {
        if (!b.Trans && GemmRowBlocks.Enabled)
        {
            GemmRowBlocks.Run(m, n, k, a, b.Ptr, b.Ld, alpha, beta, c, ldc, bias);
            return;
        }
        int panels = (m + GemmBlocking.MR - 1) / GemmBlocking.MR;
        float* packedA = GemmBuffers.Current.Scratch(panels * GemmBlocking.MR * k + 16);
        GemmPacking.PackA(a, 0, m, 0, k, packedA, (nint)k * GemmBlocking.MR);
        var plan = new GemmPlan
        {
            M = m, N = n, Alpha = alpha, Beta = beta, C = c, Ldc = ldc, Bias = bias, Nc = GemmBlocking.StripNc, Kc = b.Trans ? 0 : GemmBlocking.StripKc,
            Segment0 = new GemmSegment { K = k, A = a, B = b, PackedA = packedA },
        };
        GemmDriver.Run(ref plan);
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref SmallMPlan plan = ref *(SmallMPlan*)state;
        bool axpy = !plan.B.Trans;
        int unit = axpy ? AxpyUnit : DotUnit;
        var (j0, j1) = WorkerPool.Share(plan.N, unit, part, parts);
        if (j0 >= j1) return;
        if (axpy) Axpy(ref plan, j0, j1);
        else Dot(ref plan, j0, j1);
    }

    static void Axpy(ref SmallMPlan plan, int j0, int j1)
    {
        int m = plan.M, n = plan.N;
        for (int pb = 0; pb < plan.K; pb += KB)
        {
            int kb = Math.Min(KB, plan.K - pb);
            bool first = pb == 0;
            for (int j = j0; j < j1; j += AxpyUnit)
            {
                int w = Math.Min(AxpyUnit, j1 - j);
                float* b = plan.B.At(pb, j);
                for (int i0 = 0; i0 < m; i0 += 6)
                {
                    float* a = plan.PackedA + (nint)pb * m + i0;
                    float* t = plan.Sums + (nint)i0 * n + j;
                    int rows = Math.Min(6, m - i0);
                    if (i0 == 0 && PrefetchStrips > 0) Prefetch(b + PrefetchStrips * AxpyUnit, plan.B.Ld, kb);
                    if (w == AxpyUnit) AxpyTile(rows, false, kb, a, m, b, plan.B.Ld, t, n, first, w);
                    else AxpyTile(rows, true, kb, a, m, b, plan.B.Ld, t, n, first, w);
                }
            }
        }
        for (int i = 0; i < m; i++)
            Epilogue(plan.Sums + (nint)i * n + j0, plan.C + i * plan.Ldc + j0, j1 - j0, plan.Alpha, plan.Beta,
                plan.Bias == null ? null : plan.Bias + j0);
    }

    static void Dot(ref SmallMPlan plan, int j0, int j1)
    {
        int m = plan.M, k = plan.K;
        float* sums = stackalloc float[12];
        for (int j = j0; j < j1; j += DotUnit)
        {
            int cols = Math.Min(DotUnit, j1 - j);
            float* b = plan.B.Ptr + j * plan.B.Ld;
            for (int i0 = 0; i0 < m; i0 += 3)
            {
                int rows = Math.Min(3, m - i0);
                float* a = plan.PackedA + (nint)i0 * k;
                if (cols == DotUnit) DotTile(rows, true, k, a, b, plan.B.Ld, sums);
                else
                    for (int jj = 0; jj < cols; jj++) DotTile(rows, false, k, a, b + jj * plan.B.Ld, plan.B.Ld, sums + jj);
                for (int r = 0; r < rows; r++)
                    Epilogue(sums + r * DotUnit, plan.C + (i0 + r) * plan.Ldc + j, cols, plan.Alpha, plan.Beta,
                        plan.Bias == null ? null : plan.Bias + j);
            }
        }
    }

    // Touches one cache line per row of a strip further along each B row, so the many row streams of a pass
    // (more than the hardware prefetchers track) arrive early. Prefetches never fault, even past the matrix.
    static void Prefetch(float* b, nint ldb, int rows)
    {
        for (int p = 0; p < rows; p++, b += ldb) System.Runtime.Intrinsics.X86.Sse.Prefetch0(b);
    }

    /// <summary>c[j] = alpha·s[j] + beta·c[j] (+ bias[j]); beta == 0 never reads c.</summary>
    static void Epilogue(float* s, float* c, int count, float alpha, float beta, float* bias)
    {
        for (int j = 0; j < count; j++)
        {
            float v = beta == 0f ? alpha * s[j] : MathF.FusedMultiplyAdd(s[j], alpha, beta * c[j]);
            c[j] = bias == null ? v : v + bias[j];
        }
    }

    static Vector256<float> Mask(int lanes) =>
        Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(lanes)).AsSingle();

    static void AxpyTile(int rows, bool masked, int kb, float* a, nint lda, float* b, nint ldb, float* t, nint ldt, bool first, int w)
    {
        var m0 = Mask(w);
        var m1 = Mask(w - 8);
        switch ((rows, masked))
        {
            case (6, false): AxpyTile<R6, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (5, false): AxpyTile<R5, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (4, false): AxpyTile<R4, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (3, false): AxpyTile<R3, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (2, false): AxpyTile<R2, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (1, false): AxpyTile<R1, No>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (6, true): AxpyTile<R6, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (5, true): AxpyTile<R5, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (4, true): AxpyTile<R4, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (3, true): AxpyTile<R3, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            case (2, true): AxpyTile<R2, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
            default: AxpyTile<R1, Yes>(kb, a, lda, b, ldb, t, ldt, first, m0, m1); break;
        }
    }

    static void DotTile(int rows, bool four, int k, float* a, float* b, nint ldb, float* sums)
    {
        switch ((rows, four))
        {
            case (3, true): DotTile<R3, R4>(k, a, b, ldb, sums); break;
            case (2, true): DotTile<R2, R4>(k, a, b, ldb, sums); break;
            case (1, true): DotTile<R1, R4>(k, a, b, ldb, sums); break;
            case (3, false): DotTile<R3, R1>(k, a, b, ldb, sums); break;
            case (2, false): DotTile<R2, R1>(k, a, b, ldb, sums); break;
            default: DotTile<R1, R1>(k, a, b, ldb, sums); break;
        }
    }
}
