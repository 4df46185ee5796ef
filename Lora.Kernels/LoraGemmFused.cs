using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The fused LoRA kernels behind <see cref="LoraGemm"/> (arguments already checked). Large batches run one
/// <see cref="GemmPlan"/> with two inner-dimension segments on the GEMM driver; n ≤ 16 runs
/// <see cref="LoraSmallBatch"/>, which streams the packed W panels once.
/// </summary>
internal static unsafe class LoraGemmFused
{
    /// <summary>Rows of the dropout backward's masked term formed at a time (bounded scratch).</summary>
    const int MaskRows = 32;

    /// <summary>Inner-dimension block of the fused plans (0 = the choice below); tuning only.</summary>
    internal static int Kc;

    /// <summary>Up to this inner dimension the frozen-weight segment runs as one k-block instead of KC-sized ones:
    /// one read-modify-write of C fewer, which measured 3–4 % faster at n = 128–256, d = k = 784–1024
    /// (docs/kernels.md, "Thin products and k-blocking"); longer segments run in blocks of
    /// <see cref="LongKc"/>.</summary>
    internal static int WholeKMax = 1088;

    /// <summary>The k-block of longer frozen segments: 1024 measured 4–11 % faster than KC = 512 at n = 256,
    /// d = k = 4096 (the pre-packed W needs no packing, so a longer block only saves passes over C).</summary>
    internal static int LongKc = 1024;

    static int BlockK(int k) => Kc > 0 ? Kc : k <= KC ? 0 : k <= WholeKMax ? k : Math.Max(KC, LongKc);

    static bool Small(int n) => n <= SmallM && MicroKernel.UseAvx2;

    // x, xd: (n, k); a: (r, k); b: (d, r); bias: (d) or empty; h: (n, r); y: (n, d)
    public static void Forward(int n, int d, int k, int r, float scale, ReadOnlySpan<float> x, ReadOnlySpan<float> xd,
        PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> bias, Span<float> h, Span<float> y)
    {
        if (r > 0) XTimesAT(n, r, k, xd, a, h); // h = xd·Aᵀ
        if (n == 0 || d == 0) return;
        // s = 0 drops the low-rank stretch, so the result is bitwise the plain layer's.
        int rr = scale == 0f ? 0 : r;
        float* sh = LoraBuffers.Current.Scaled((long)n * rr + 16);
        for (int i = 0; i < n * rr; i++) sh[i] = scale * h[i];
        fixed (float* px = x, pb = b, pbias = bias, py = y)
        {
            var seg0 = new GemmSegment { K = k, A = new GemmOperand(px, Math.Max(1, k), false), PackedB = w.Forward.Data };
            var seg1 = new GemmSegment { K = rr, A = new GemmOperand(sh, Math.Max(1, rr), false), B = new GemmOperand(pb, Math.Max(1, r), true) };
            Run(n, d, seg0, seg1, 0f, pbias, py);
        }
        GC.KeepAlive(w);
    }

    // dy: (n, d); scratch, g: (n, r); dx: (n, k); dA: (r, k); dB: (d, r); dBias: (d); dW: (d, k)
    public static void Backward(int n, int d, int k, int r, float scale, ReadOnlySpan<float> x, ReadOnlySpan<float> xd,
        PackedWeight w, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> h, ReadOnlySpan<float> dy,
        Span<float> scratch, Span<float> dx, Span<float> dA, Span<float> dB, Span<float> dBias, Span<float> dW,
        bool accumulate, LoraDropout dropout, bool accumulateDx)
    {
        float beta = accumulate ? 1f : 0f;
        bool needG = r > 0 && (!dx.IsEmpty || !dA.IsEmpty);
        Span<float> g = needG ? scratch[..(n * r)] : default;
        if (needG) DyTimesB(n, d, r, dy, b, g); // g = dy·B
        if (!dx.IsEmpty) InputGradient(n, d, k, r, scale, w, a, dy, g, dx, accumulateDx ? 1f : 0f, dropout);
        if (!dA.IsEmpty && !dB.IsEmpty && OuterTogether(n, d, k, r)) GradsTogether(n, d, k, r, scale, g, xd, dy, h, beta, dA, dB);
        else
        {
            if (!dA.IsEmpty) GradA(n, k, r, scale, g, xd, beta, dA);  // dA = s·gᵀ·xd
            if (!dB.IsEmpty) GradB(n, d, r, scale, dy, h, beta, dB);  // dB = s·dyᵀ·h
        }
        if (!dW.IsEmpty) Gemm.Sgemm(Transpose.Yes, Transpose.No, d, k, n, 1f, dy, d, x, k, beta, dW, k);     // dW = dyᵀ·x
        if (!dBias.IsEmpty) ColumnSums(n, d, dy, dBias, accumulate);
    }

    /// <summary>dx = [dy | s·g]·[W ; A] (+ beta·dx); with dropout the low-rank term is masked separately.</summary>
    static void InputGradient(int n, int d, int k, int r, float scale, PackedWeight w, ReadOnlySpan<float> a,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> g, Span<float> dx, float beta, LoraDropout dropout)
    {
        if (n == 0 || k == 0) return;
        int rr = scale == 0f ? 0 : r;
        int fusedR = dropout.IsActive ? 0 : rr;
        float* sg = LoraBuffers.Current.Scaled((long)n * fusedR + 16);
        for (int i = 0; i < n * fusedR; i++) sg[i] = scale * g[i];
        fixed (float* pdy = dy, pa = a, pdx = dx)
        {
            var seg0 = new GemmSegment { K = d, A = new GemmOperand(pdy, Math.Max(1, d), false), PackedB = w.Backward.Data };
            var seg1 = new GemmSegment { K = fusedR, A = new GemmOperand(sg, Math.Max(1, fusedR), false), B = new GemmOperand(pa, k, false) };
            Run(n, k, seg0, seg1, beta, null, pdx);
        }
        GC.KeepAlive(w);
        if (dropout.IsActive && rr > 0) MaskedLowRank(n, k, r, scale, a, g, dx, dropout);
    }

    /// <summary>dx += (s·g·A) ⊙ mask, MaskRows rows at a time; the mask of element (i, p) is counter i·k + p.</summary>
    static void MaskedLowRank(int n, int k, int r, float scale, ReadOnlySpan<float> a, ReadOnlySpan<float> g,
        Span<float> dx, LoraDropout dropout)
    {
        var buffers = LoraBuffers.Current;
        var t = new Span<float>(buffers.Rows((long)MaskRows * k), MaskRows * k);
        var m = new Span<float>(buffers.Mask((long)MaskRows * k), MaskRows * k);
        for (int i0 = 0; i0 < n; i0 += MaskRows)
        {
            int rows = Math.Min(MaskRows, n - i0), len = rows * k;
            Gemm.Sgemm(Transpose.No, Transpose.No, rows, k, r, scale, g[(i0 * r)..], r, a, k, 0f, t, k);
            DropoutKernels.Mask(dropout.Seed, (long)i0 * k, dropout.P, m[..len]);
            Elementwise.BinaryAccumulate<MultiplyOperator>(t[..len], m[..len], dx.Slice(i0 * k, len));
        }
    }

    /// <summary>Ranks up to which the thin products run on <see cref="LoraLowRank"/>; wider ones are GEMM-shaped enough
    /// for the packed GEMM (docs/kernels.md).</summary>
    internal static int LowRankMaxR = 8;

    static bool LowRank(int r) => r <= LowRankMaxR && LoraLowRank.Fast;

    /// <summary>Ranks up to which dA runs on <see cref="LoraLowRank.Outer"/> and dB on
    /// <see cref="LoraLowRank.OuterTransposed"/> (tuning; dB also stops at its 8-lane limit).</summary>
    internal static int OuterMaxR = 8;

    static bool OuterA(int r) => LowRank(r) && r <= OuterMaxR;
    static bool OuterB(int r) => OuterA(r) && r <= LoraLowRank.TransposedMaxR;

    // h (n, r) = xd (n, k)·Aᵀ, A (r, k)
    internal static void XTimesAT(int n, int r, int k, ReadOnlySpan<float> xd, ReadOnlySpan<float> a, Span<float> h)
    {
        if (!LowRank(r)) { Gemm.Sgemm(Transpose.No, Transpose.Yes, n, r, k, 1f, xd, k, a, k, 0f, h, r); return; }
        fixed (float* px = xd, pa = a, ph = h) LoraLowRank.Dot(n, r, k, px, pa, ph);
    }

    // g (n, r) = dy (n, d)·B, B (d, r): a dot product of each dy row with each row of Bᵀ (transposed into scratch).
    internal static void DyTimesB(int n, int d, int r, ReadOnlySpan<float> dy, ReadOnlySpan<float> b, Span<float> g)
    {
        if (!LowRank(r)) { Gemm.Sgemm(Transpose.No, Transpose.No, n, r, d, 1f, dy, d, b, r, 0f, g, r); return; }
        float* bt = LoraBuffers.Current.Transposed((long)r * d + 16);
        fixed (float* pdy = dy, pb = b, pg = g)
        {
            GemmPacking.Transpose(d, r, pb, bt);
            LoraLowRank.Dot(n, r, d, pdy, bt, pg);
        }
    }

    /// <summary>Whether dA and dB run at once, one per thread, instead of one after the other split over the threads:
    /// one fork-join instead of two, and neither product pays for a split (thread count ≥ 2, dA on
    /// <see cref="LoraLowRank.Outer"/> and dB on <see cref="LoraLowRank.OuterTransposed"/>, and enough work that
    /// each would have been split).</summary>
    static bool OuterTogether(int n, int d, int k, int r) =>
        GradsTogetherOn && KernelThreads.Count > 1 && OuterB(r) && 2L * n * r * Math.Min(d, k) >= GemmDriver.MinFlopsPerPart / 8;

    /// <summary>On by default; a field only so that the benchmark can time the one-after-the-other order in the same run.</summary>
    internal static bool GradsTogetherOn = true;

    struct GradJob
    {
        public int N, D, K, R;
        public float Scale, Beta;
        public float* G, Xd, Dy, H, DA, DB;
    }

    // dA = s·gᵀ·xd on part 0 and dB = s·dyᵀ·h on part 1, each on its own thread (the same chains as when split).
    static void GradsTogether(int n, int d, int k, int r, float scale, ReadOnlySpan<float> g, ReadOnlySpan<float> xd,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> h, float beta, Span<float> dA, Span<float> dB)
    {
        fixed (float* pg = g, px = xd, pdy = dy, ph = h, pdA = dA, pdB = dB)
        {
            var job = new GradJob { N = n, D = d, K = k, R = r, Scale = scale, Beta = beta, G = pg, Xd = px, Dy = pdy, H = ph, DA = pdA, DB = pdB };
            WorkerPool.Run(&GradPart, &job, 2);
        }
    }

    static void GradPart(void* state, int part, int parts)
    {
        ref GradJob j = ref *(GradJob*)state;
        if (part == 0) LoraLowRank.Outer(j.N, j.R, j.K, j.Scale, j.G, j.Xd, j.Beta, j.DA, threads: 1);
        else LoraLowRank.OuterTransposed(j.N, j.R, j.D, j.Scale, j.H, j.Dy, j.Beta, j.DB, threads: 1);
    }

    // dA (r, k) = s·gᵀ·xd + beta·dA
    internal static void GradA(int n, int k, int r, float scale, ReadOnlySpan<float> g, ReadOnlySpan<float> xd, float beta, Span<float> dA)
    {
        if (!OuterA(r)) { Gemm.Sgemm(Transpose.Yes, Transpose.No, r, k, n, scale, g, r, xd, k, beta, dA, k); return; }
        fixed (float* pg = g, px = xd, pdA = dA) LoraLowRank.Outer(n, r, k, scale, pg, px, beta, pdA);
    }

    // dB (d, r) = s·dyᵀ·h + beta·dB, written in place (its rows of r ≤ 8 ranks are one vector each).
    internal static void GradB(int n, int d, int r, float scale, ReadOnlySpan<float> dy, ReadOnlySpan<float> h, float beta, Span<float> dB)
    {
        if (!OuterB(r)) { Gemm.Sgemm(Transpose.Yes, Transpose.No, d, r, n, scale, dy, d, h, r, beta, dB, r); return; }
        fixed (float* pdy = dy, ph = h, pdB = dB) LoraLowRank.OuterTransposed(n, r, d, scale, ph, pdy, beta, pdB);
    }

    /// <summary>C (m×nc) = Σ_segments op(A)·op(B) + beta·C + bias, on the small-batch path or the GEMM driver.</summary>
    static void Run(int m, int nc, GemmSegment seg0, GemmSegment seg1, float beta, float* bias, float* c)
    {
        if (seg0.K + seg1.K == 0)
        {
            // No inner dimension: C = beta·C + bias.
            for (int i = 0; i < m; i++)
                for (int j = 0; j < nc; j++)
                    c[(nint)i * nc + j] = (beta == 0f ? 0f : beta * c[(nint)i * nc + j]) + (bias == null ? 0f : bias[j]);
            return;
        }
        if (Small(m))
        {
            LoraSmallBatch.Run(m, nc, seg0, seg1, beta, bias, c);
            return;
        }
        if (seg0.K > 0 && seg1.K > 0) PackTail(m, nc, ref seg1);
        var plan = new GemmPlan { M = m, N = nc, Alpha = 1f, Beta = beta, C = c, Ldc = nc, Bias = bias, Segment0 = seg0, Segment1 = seg1, Kc = BlockK(seg0.K) };
        GemmDriver.Run(ref plan);
    }

    /// <summary>Packs the low-rank stretch's A (m×K) and B (K×n) whole, once per call, so that the driver runs it
    /// inside the frozen segment's last k-block (<see cref="GemmDriver.Run"/>): one pass over C.</summary>
    static void PackTail(int m, int n, ref GemmSegment seg)
    {
        var buffers = LoraBuffers.Current;
        int k = seg.K;
        float* pa = buffers.TailA((long)(m + MR - 1) / MR * MR * k + 16), pb = buffers.TailB((long)(n + NR - 1) / NR * NR * k + 16);
        GemmPacking.PackA(seg.A, 0, m, 0, k, pa, (nint)k * MR);
        GemmPacking.PackB(seg.B, 0, k, 0, n, pb, (nint)k * NR);
        seg.PackedA = pa;
        seg.PackedB = pb;
    }

    /// <summary>dBias (=|+=) Σ_i dy[i, :], rows added in order (the same bits for any thread count).</summary>
    static void ColumnSums(int n, int d, ReadOnlySpan<float> dy, Span<float> dBias, bool accumulate)
    {
        if (!accumulate) dBias.Clear();
        for (int i = 0; i < n; i++) Elementwise.AddInto(dy.Slice(i * d, d), dBias);
    }
}
