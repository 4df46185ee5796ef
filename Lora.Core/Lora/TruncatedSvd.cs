using Lora.Core.Modules;
using Lora.Kernels;

namespace Lora.Core.Lora;

/// <summary>The top singular triplets of a matrix: W ≈ U·diag(S)·Vt.</summary>
/// <param name="U">Left singular vectors, (rows, rank) row-major; columns orthonormal.</param>
/// <param name="S">Singular values, descending, length rank.</param>
/// <param name="Vt">Right singular vectors as rows, (rank, cols) row-major; rows orthonormal.</param>
public sealed record SvdResult(float[] U, float[] S, float[] Vt)
{
    /// <summary>The number of triplets.</summary>
    public int Rank => S.Length;
}

/// <summary>A truncated SVD by randomised subspace iteration, inside the library (used for PiSSA initialisation).</summary>
/// <remarks>
/// <para>For W (m, n) and rank r: l = min(r + oversample, m, n) Gaussian probe vectors Ω (n, l) give Y = W·Ω; then
/// q rounds of Z = orth(Wᵀ·Q), Q = orth(W·Z), re-orthonormalising after every product so the columns do not
/// collapse onto the top singular vector. The large products run on <see cref="Gemm.Sgemm"/>; the small l-column
/// work is in double: modified Gram–Schmidt applied twice, and a one-sided Jacobi SVD of Bᵀ = Wᵀ·Q (n, l).
/// With Bᵀ = U′·Σ·Vᵀ, W ≈ Q·V·Σ·U′ᵀ, so U = Q·V and the right singular vectors are U′.</para>
/// <para>The error of σ_j decays like (σ_{l+1}/σ_j)^(2q+1) (Halko, Martinsson, Tropp 2011) down to float round-off,
/// about √n·2⁻²⁴·σ₁. Deterministic: the same seed and inputs give the same bits, whatever the GEMM thread count,
/// because every reduction here runs in a fixed order.</para>
/// </remarks>
public static class TruncatedSvd
{
    /// <summary>Computes the top <paramref name="rank"/> singular triplets of <paramref name="w"/> (rows, cols).</summary>
    /// <exception cref="ArgumentException">Non-positive sizes, a rank outside [1, min(rows, cols)], a span of the
    /// wrong length, a NaN or ∞ element, iterations &lt; 0 or oversample &lt; 0.</exception>
    public static SvdResult Compute(ReadOnlySpan<float> w, int rows, int cols, int rank, ulong seed,
        int iterations = 16, int oversample = 8)
    {
        if (rows < 1 || cols < 1) throw new ArgumentException($"TruncatedSvd: shape ({rows}, {cols}) must be positive.");
        if ((long)rows * cols != w.Length) throw new ArgumentException($"TruncatedSvd: w has {w.Length} elements, expected ({rows}, {cols}).", nameof(w));
        if (rank < 1 || rank > Math.Min(rows, cols))
            throw new ArgumentException($"TruncatedSvd: rank {rank} is outside [1, {Math.Min(rows, cols)}] for a ({rows}, {cols}) matrix.", nameof(rank));
        if (iterations < 0) throw new ArgumentException($"TruncatedSvd: iterations {iterations} must be ≥ 0.", nameof(iterations));
        if (oversample < 0) throw new ArgumentException($"TruncatedSvd: oversample {oversample} must be ≥ 0.", nameof(oversample));
        for (int i = 0; i < w.Length; i++)
            if (!float.IsFinite(w[i]))
                throw new ArgumentException($"TruncatedSvd: w[{i / cols}, {i % cols}] = {w[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}; the SVD of a matrix with NaN or ∞ is undefined.", nameof(w));

        int m = rows, n = cols, l = Math.Min(rank + oversample, Math.Min(m, n));
        var rng = new SeededRandom(seed);
        var omega = new float[n * l];
        rng.FillGaussian(omega, 1.0);
        var q = new float[m * l];
        var z = new float[n * l];
        Gemm.Sgemm(Transpose.No, Transpose.No, m, l, n, 1f, w, n, omega, l, 0f, q, l);   // Y = W·Ω (m, l)
        Orthonormalize(q, m, l, rng);
        for (int it = 0; it < iterations; it++)
        {
            Gemm.Sgemm(Transpose.Yes, Transpose.No, n, l, m, 1f, w, n, q, l, 0f, z, l); // Z = Wᵀ·Q (n, l)
            Orthonormalize(z, n, l, rng);
            Gemm.Sgemm(Transpose.No, Transpose.No, m, l, n, 1f, w, n, z, l, 0f, q, l);   // Y = W·Z (m, l)
            Orthonormalize(q, m, l, rng);
        }
        Gemm.Sgemm(Transpose.Yes, Transpose.No, n, l, m, 1f, w, n, q, l, 0f, z, l);     // Bᵀ = Wᵀ·Q (n, l)

        // One-sided Jacobi on the columns of Bᵀ, in double, column-major.
        var bt = ToColumns(z, n, l);
        var v = new double[l][];
        for (int j = 0; j < l; j++) { v[j] = new double[l]; v[j][j] = 1; }
        OneSidedJacobi(bt, v);

        var sigma = new double[l];
        for (int j = 0; j < l; j++) sigma[j] = Math.Sqrt(Dot(bt[j], bt[j]));
        var order = Enumerable.Range(0, l).OrderByDescending(j => sigma[j]).ThenBy(j => j).Take(rank).ToArray();

        var u = new float[m * rank];
        var s = new float[rank];
        var vt = new float[rank * n];
        for (int c = 0; c < rank; c++)
        {
            int j = order[c];
            s[c] = (float)sigma[j];
            // U[:, c] = Q·V[:, j]
            for (int i = 0; i < m; i++)
            {
                double acc = 0;
                for (int p = 0; p < l; p++) acc += q[i * l + p] * v[j][p];
                u[i * rank + c] = (float)acc;
            }
            // Vt[c, :] = Bᵀ[:, j] / σ_j (left zero for an exactly zero singular value)
            if (sigma[j] > 0)
                for (int i = 0; i < n; i++) vt[c * n + i] = (float)(bt[j][i] / sigma[j]);
        }
        return new SvdResult(u, s, vt);
    }

    /// <summary>Makes the l columns of <paramref name="a"/> (rows, l, row-major) orthonormal: Gram–Schmidt twice.</summary>
    /// <remarks>A column that vanishes (rank deficiency) is replaced by a fresh random direction, so Q stays orthonormal.</remarks>
    static void Orthonormalize(float[] a, int rows, int l, SeededRandom rng)
    {
        var cols = ToColumns(a, rows, l);
        for (int j = 0; j < l; j++)
        {
            double before = Math.Sqrt(Dot(cols[j], cols[j]));
            for (int attempt = 0; ; attempt++)
            {
                for (int pass = 0; pass < 2; pass++)
                    for (int p = 0; p < j; p++)
                    {
                        double proj = Dot(cols[p], cols[j]);
                        for (int i = 0; i < rows; i++) cols[j][i] -= proj * cols[p][i];
                    }
                double norm = Math.Sqrt(Dot(cols[j], cols[j]));
                if (norm > 1e-6 * before && norm > 1e-300)
                {
                    for (int i = 0; i < rows; i++) cols[j][i] /= norm;
                    break;
                }
                if (attempt > 8) throw new InvalidOperationException("TruncatedSvd: could not complete an orthonormal basis.");
                for (int i = 0; i < rows; i++) cols[j][i] = rng.NextGaussian();
                before = Math.Sqrt(Dot(cols[j], cols[j]));
            }
        }
        for (int j = 0; j < l; j++)
            for (int i = 0; i < rows; i++) a[i * l + j] = (float)cols[j][i];
    }

    /// <summary>Rotates pairs of columns of <paramref name="a"/> until all are mutually orthogonal, accumulating
    /// the rotations in <paramref name="v"/> (columns), so that a_in·V = a_out.</summary>
    static void OneSidedJacobi(double[][] a, double[][] v)
    {
        int l = a.Length;
        for (int sweep = 0; sweep < 60; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < l - 1; p++)
                for (int q = p + 1; q < l; q++)
                {
                    double alpha = Dot(a[p], a[p]), beta = Dot(a[q], a[q]), gamma = Dot(a[p], a[q]);
                    if (gamma == 0 || Math.Abs(gamma) <= 1e-15 * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.Sign(zeta == 0 ? 1 : zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    Rotate(a[p], a[q], c, s);
                    Rotate(v[p], v[q], c, s);
                }
            if (!rotated) return;
        }
    }

    static void Rotate(double[] x, double[] y, double c, double s)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i], yi = y[i];
            x[i] = c * xi - s * yi;
            y[i] = s * xi + c * yi;
        }
    }

    static double[][] ToColumns(float[] a, int rows, int l)
    {
        var cols = new double[l][];
        for (int j = 0; j < l; j++)
        {
            cols[j] = new double[rows];
            for (int i = 0; i < rows; i++) cols[j][i] = a[i * l + j];
        }
        return cols;
    }

    static double Dot(double[] x, double[] y)
    {
        double acc = 0;
        for (int i = 0; i < x.Length; i++) acc += x[i] * y[i];
        return acc;
    }
}
