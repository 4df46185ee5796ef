using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// One stretch of the inner dimension: op(A) (m×K) times op(B) (K×n). The driver sums any number of segments into
/// one C, which is how a fused kernel extends the inner dimension ([x | s·h]·[W | B]ᵀ) without a second pass over C.
/// </summary>
internal unsafe struct GemmSegment
{
    /// <summary>Length of this stretch of the inner dimension (may be 0).</summary>
    public int K;
    /// <summary>op(A) for this stretch, m×K; packed per block.</summary>
    public GemmOperand A;
    /// <summary>op(B) for this stretch, K×n; packed per block unless <see cref="PackedB"/> is set.</summary>
    public GemmOperand B;
    /// <summary>Optional pre-packed op(B) (<see cref="GemmPackedB"/>, K×n): reused instead of packing B.</summary>
    public float* PackedB;
}

/// <summary>Everything one GEMM (or fused GEMM) call needs; lives on the caller's stack during the call.</summary>
internal unsafe struct GemmPlan
{
    public int M, N;
    /// <summary>The inner dimension: Segment0 followed by Segment1 (K = 0 when unused).</summary>
    public GemmSegment Segment0, Segment1;
    public float Alpha, Beta;
    /// <summary>C (M×N), row stride Ldc.</summary>
    public float* C;
    public nint Ldc;
    /// <summary>Optional per-column bias (N values) added once: C = alpha·Σ + beta·C + bias.</summary>
    public float* Bias;
    // Set by the driver: split along N (true) or M, and into how many parts.
    internal bool SplitN;
}

/// <summary>
/// The Goto/BLIS loop nest around the macro-kernel, and its split across the worker pool.
/// </summary>
/// <remarks>
/// Each part is a rectangle of C (whole MR-row or NR-column units) and runs the whole loop nest with its own
/// pack buffers; no part ever splits the inner dimension, and every element is one FMA chain over the same KC
/// blocks in the same order, so the result is bitwise the same for any number of parts.
/// </remarks>
internal static unsafe class GemmDriver
{
    /// <summary>Below this many flops per part, another thread costs more than it saves.</summary>
    internal static long MinFlopsPerPart = 1L << 22;

    /// <summary>Runs the plan on up to <see cref="KernelThreads.Count"/> threads. Requires M, N ≥ 1 and alpha ≠ 0.</summary>
    public static void Run(ref GemmPlan plan)
    {
        long k = (long)plan.Segment0.K + plan.Segment1.K;
        int unitsM = (plan.M + MR - 1) / MR, unitsN = (plan.N + NR - 1) / NR;
        plan.SplitN = unitsN > unitsM;
        int parts = Parts(2L * plan.M * plan.N * k, plan.SplitN ? unitsN : unitsM);
        fixed (GemmPlan* p = &plan) WorkerPool.Run(&RunPart, p, parts);
    }

    /// <summary>How many parts to split a job of the given flops into, at most one per unit and per thread.</summary>
    internal static int Parts(long flops, int units)
    {
        long byWork = Math.Max(1, flops / MinFlopsPerPart);
        return (int)Math.Min(Math.Min(KernelThreads.Count, units), byWork);
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref GemmPlan plan = ref *(GemmPlan*)state;
        if (plan.SplitN)
        {
            int units = (plan.N + NR - 1) / NR;
            int n0 = (int)((long)units * part / parts) * NR, n1 = Math.Min(plan.N, (int)((long)units * (part + 1) / parts) * NR);
            RunRectangle(ref plan, 0, plan.M, n0, n1);
        }
        else
        {
            int units = (plan.M + MR - 1) / MR;
            int m0 = (int)((long)units * part / parts) * MR, m1 = Math.Min(plan.M, (int)((long)units * (part + 1) / parts) * MR);
            RunRectangle(ref plan, m0, m1, 0, plan.N);
        }
    }

    /// <summary>The sequential loop nest over C[m0..m1, n0..n1] (n0 a multiple of NR).</summary>
    internal static void RunRectangle(ref GemmPlan plan, int m0, int m1, int n0, int n1)
    {
        if (m0 >= m1 || n0 >= n1) return;
        int kcMax = KC, mcMax = MC, ncMax = NC;
        GemmBuffers buffers = GemmBuffers.Current;
        float* aBuf = buffers.PackA(mcMax * kcMax + 16);
        float* bBuf = buffers.PackB(kcMax * ncMax + 16);
        float* tile = buffers.Tile(MR * NR + NR);
        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            bool first = true;
            for (int s = 0; s < 2; s++)
            {
                ref GemmSegment seg = ref s == 0 ? ref plan.Segment0 : ref plan.Segment1;
                for (int pc = 0; pc < seg.K; pc += kcMax)
                {
                    int kc = Math.Min(kcMax, seg.K - pc);
                    float* bp;
                    nint bStride;
                    if (seg.PackedB != null)
                    {
                        bStride = (nint)seg.K * NR;
                        bp = seg.PackedB + (jc / NR) * bStride + (nint)pc * NR;
                    }
                    else
                    {
                        bStride = (nint)kc * NR;
                        GemmPacking.PackB(seg.B, pc, kc, jc, nc, bBuf, bStride);
                        bp = bBuf;
                    }
                    float beta = first ? plan.Beta : 1f;
                    float* bias = first && plan.Bias != null ? plan.Bias + jc : null;
                    for (int ic = m0; ic < m1; ic += mcMax)
                    {
                        int mc = Math.Min(mcMax, m1 - ic);
                        GemmPacking.PackA(seg.A, ic, mc, pc, kc, aBuf);
                        GemmMacroKernel.Run(mc, nc, kc, aBuf, bp, bStride, plan.C + ic * plan.Ldc + jc, plan.Ldc,
                            plan.Alpha, beta, bias, tile);
                    }
                    first = false;
                }
            }
        }
    }
}
