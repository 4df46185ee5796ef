using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

public class LayerNormKernelTests
{
    public static TheoryData<int> Lengths
    {
        get
        {
            var d = new TheoryData<int>();
            foreach (int n in KernelTestData.Lengths.Where(n => n > 0 && n <= 100)) d.Add(n); // d = 0 is rejected
            return d;
        }
    }

    /// <summary>
    /// Error model: μ and σ² come from d-term sums, each off by about d·U relative to the scale of |x|; they move
    /// x̂ by ρ·(|δμ| + |x − μ|·|δσ²|/(2σ²)) ≈ d·U·(ρ·mean|x| + |x̂|); γ and β add two more roundings. Tolerance:
    /// 4·(d + 4)·U·(ρ·mean|x| + |x̂| + 1)·(|γ| + 1) + U·|β|.
    /// </summary>
    [Theory, MemberData(nameof(Lengths))]
    public void ForwardAndBackwardMatchDouble(int d)
    {
        const int rows = 3;
        const float eps = 1e-5f;
        float[] x = Uniform(rows * d, -2, 3, d), gamma = Uniform(d, 0.5, 1.5, d + 1), beta = Uniform(d, -1, 1, d + 2);
        float[] dy = Uniform(rows * d, -1, 1, d + 3);
        foreach (bool scalar in new[] { false, true })
        {
            var y = new float[rows * d];
            float[] mean = new float[rows], rstd = new float[rows];
            if (scalar) LayerNormKernels.ForwardScalar(rows, d, eps, x, gamma, beta, y, mean, rstd);
            else LayerNormKernels.Forward(rows, d, eps, x, gamma, beta, y, mean, rstd);
            double[] ye = new double[rows * d], yt = new double[rows * d];
            double[] dxe = new double[rows * d], dxt = new double[rows * d], dge = new double[d], dbe = new double[d];
            double[] dgt = new double[d], dbt = new double[d];
            for (int i = 0; i < rows; i++)
            {
                var xr = Enumerable.Range(0, d).Select(j => (double)x[i * d + j]).ToArray();
                double mu = xr.Average(), v = xr.Select(a => (a - mu) * (a - mu)).Average(), rho = 1 / Math.Sqrt(v + eps);
                double meanAbs = xr.Average(Math.Abs);
                Close(mean[i], mu, 2 * d * U * meanAbs, "mean");
                var xh = xr.Select(a => (a - mu) * rho).ToArray();
                double[] g = Enumerable.Range(0, d).Select(j => (double)dy[i * d + j] * gamma[j]).ToArray();
                double mg = g.Average(), mgx = g.Select((a, j) => a * xh[j]).Average();
                double mgAbs = g.Average(Math.Abs), mgxAbs = g.Select((a, j) => Math.Abs(a * xh[j])).Average();
                for (int j = 0; j < d; j++)
                {
                    int k = i * d + j;
                    ye[k] = xh[j] * gamma[j] + beta[j];
                    yt[k] = 4 * (d + 4) * U * (rho * meanAbs + Math.Abs(xh[j]) + 1) * (Math.Abs(gamma[j]) + 1) + U * Math.Abs(beta[j]);
                    dxe[k] = 0.5 + rho * (g[j] - mg - xh[j] * mgx);
                    dxt[k] = U + 4 * (d + 4) * U * rho * (Math.Abs(g[j]) + mgAbs + Math.Abs(xh[j]) * mgxAbs + (rho * meanAbs + Math.Abs(xh[j])) * (mgxAbs + Math.Abs(g[j])));
                    dge[j] += dy[k] * xh[j];
                    dgt[j] += 4 * (d + 4) * U * Math.Abs(dy[k]) * (rho * meanAbs + Math.Abs(xh[j]) + 1);
                    dbe[j] += dy[k];
                    dbt[j] += U * (Math.Abs(dy[k]) * rows);
                }
            }
            Close(y, ye, yt, scalar ? "ln.scalar" : "ln");
            var dx = Enumerable.Repeat(0.5f, rows * d).ToArray();
            float[] dgamma = new float[d], dbeta = new float[d];
            if (scalar) LayerNormKernels.BackwardScalar(rows, d, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
            else LayerNormKernels.Backward(rows, d, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
            Close(dx, dxe, dxt, "ln.dx");
            Close(dgamma, dge, dgt, "ln.dgamma");
            Close(dbeta, dbe, dbt, "ln.dbeta");
        }
    }

    [Fact]
    public void ShapeMismatchesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => LayerNormKernels.Forward(2, 3, 1e-5f, new float[6], new float[2], default, new float[6], new float[2], new float[2]));
        Assert.Throws<ArgumentException>(() => LayerNormKernels.Forward(2, 3, 1e-5f, new float[5], default, default, new float[6], new float[2], new float[2]));
    }
}
