using static Lora.Kernels.GemmBlocking;

namespace Lora.Kernels;

/// <summary>
/// The fused LoRA convolution's forward behind <see cref="LoraConv"/> (arguments already checked): per image (or
/// column slice of an image) the columns are unfolded once, each packed KC×NC block of them feeds the stacked rows
/// [W; A] (so h = A·cols costs only its r extra rows), then the stretch [s·B | bias]·[h ; 1] finishes y in the same
/// output tiles. Parts of the batch run on the worker pool; every output element is one FMA chain per KC block in a
/// fixed order, whatever the split, so the bits never depend on the thread count.
/// </summary>
internal static unsafe class LoraConvForward
{
    struct Job
    {
        public int C, H, W, Kh, Kw, Stride, Pad, Plane, Ckk, Cout, R, RR, K1, Slices, Items;
        public bool Bias, Drop;
        public float* X, XDrop, Y, HOut;
        public float* Main;  // packed [W; A] (no dropout) or W alone (dropout), inner dimension ckk
        public float* AOnly; // dropout: packed A, inner dimension ckk
        public float* Low;   // packed [s·B | bias] (cout rows, inner dimension K1)
    }

    /// <summary>Floats of a matrix of <paramref name="rows"/> rows packed into MR panels of K, with the packer's slack.</summary>
    static long PanelFloats(int rows, int k) => (long)((rows + MR - 1) / MR) * MR * k + 16;

    // x, xd: (n, c, h, w) (xd null: no dropout); w: (cout, ckk); a: (r, ckk); b: (cout, r); bias: (cout) or null;
    // hOut: (n, r, plane); y: (n, cout, plane)
    public static void Run(int n, int c, int h, int w, int cout, int kh, int kw, int stride, int pad, int r, float scale,
        float* x, float* xd, float* wt, float* a, float* b, float* bias, float* hOut, float* y)
    {
        int oh = Im2Col.OutputSize(h, kh, stride, pad), ow = Im2Col.OutputSize(w, kw, stride, pad);
        int plane = oh * ow, ckk = c * kh * kw;
        if (n == 0) return;
        var buf = ConvBuffers.Current;
        var job = new Job
        {
            C = c, H = h, W = w, Kh = kh, Kw = kw, Stride = stride, Pad = pad, Plane = plane, Ckk = ckk, Cout = cout, R = r,
            RR = scale == 0f ? 0 : r, Bias = bias != null, Drop = xd != null && r > 0, X = x, XDrop = xd, Y = y, HOut = hOut,
        };
        job.K1 = job.RR + (job.Bias ? 1 : 0);
        // [W; A] stacked row-major, then packed once for every image and part.
        int mainRows = cout + (job.Drop ? 0 : r);
        float* raw = buf.LowRaw((long)Math.Max(mainRows * ckk, cout * job.K1) + 16);
        Buffer.MemoryCopy(wt, raw, (long)cout * ckk * 4, (long)cout * ckk * 4);
        if (!job.Drop && r > 0) Buffer.MemoryCopy(a, raw + (long)cout * ckk, (long)r * ckk * 4, (long)r * ckk * 4);
        job.Main = buf.Stack(PanelFloats(mainRows, ckk));
        GemmPacking.PackA(new GemmOperand(raw, ckk, false), 0, mainRows, 0, ckk, job.Main, (nint)ckk * MR);
        if (job.Drop)
        {
            job.AOnly = buf.StackA(PanelFloats(r, ckk));
            GemmPacking.PackA(new GemmOperand(a, ckk, false), 0, r, 0, ckk, job.AOnly, (nint)ckk * MR);
        }
        if (job.K1 > 0)
        {
            // [s·B | bias] (cout, K1): the bias is one more inner-dimension step against a row of ones under h.
            for (int o = 0; o < cout; o++)
            {
                float* row = raw + (long)o * job.K1;
                for (int j = 0; j < job.RR; j++) row[j] = scale * b[(long)o * r + j];
                if (job.Bias) row[job.RR] = bias[o];
            }
            job.Low = buf.Low(PanelFloats(cout, job.K1));
            GemmPacking.PackA(new GemmOperand(raw, job.K1, false), 0, cout, 0, job.K1, job.Low, (nint)job.K1 * MR);
        }
        int units = (plane + NR - 1) / NR;
        int parts = GemmDriver.Parts(2L * n * plane * ckk * (cout + r), n * units);
        job.Slices = n >= parts ? 1 : Math.Min(units, (parts + n - 1) / n);
        job.Items = n * job.Slices;
        WorkerPool.Run(&RunPart, &job, Math.Min(parts, job.Items));
    }

    static void RunPart(void* state, int part, int parts)
    {
        ref Job job = ref *(Job*)state;
        int units = (job.Plane + NR - 1) / NR;
        var (first, last) = WorkerPool.Share(job.Items, 1, part, parts);
        for (int item = first; item < last; item++)
        {
            int i = item / job.Slices, s = item % job.Slices;
            int j0 = Math.Min(job.Plane, units * s / job.Slices * NR), j1 = Math.Min(job.Plane, units * (s + 1) / job.Slices * NR);
            if (j0 < j1) RunItem(ref job, i, j0, j1);
        }
    }

    /// <summary>Output positions j0..j1 of image i.</summary>
    static void RunItem(ref Job job, int i, int j0, int j1)
    {
        int width = j1 - j0, ckk = job.Ckk, r = job.R, chw = job.C * job.H * job.W;
        var buf = ConvBuffers.Current;
        float* packB = buf.PackB((long)Math.Min(KC, Math.Max(ckk, job.K1)) * ((Math.Min(NC, width) + NR - 1) / NR * NR) + 16), tile = buf.Tile(GemmMacroKernel.TileFloats);
        float* cols = buf.Cols((long)ckk * width + 16);
        Im2Col.UnfoldColumns(job.C, job.H, job.W, job.Kh, job.Kw, job.Stride, job.Pad,
            new ReadOnlySpan<float>(job.X + (long)i * chw, chw), j0, j1, new Span<float>(cols, ckk * width));
        float* hExt = buf.HExt((long)(r + 1) * width + 16);
        if (job.Bias) new Span<float>(hExt + (long)r * width, width).Fill(1f);
        float* yi = job.Y + (long)i * job.Cout * job.Plane + j0;
        var scratch = new Scratch { PackB = packB, Tile = tile };
        if (job.Drop)
        {
            float* colsD = buf.ColsDrop((long)ckk * width + 16);
            Im2Col.UnfoldColumns(job.C, job.H, job.W, job.Kh, job.Kw, job.Stride, job.Pad,
                new ReadOnlySpan<float>(job.XDrop + (long)i * chw, chw), j0, j1, new Span<float>(colsD, ckk * width));
            Gemm(job.AOnly, ckk, new Rows(hExt, width, r, null, 0), colsD, width, 0f, scratch);   // h = A·cols(d(x))
            Gemm(job.Main, ckk, new Rows(yi, job.Plane, job.Cout, null, 0), cols, width, 0f, scratch); // y = W·cols
        }
        else
        {
            // [y ; h] = [W ; A]·cols: one packed block of the columns serves both.
            Gemm(job.Main, ckk, new Rows(yi, job.Plane, job.Cout, hExt, r), cols, width, 0f, scratch);
        }
        // y += [s·B | bias]·[h ; 1]
        if (job.K1 > 0) Gemm(job.Low, job.K1, new Rows(yi, job.Plane, job.Cout, null, 0), hExt + (long)(r - job.RR) * width, width, 1f, scratch);
        for (int j = 0; j < r; j++)
            new ReadOnlySpan<float>(hExt + (long)j * width, width).CopyTo(new Span<float>(job.HOut + ((long)i * r + j) * job.Plane + j0, width));
    }

    /// <summary>Where the stacked rows go: the first Count0 rows to C0 (row stride Ld0), the next Count1 to C1 (row
    /// stride width, the slice's own buffer).</summary>
    readonly struct Rows(float* c0, nint ld0, int count0, float* c1, int count1)
    {
        public readonly float* C0 = c0, C1 = c1;
        public readonly nint Ld0 = ld0;
        public readonly int Count0 = count0, Count1 = count1;
        public int Count => Count0 + Count1;
    }

    struct Scratch
    {
        public float* PackB, Tile;
    }

    /// <summary>Rows (m×width) = beta·Rows + A·B, A pre-packed in MR panels of inner dimension k, B (k×width)
    /// row-major; C1's rows have stride width.</summary>
    static void Gemm(float* aPanels, int k, in Rows rows, float* b, int width, float beta, in Scratch s)
    {
        int m = rows.Count;
        var opB = new GemmOperand(b, width, false);
        for (int jc = 0; jc < width; jc += NC)
        {
            int nc = Math.Min(NC, width - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                GemmPacking.PackB(opB, pc, kc, jc, nc, s.PackB, (nint)kc * NR);
                float bt = pc == 0 ? beta : 1f;
                for (int ic = 0; ic < m; ic += MC)
                {
                    int icEnd = Math.Min(m, ic + MC);
                    for (int jr = 0; jr < nc;)
                    {
                        float* bp = s.PackB + (nint)(jr / NR) * kc * NR;
                        if (GemmMacroKernel.Wide && nc - jr >= 2 * NR)
                        {
                            // Pairs of 6-row panels against this pair of B panels run the AVX-512 tile (the same
                            // bits: tools/gen_microkernel512.py); rows left over, and a pair straddling C0 and C1,
                            // take the 6×16 path panel by panel.
                            int ir = ic;
                            for (; ir + 2 * MR <= icEnd; ir += 2 * MR)
                            {
                                bool inC0 = ir + 2 * MR <= rows.Count0, inC1 = ir >= rows.Count0;
                                if (!inC0 && !inC1)
                                {
                                    Panels(ir, ir + 2 * MR, NR, jc + jr, bp, aPanels, k, pc, kc, m, rows, width, bt, s);
                                    Panels(ir, ir + 2 * MR, NR, jc + jr + NR, bp + (nint)kc * NR, aPanels, k, pc, kc, m, rows, width, bt, s);
                                    continue;
                                }
                                float* ap = aPanels + (nint)(ir / MR) * k * MR + (nint)pc * MR;
                                float* c = inC0 ? rows.C0 + ir * rows.Ld0 + jc + jr : rows.C1 + (nint)(ir - rows.Count0) * width + jc + jr;
                                MicroKernelAvx512.Kernel12x32(kc, ap, (nint)k * MR, bp, (nint)kc * NR, 0, null, 0, null, 0,
                                    c, inC0 ? rows.Ld0 : width, 1f, bt, null);
                            }
                            Panels(ir, icEnd, NR, jc + jr, bp, aPanels, k, pc, kc, m, rows, width, bt, s);
                            Panels(ir, icEnd, NR, jc + jr + NR, bp + (nint)kc * NR, aPanels, k, pc, kc, m, rows, width, bt, s);
                            jr += 2 * NR;
                        }
                        else
                        {
                            Panels(ic, icEnd, Math.Min(NR, nc - jr), jc + jr, bp, aPanels, k, pc, kc, m, rows, width, bt, s);
                            jr += NR;
                        }
                    }
                }
            }
        }
    }

    /// <summary>Rows ir..irEnd of one packed B panel (nr columns from col) through the 6×16 micro-kernel.</summary>
    static void Panels(int ir, int irEnd, int nr, int col, float* bp, float* aPanels, int k, int pc, int kc, int m, in Rows rows,
        int width, float bt, in Scratch s)
    {
        for (; ir < irEnd; ir += MR)
        {
            int mr = Math.Min(MR, m - ir);
            float* ap = aPanels + (nint)(ir / MR) * k * MR + (nint)pc * MR;
            bool inC0 = ir + mr <= rows.Count0, inC1 = ir >= rows.Count0;
            if (nr == NR && mr == MR && (inC0 || inC1))
            {
                float* c = inC0 ? rows.C0 + ir * rows.Ld0 + col : rows.C1 + (nint)(ir - rows.Count0) * width + col;
                MicroKernel.Run(kc, ap, bp, c, inC0 ? rows.Ld0 : width, 1f, bt, null);
            }
            else Edge(mr, nr, kc, ap, bp, rows, ir, col, width, bt, s.Tile);
        }
    }

    /// <summary>A partial tile (or one straddling C0 and C1) through the same micro-kernel on a copy: the same bits.</summary>
    static void Edge(int mr, int nr, int kc, float* ap, float* bp, in Rows rows, int ir, int col, int width, float beta, float* tile)
    {
        new Span<float>(tile, MR * NR).Clear();
        for (int t = 0; t < mr; t++)
            if (beta != 0f) new ReadOnlySpan<float>(RowAt(rows, ir + t, width) + col, nr).CopyTo(new Span<float>(tile + t * NR, nr));
        MicroKernel.Run(kc, ap, bp, tile, NR, 1f, beta, null);
        for (int t = 0; t < mr; t++)
            new ReadOnlySpan<float>(tile + t * NR, nr).CopyTo(new Span<float>(RowAt(rows, ir + t, width) + col, nr));
    }

    static float* RowAt(in Rows rows, int row, int width) =>
        row < rows.Count0 ? rows.C0 + row * rows.Ld0 : rows.C1 + (nint)(row - rows.Count0) * width;
}
