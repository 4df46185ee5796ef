using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

// LoraLowRank.OuterTransposed: oᵀ (c×r) = s·vᵀ·u + beta·oᵀ for r ≤ 8, one 8-lane vector of ranks per row of oᵀ,
// so LoRA's dB (d×r) is written in place instead of through two transposes.
internal static unsafe partial class LoraLowRank
{
    /// <summary>Rows of oᵀ per register tile.</summary>
    const int TransposedTile = 12;

    /// <summary>The largest r <see cref="OuterTransposed"/> takes: one 8-lane vector of ranks per row.</summary>
    public const int TransposedMaxR = 8;

    /// <summary>ot (c×r) = s·vᵀ·u + beta·ot for u (n×r), v (n×c), r ≤ 8: the transpose of <see cref="Outer"/>'s
    /// result, element for element the same chain (so the same bits as <see cref="Outer"/> then a transpose).</summary>
    /// <remarks>Each row of ot is one vector of up to 8 ranks: row i of v adds s·u[i, :]·v[i, p] to row p, with
    /// v[i, p] broadcast, for twelve rows p at a time, from blocks of v copied into 12-column strips.</remarks>
    /// <param name="threads">As for <see cref="Outer"/>.</param>
    public static void OuterTransposed(int n, int r, int c, float s, float* u, float* v, float beta, float* ot, int threads = 0)
    {
        if (r > TransposedMaxR) throw new ArgumentException($"OuterTransposed needs r ≤ {TransposedMaxR}, got r = {r}.", nameof(r));
        if (!Fast) { OuterTransposedReference(n, r, c, s, u, v, beta, ot); return; }
        var job = new Job { N = n, R = r, C = c, S = s, Beta = beta, A = u, B = v, Out = ot };
        int parts = Math.Min(threads > 0 ? threads : KernelThreads.Count, Parts(2L * n * r * c, (c + TransposedTile - 1) / TransposedTile));
        if (parts <= 1) TransposedRows(ref job, 0, c);
        else WorkerPool.Run(&TransposedPart, &job, parts);
    }

    static void TransposedPart(void* state, int part, int parts)
    {
        ref Job j = ref *(Job*)state;
        var (p0, p1) = WorkerPool.Share(j.C, TransposedTile, part, parts);
        TransposedRows(ref j, p0, p1);
    }

    // Rows p0..p1 of ot; each element is the chain of OuterColumns. Blocks of rows of v are copied into 12-column
    // strips first, as in OuterColumns.
    static void TransposedRows(ref Job job, int p0, int p1)
    {
        int n = job.N, r = job.R, c = job.C;
        float beta = job.Beta;
        float* ot = job.Out + (nint)p0 * r;
        int count = p1 - p0;
        if (count <= 0) return;
        if (beta != 0f && beta != 1f) for (nint e = 0; e < (nint)count * r; e++) ot[e] *= beta;
        if (n == 0)
        {
            if (beta == 0f) new Span<float>(ot, count * r).Clear();
            return;
        }
        var buffers = LoraBuffers.Current;
        float* su = ScaledRanks(ref job, 8, buffers);
        int wide = WideColumns(count);
        if (wide > 0)
        {
            TransposedWide(ref job, p0, wide, su, buffers);
            p0 += wide;
            ot += (nint)wide * r;
            count -= wide;
            if (count == 0) return;
        }
        int strips = (count + TransposedTile - 1) / TransposedTile;
        float* packed = buffers.OuterStrip((long)BlockRows * strips * TransposedTile);
        float* tile = stackalloc float[TransposedTile * 8];
        for (int i0 = 0; i0 < n; i0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, n - i0);
            PackStrips(rows, job.B + (nint)i0 * c + p0, c, count, TransposedTile, packed);
            bool zero = i0 == 0 && beta == 0f;
            for (int st = 0; st < strips; st++)
            {
                int p = st * TransposedTile, w = Math.Min(TransposedTile, count - p);
                float* t = ot + (nint)p * r;
                if (r < 8 || w < TransposedTile)
                {
                    // Narrow tiles go through an 8-wide scratch so every vector load and store stays inside ot.
                    t = tile;
                    if (!zero)
                        for (int q = 0; q < w; q++) new Span<float>(ot + (nint)(p + q) * r, r).CopyTo(new Span<float>(tile + q * 8, r));
                }
                float* v = packed + (nint)st * rows * TransposedTile;
                if (zero) Tile12x8<Yes>(rows, su + (nint)i0 * 8, v, TransposedTile, t);
                else Tile12x8<No>(rows, su + (nint)i0 * 8, v, TransposedTile, t);
                if (t == tile)
                    for (int q = 0; q < w; q++) new Span<float>(tile + q * 8, r).CopyTo(new Span<float>(ot + (nint)(p + q) * r, r));
            }
        }
    }

    // t[q, 0..8) (rows 8 apart) = (TZero ? 0 : t) + Σ_i su[i, 0..8)·v[i, q] for q < 12, i in order; v rows ldv apart.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile12x8<TZero>(int n, float* su, float* v, nint ldv, float* t) where TZero : struct, IFlag
    {
        Vector256<float> c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11;
        if (TZero.On) c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = c9 = c10 = c11 = default;
        else
        {
            c0 = Avx.LoadVector256(t); c1 = Avx.LoadVector256(t + 8); c2 = Avx.LoadVector256(t + 16); c3 = Avx.LoadVector256(t + 24);
            c4 = Avx.LoadVector256(t + 32); c5 = Avx.LoadVector256(t + 40); c6 = Avx.LoadVector256(t + 48); c7 = Avx.LoadVector256(t + 56);
            c8 = Avx.LoadVector256(t + 64); c9 = Avx.LoadVector256(t + 72); c10 = Avx.LoadVector256(t + 80); c11 = Avx.LoadVector256(t + 88);
        }
        for (int i = 0; i < n; i++, su += 8, v += ldv)
        {
            var u = Avx.LoadVector256(su);
            c0 = Fma.MultiplyAdd(u, Vector256.Create(v[0]), c0); c1 = Fma.MultiplyAdd(u, Vector256.Create(v[1]), c1);
            c2 = Fma.MultiplyAdd(u, Vector256.Create(v[2]), c2); c3 = Fma.MultiplyAdd(u, Vector256.Create(v[3]), c3);
            c4 = Fma.MultiplyAdd(u, Vector256.Create(v[4]), c4); c5 = Fma.MultiplyAdd(u, Vector256.Create(v[5]), c5);
            c6 = Fma.MultiplyAdd(u, Vector256.Create(v[6]), c6); c7 = Fma.MultiplyAdd(u, Vector256.Create(v[7]), c7);
            c8 = Fma.MultiplyAdd(u, Vector256.Create(v[8]), c8); c9 = Fma.MultiplyAdd(u, Vector256.Create(v[9]), c9);
            c10 = Fma.MultiplyAdd(u, Vector256.Create(v[10]), c10); c11 = Fma.MultiplyAdd(u, Vector256.Create(v[11]), c11);
        }
        Avx.Store(t, c0); Avx.Store(t + 8, c1); Avx.Store(t + 16, c2); Avx.Store(t + 24, c3);
        Avx.Store(t + 32, c4); Avx.Store(t + 40, c5); Avx.Store(t + 48, c6); Avx.Store(t + 56, c7);
        Avx.Store(t + 64, c8); Avx.Store(t + 72, c9); Avx.Store(t + 80, c10); Avx.Store(t + 88, c11);
    }

    /// <summary>Scalar twin of <see cref="OuterTransposed"/>: ot[p, j] = s·Σ_i u[i, j]·v[i, p] + beta·ot[p, j].</summary>
    public static void OuterTransposedReference(int n, int r, int c, float s, float* u, float* v, float beta, float* ot)
    {
        for (int p = 0; p < c; p++)
            for (int j = 0; j < r; j++) ot[(nint)p * r + j] = OuterElement(n, r, c, s, u, v, j, p, beta, ot[(nint)p * r + j]);
    }
}
