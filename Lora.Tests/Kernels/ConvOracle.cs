using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

/// <summary>One LoRA convolution problem: inputs, the kernel's outputs, and a double-precision direct convolution
/// (no im2col: every kernel tap is enumerated) with rounding bounds derived from the sums it approximates.</summary>
internal sealed class ConvCase
{
    public readonly int N, C, H, W, Cout, K, Stride, Pad, R, Oh, Ow, Plane, Ckk, Chw;
    public readonly float S;
    public readonly LoraDropout Drop;
    public readonly float[] X, Wt, A, B, Bias, Dy;

    public ConvCase(int n, int c, int h, int w, int cout, int k, int stride, int pad, int r, bool bias, float dropout, int seed, float scale = 0.75f)
    {
        (N, C, H, W, Cout, K, Stride, Pad, R, S) = (n, c, h, w, cout, k, stride, pad, r, scale);
        Oh = (h + 2 * pad - k) / stride + 1; Ow = (w + 2 * pad - k) / stride + 1;
        Plane = Oh * Ow; Ckk = c * k * k; Chw = c * h * w;
        Drop = dropout > 0 ? new LoraDropout(dropout, (ulong)seed * 7 + 1) : LoraDropout.None;
        X = Uniform(n * Chw, -1, 1, seed);
        Wt = Uniform(cout * Ckk, -1, 1, seed + 1);
        A = Uniform(r * Ckk, -1, 1, seed + 2);
        B = Uniform(cout * r, -1, 1, seed + 3);
        Bias = bias ? Uniform(cout, -1, 1, seed + 4) : [];
        Dy = Uniform(n * cout * Plane, -1, 1, seed + 5);
    }

    public override string ToString() => $"n={N} c={C} {H}×{W} cout={Cout} k={K} s={Stride} p={Pad} r={R} drop={Drop.P}";

    /// <summary>Every tap (image-independent): kernel column p, output position q, input element e.</summary>
    public IEnumerable<(int P, int Q, int E)> Taps()
    {
        for (int ch = 0; ch < C; ch++)
            for (int ki = 0; ki < K; ki++)
                for (int kj = 0; kj < K; kj++)
                    for (int oy = 0; oy < Oh; oy++)
                        for (int ox = 0; ox < Ow; ox++)
                        {
                            int iy = oy * Stride - Pad + ki, ix = ox * Stride - Pad + kj;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            yield return ((ch * K + ki) * K + kj, oy * Ow + ox, (ch * H + iy) * W + ix);
                        }
    }

    /// <summary>The forward in double: h, y and their rounding bounds, given the dropped input the kernel produced
    /// (checked separately to be x ⊙ mask exactly).</summary>
    public (double[] H, double[] HTol, double[] Y, double[] YTol) Forward(float[] xDrop)
    {
        var xd = Drop.IsActive ? xDrop : X;
        double[] h = new double[N * R * Plane], habs = new double[h.Length], y = new double[N * Cout * Plane], yabs = new double[y.Length];
        var taps = Taps().ToArray();
        for (int i = 0; i < N; i++)
            foreach (var (p, q, e) in taps)
            {
                for (int o = 0; o < Cout; o++)
                {
                    double v = (double)Wt[o * Ckk + p] * X[i * Chw + e];
                    y[(i * Cout + o) * Plane + q] += v; yabs[(i * Cout + o) * Plane + q] += Math.Abs(v);
                }
                for (int j = 0; j < R; j++)
                {
                    double v = (double)A[j * Ckk + p] * xd[i * Chw + e];
                    h[(i * R + j) * Plane + q] += v; habs[(i * R + j) * Plane + q] += Math.Abs(v);
                }
            }
        for (int i = 0; i < N; i++)
            for (int o = 0; o < Cout; o++)
                for (int q = 0; q < Plane; q++)
                {
                    int at = (i * Cout + o) * Plane + q;
                    double b = Bias.Length > 0 ? Bias[o] : 0;
                    y[at] += b; yabs[at] += Math.Abs(b);
                    for (int j = 0; j < R; j++)
                    {
                        y[at] += S * B[o * R + j] * h[(i * R + j) * Plane + q];
                        yabs[at] += Math.Abs(S * B[o * R + j]) * habs[(i * R + j) * Plane + q];
                    }
                }
        // h: ckk products and sums, each rounded once: ckk·u·Σ|terms|. y: the same for W·cols, then the low-rank
        // stretch (r more terms, whose h carry the error above, and the rounding of s·B) and the bias: (ckk + r + 4)·u.
        return (h, habs.Select(v => (Ckk + 2) * U * v).ToArray(), y, yabs.Select(v => (Ckk + R + 4) * U * v).ToArray());
    }

    /// <summary>The gradients in double, added to copies of the initial values, with rounding bounds; h is the
    /// kernel's (float) forward h, as the backward uses it.</summary>
    public Dictionary<string, (double[] Value, double[] Tol)> Backward(float[] xDrop, float[] h, Grads initial)
    {
        var xd = Drop.IsActive ? xDrop : X;
        var mask = new float[N * Chw];
        if (Drop.IsActive) DropoutKernels.MaskScalar(Drop.Seed, 0, Drop.P, mask); else Array.Fill(mask, 1f);
        double[] g = new double[N * R * Plane], gabs = new double[g.Length];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < R; j++)
                for (int q = 0; q < Plane; q++)
                    for (int o = 0; o < Cout; o++)
                    {
                        double v = (double)B[o * R + j] * Dy[(i * Cout + o) * Plane + q];
                        g[(i * R + j) * Plane + q] += v; gabs[(i * R + j) * Plane + q] += Math.Abs(v);
                    }
        var dx = Acc(initial.Dx); var dA = Acc(initial.DA); var dB = Acc(initial.DB); var db = Acc(initial.DBias); var dW = Acc(initial.DW);
        int terms = N * (Plane + 1);
        foreach (var (p, q, e) in Taps().ToArray())
            for (int i = 0; i < N; i++)
            {
                int xe = i * Chw + e;
                for (int o = 0; o < Cout; o++)
                {
                    double d = Dy[(i * Cout + o) * Plane + q];
                    dW.Add(o * Ckk + p, d * X[xe]);
                    dx.Add(xe, Wt[o * Ckk + p] * d);
                }
                for (int j = 0; j < R; j++)
                {
                    double gg = g[(i * R + j) * Plane + q], ga = gabs[(i * R + j) * Plane + q];
                    dA.Add(j * Ckk + p, S * gg * xd[xe], Math.Abs(S * xd[xe]) * ga);
                    dx.Add(xe, mask[xe] * S * A[j * Ckk + p] * gg, Math.Abs(mask[xe] * S * A[j * Ckk + p]) * ga);
                }
            }
        for (int i = 0; i < N; i++)
            for (int o = 0; o < Cout; o++)
                for (int q = 0; q < Plane; q++)
                {
                    double d = Dy[(i * Cout + o) * Plane + q];
                    if (db.Value.Length > 0) db.Add(o, d);
                    for (int j = 0; j < R; j++) dB.Add(o * R + j, S * d * h[(i * R + j) * Plane + q]);
                }
        // Each gradient is a sum of at most `terms` (or ckk·… for dx) rounded products, plus g's own cout-long sums
        // inside dA and dx, the scaling by s, and the accumulation into the initial value.
        return new()
        {
            ["dx"] = dx.Done((Cout + R + K * K + 6) * U),
            ["dA"] = dA.Done((terms + Cout + 6) * U),
            ["dB"] = dB.Done((terms + 6) * U),
            ["dBias"] = db.Done((terms + 4) * U),
            ["dW"] = dW.Done((terms + 4) * U),
        };
    }

    static Sum Acc(float[] initial) => new(initial);

    sealed class Sum(float[] initial)
    {
        public readonly double[] Value = initial.Select(v => (double)v).ToArray();
        readonly double[] _abs = initial.Select(v => Math.Abs((double)v)).ToArray();
        public void Add(int i, double v) => Add(i, v, Math.Abs(v));
        public void Add(int i, double v, double abs) { Value[i] += v; _abs[i] += abs; }
        public (double[], double[]) Done(double factor) => (Value, _abs.Select(a => factor * a).ToArray());
    }

    /// <summary>Gradient buffers with seeded initial values (the backward adds into them).</summary>
    public Grads Initial(int seed) => new(Uniform(X.Length, -1, 1, seed), Uniform(A.Length, -1, 1, seed + 1),
        Uniform(B.Length, -1, 1, seed + 2), Uniform(Bias.Length, -1, 1, seed + 3), Uniform(Wt.Length, -1, 1, seed + 4));

    public sealed record Grads(float[] Dx, float[] DA, float[] DB, float[] DBias, float[] DW)
    {
        public Grads Copy() => new((float[])Dx.Clone(), (float[])DA.Clone(), (float[])DB.Clone(), (float[])DBias.Clone(), (float[])DW.Clone());
        public float[] this[string name] => name switch { "dx" => Dx, "dA" => DA, "dB" => DB, "dBias" => DBias, _ => DW };
    }
}
