using System.Runtime.CompilerServices;
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
    /// <summary>Optional pre-packed op(A) (m×K): MR-row panels of K×MR, panel t at t·K·MR (<see cref="GemmPacking.PackA"/>
    /// with panelStride K·MR). The small-m path packs its A once this way instead of once per column block.</summary>
    public float* PackedA;
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
    /// <summary>Columns per B block (a multiple of NR), 0 = <see cref="GemmBlocking.NC"/>. Narrow blocks keep the
    /// packed B strip in L1 and consume it at once, which is how the small-m path streams B.</summary>
    public int Nc;
    /// <summary>Inner-dimension block, 0 = <see cref="GemmBlocking.KC"/>. The small-m strip path uses a shorter one so
    /// that fewer rows of B are in flight at once.</summary>
    public int Kc;
    // Set by the driver: split along N (true) or M; the shared, double-buffered B block (null when each part packs
    // its own) and the floats per buffer.
    internal bool SplitN;
    internal float* SharedB;
    internal nint SharedBlock;
    // Set by the driver: Segment1 moved here when it rides along Segment0's last k-block (see GemmDriver.Run).
    internal GemmSegment Tail;
}

/// <summary>
/// The Goto/BLIS loop nest around the macro-kernel, and its split across the worker pool.
/// </summary>
/// <remarks>
/// Each part owns a rectangle of C (whole MR-row or NR-column units): its rows with a shared packed B block (see
/// <see cref="Run"/>), or its columns with its own pack buffers. No part ever splits the inner dimension, and every
/// element is one FMA chain over the same KC blocks in the same order, so the bits are the same for any number of parts.
/// </remarks>
internal static unsafe class GemmDriver
{
    /// <summary>Below this many flops per part, another thread costs more than it saves.</summary>
    internal static long MinFlopsPerPart = 1L << 22;

    /// <summary>With narrow B blocks (<see cref="GemmPlan.Nc"/>), prefetch B this many blocks ahead while packing.</summary>
    internal static int PrefetchStrips = 2;

    /// <summary>Runs the plan on up to <see cref="KernelThreads.Count"/> threads. Requires M, N ≥ 1 and alpha ≠ 0.</summary>
    /// <remarks>
    /// Split along M (the usual case: as many row units as column units or more), the parts share each packed
    /// KC×NC block of B (<see cref="GemmSharedB"/>): they pack its panels together, then each runs the macro-kernel
    /// over its own rows with its own packed A (BLIS's ic-loop split).
    /// Split along N, or with narrow strips (<see cref="GemmPlan.Nc"/>), each part packs only the B panels it uses,
    /// so nothing is shared and the parts never meet.
    /// <para>A Segment1 given with both operands pre-packed (<see cref="GemmSegment.PackedA"/> for all M rows and
    /// <see cref="GemmSegment.PackedB"/>) is not a k-block of its own: it rides along Segment0's last k-block, in
    /// the same micro-kernel calls and accumulators (<see cref="MicroKernel.RunTail"/>), so it costs its FMAs and no
    /// pass over C. The driver moves it to <see cref="GemmPlan.Tail"/> (Segment1.K becomes 0). Every element is
    /// still one FMA chain in a fixed order (Segment0's k-blocks, the last one continued by Segment1).</para>
    /// </remarks>
    public static void Run(ref GemmPlan plan)
    {
        long k = (long)plan.Segment0.K + plan.Segment1.K;
        plan.Tail = default;
        if (FuseTail && plan.Nc == 0 && plan.Segment0.K > 0 && plan.Segment1.K > 0
            && plan.Segment1.PackedA != null && plan.Segment1.PackedB != null)
        {
            plan.Tail = plan.Segment1;
            plan.Segment1 = default;
        }
        int unitsM = (plan.M + MR - 1) / MR, unitsN = (plan.N + NR - 1) / NR;
        plan.SplitN = unitsN > unitsM;
        int parts = Parts(2L * plan.M * plan.N * k, plan.SplitN ? unitsN : unitsM);
        plan.SharedB = null;
        int packedK = PackedK(ref plan);
        if (parts > 1 && !plan.SplitN && plan.Nc == 0 && SharedPacking && packedK > 0)
        {
            int ncMax = plan.Nc > 0 ? plan.Nc : NC;
            // Whole cache lines per buffer, so the two never share one.
            plan.SharedBlock = ((nint)packedK * Math.Min(ncMax, unitsN * NR) + 15) & ~(nint)15;
            plan.SharedB = GemmBuffers.Current.SharedB(GemmSharedB.HeaderFloats(parts) + GemmSharedB.Slots * plan.SharedBlock + 16);
            GemmSharedB.Reset(plan.SharedB, parts);
        }
        LastShared = plan.SharedB != null;
        fixed (GemmPlan* p = &plan) WorkerPool.Run(&RunPart, p, parts);
    }

    /// <summary>The longest k-block of B the plan packs per call (0 when every segment's B is pre-packed), which
    /// sizes the pack buffers: a fused plan over a pre-packed W with KC = 1024 would otherwise pin 16 MB per thread
    /// (1024 × 4080 floats) that it never touches.</summary>
    static int PackedK(ref GemmPlan plan)
    {
        int kcMax = plan.Kc > 0 ? plan.Kc : KC, k = 0;
        if (plan.Segment0.PackedB == null) k = Math.Max(k, Math.Min(kcMax, plan.Segment0.K));
        if (plan.Segment1.PackedB == null) k = Math.Max(k, Math.Min(kcMax, plan.Segment1.K));
        return k;
    }

    /// <summary>Whether the last <see cref="Run"/> on this thread shared its B blocks between parts (for tests).</summary>
    [ThreadStatic] internal static bool LastShared;

    /// <summary>On by default; a field only so that the benchmark can compare with private B blocks in one run.</summary>
    internal static bool SharedPacking = true;

    /// <summary>On by default: a pre-packed Segment1 rides along Segment0's last k-block (see <see cref="Run"/>);
    /// off runs it as a k-block of its own (a second pass over C), for the benchmark's A/B in one run.</summary>
    internal static bool FuseTail = true;

    /// <summary>How many parts to split a job of the given flops into, at most one per unit and per thread.</summary>
    internal static int Parts(long flops, int units)
    {
        long byWork = Math.Max(1, flops / MinFlopsPerPart);
        return (int)Math.Min(Math.Min(KernelThreads.Count, units), byWork);
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref GemmPlan plan = ref *(GemmPlan*)state;
        if (plan.SharedB != null) GemmSharedB.RunPart(ref plan, part, parts);
        else if (plan.SplitN)
        {
            var (n0, n1) = WorkerPool.Share(plan.N, NR, part, parts);
            RunRectangle(ref plan, 0, plan.M, n0, n1);
        }
        else
        {
            var (m0, m1) = WorkerPool.Share(plan.M, MR, part, parts);
            RunRectangle(ref plan, m0, m1, 0, plan.N);
        }
    }

    /// <summary>The sequential loop nest over C[m0..m1, n0..n1] (n0 a multiple of NR).</summary>
    /// <remarks>
    /// Normal blocking: column blocks (NC) outside, k-blocks (KC) inside, so one packed KC×NC block of B serves all
    /// of A. Narrow strips (<see cref="GemmPlan.Nc"/>, the small-m path): k-blocks outside, so the KC rows of B being
    /// read span few pages and are swept left to right (TLB and prefetcher friendly). Either way each element of C
    /// sees the same k-blocks in the same order, so the bits do not change.
    /// </remarks>
    internal static void RunRectangle(ref GemmPlan plan, int m0, int m1, int n0, int n1)
    {
        if (m0 >= m1 || n0 >= n1) return;
        int kcMax = plan.Kc > 0 ? plan.Kc : KC, ncMax = plan.Nc > 0 ? plan.Nc : NC;
        GemmBuffers buffers = GemmBuffers.Current;
        var scratch = new Scratch
        {
            B = PackedK(ref plan) is int packedK and > 0 ? buffers.PackB(packedK * Math.Min(ncMax, (n1 - n0 + NR - 1) / NR * NR) + 16) : null,
            Prefetch = plan.Nc > 0 ? PrefetchStrips * ncMax : 0,
        };
        int firstSegment = plan.Segment0.K > 0 ? 0 : 1;
        if (plan.Nc == 0)
        {
            for (int jc = n0; jc < n1; jc += ncMax)
                for (int s = 0; s < 2; s++)
                {
                    ref GemmSegment seg = ref s == 0 ? ref plan.Segment0 : ref plan.Segment1;
                    for (int pc = 0; pc < seg.K; pc += kcMax)
                        Block(ref plan, ref seg, pc, Math.Min(kcMax, seg.K - pc), jc, Math.Min(ncMax, n1 - jc), m0, m1,
                            s == firstSegment && pc == 0, scratch);
                }
        }
        else
        {
            for (int s = 0; s < 2; s++)
            {
                ref GemmSegment seg = ref s == 0 ? ref plan.Segment0 : ref plan.Segment1;
                for (int pc = 0; pc < seg.K; pc += kcMax)
                    for (int jc = n0; jc < n1; jc += ncMax)
                        Block(ref plan, ref seg, pc, Math.Min(kcMax, seg.K - pc), jc, Math.Min(ncMax, n1 - jc), m0, m1,
                            s == firstSegment && pc == 0, scratch);
            }
        }
    }

    struct Scratch
    {
        public float* B;
        public int Prefetch;
    }

    /// <summary>Packs the part's own B block (unless pre-packed), then runs the ic loop over it.</summary>
    static void Block(ref GemmPlan plan, ref GemmSegment seg, int pc, int kc, int jc, int nc, int m0, int m1, bool first, in Scratch scratch)
    {
        if (seg.PackedB != null)
        {
            nint stride = (nint)seg.K * NR;
            Block(ref plan, ref seg, pc, kc, jc, nc, m0, m1, first, seg.PackedB + (jc / NR) * stride + (nint)pc * NR, stride);
        }
        else
        {
            GemmPacking.PackB(seg.B, pc, kc, jc, nc, scratch.B, (nint)kc * NR, scratch.Prefetch);
            Block(ref plan, ref seg, pc, kc, jc, nc, m0, m1, first, scratch.B, (nint)kc * NR);
        }
    }

    /// <summary>C[m0..m1, jc..jc+nc] (+)= op(A)[.., pc..pc+kc]·op(B)[pc..pc+kc, jc..jc+nc] of one segment, B packed at
    /// bp (panels every bStride floats).</summary>
    /// <param name="first">The first k-block of the whole inner dimension: beta and bias apply here only.</param>
    internal static void Block(ref GemmPlan plan, ref GemmSegment seg, int pc, int kc, int jc, int nc, int m0, int m1, bool first,
        float* bp, nint bStride)
    {
        float beta = first ? plan.Beta : 1f;
        float* bias = first && plan.Bias != null ? plan.Bias + jc : null;
        if (m0 >= m1) return;
        GemmBuffers buffers = GemmBuffers.Current; // per thread: the same buffers the caller sized for this kc
        float* packA = seg.PackedA != null ? null : buffers.PackA(MC * kc + 16), tile = buffers.Tile(GemmMacroKernel.TileFloats);
        // The last k-block of Segment0 carries the tail (GemmPlan.Tail) in its micro-kernel calls.
        GemmTail tail = default;
        bool withTail = plan.Tail.K > 0 && pc + kc == seg.K && Unsafe.AreSame(ref seg, ref plan.Segment0);
        if (withTail)
        {
            tail.K = plan.Tail.K;
            tail.B = plan.Tail.PackedB + (jc / NR) * (nint)tail.K * NR;
        }
        for (int ic = m0; ic < m1; ic += MC)
        {
            int mc = Math.Min(MC, m1 - ic);
            float* ap;
            nint aStride;
            if (seg.PackedA != null)
            {
                aStride = (nint)seg.K * MR;
                ap = seg.PackedA + (ic / MR) * aStride + (nint)pc * MR;
            }
            else
            {
                aStride = (nint)kc * MR;
                GemmPacking.PackA(seg.A, ic, mc, pc, kc, packA, aStride);
                ap = packA;
            }
            if (withTail) tail.A = plan.Tail.PackedA + (ic / MR) * (nint)tail.K * MR;
            GemmMacroKernel.Run(mc, nc, kc, ap, aStride, bp, bStride, tail, plan.C + ic * plan.Ldc + jc, plan.Ldc,
                plan.Alpha, beta, bias, tile, seg.PackedB != null && GemmMacroKernel.NextPanels);
        }
    }
}
