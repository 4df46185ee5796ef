using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The threaded driver's shared B blocks: the parts split C by rows and share each packed KC×NC block of B (BLIS's
/// ic-loop split), so B is packed once per call rather than once per part.
/// </summary>
/// <remarks>
/// No barrier: the parts claim the block's 16-column panels one at a time from a shared counter and pack them, then
/// wait only until every panel is packed, and run the macro-kernel over their own rows with their own packed A.
/// A part that gets ahead (or whose partner lost its core on a busy machine) packs more of the next block itself
/// instead of waiting at a barrier. Blocks rotate through <see cref="Slots"/> buffers; a part may pack block b into
/// its slot once every part has finished block b − Slots, the last reader of that slot.
/// Counters (one per cache line, zeroed per call): claimed[slot] and packed[slot] count panels over all the blocks
/// that used the slot (never past the current block's end, so every part derives the same ranges), done[part] counts
/// the blocks the part has finished. Who packs a panel never changes its contents, and each part's rows are fixed,
/// so the bits are the same for any number of parts.
/// </remarks>
internal static unsafe class GemmSharedB
{
    /// <summary>B buffers in rotation.</summary>
    public const int Slots = 2;
    const int Line = 16; // ints (or floats) per cache line

    /// <summary>Floats of counters before the buffers, for the given number of parts.</summary>
    public static nint HeaderFloats(int parts) => (nint)(2 * Slots + parts) * Line;

    /// <summary>Zeroes the counters (before the parts start).</summary>
    public static void Reset(float* shared, int parts) => new Span<float>(shared, (int)HeaderFloats(parts)).Clear();

    /// <summary>The part's share of the loop nest over the shared blocks.</summary>
    /// <remarks>Every part walks every block, even when its own rows are empty, so the counters add up.</remarks>
    public static void RunPart(ref GemmPlan plan, int part, int parts)
    {
        var (m0, m1) = WorkerPool.Share(plan.M, MR, part, parts);
        int kcMax = plan.Kc > 0 ? plan.Kc : KC, ncMax = NC;
        int* sync = (int*)plan.SharedB;
        float* buffers = plan.SharedB + HeaderFloats(parts);
        int* ends = stackalloc int[Slots];
        for (int i = 0; i < Slots; i++) ends[i] = 0;
        int firstSegment = plan.Segment0.K > 0 ? 0 : 1, block = 0;
        for (int jc = 0; jc < plan.N; jc += ncMax)
        {
            int nc = Math.Min(ncMax, plan.N - jc), panels = (nc + NR - 1) / NR;
            for (int s = 0; s < 2; s++)
            {
                ref GemmSegment seg = ref s == 0 ? ref plan.Segment0 : ref plan.Segment1;
                for (int pc = 0; pc < seg.K; pc += kcMax)
                {
                    int kc = Math.Min(kcMax, seg.K - pc);
                    bool first = s == firstSegment && pc == 0;
                    if (seg.PackedB != null)
                    {
                        nint stride = (nint)seg.K * NR;
                        GemmDriver.Block(ref plan, ref seg, pc, kc, jc, nc, m0, m1, first, seg.PackedB + (jc / NR) * stride + (nint)pc * NR, stride);
                        continue;
                    }
                    int slot = block % Slots, start = ends[slot], end = start + panels;
                    ends[slot] = end;
                    int* claimed = sync + slot * Line, packed = sync + (Slots + slot) * Line;
                    nint bStride = (nint)kc * NR;
                    float* bp = buffers + slot * plan.SharedBlock;
                    if (block >= Slots)
                        for (int q = 0; q < parts; q++) WorkerPool.WaitUntilAtLeast(sync + (2 * Slots + q) * Line, block - Slots + 1);
                    while (true)
                    {
                        int t = Volatile.Read(ref *claimed);
                        if (t >= end) break;
                        if (Interlocked.CompareExchange(ref *claimed, t + 1, t) != t) continue;
                        int j = (t - start) * NR;
                        GemmPacking.PackB(seg.B, pc, kc, jc + j, Math.Min(NR, nc - j), bp + (t - start) * bStride, bStride);
                        Interlocked.Increment(ref *packed); // after the panel's stores: publishes them
                    }
                    WorkerPool.WaitUntilAtLeast(packed, end);
                    GemmDriver.Block(ref plan, ref seg, pc, kc, jc, nc, m0, m1, first, bp, bStride);
                    Volatile.Write(ref sync[(2 * Slots + part) * Line], ++block); // after this part's last read of the slot
                }
            }
        }
    }
}
