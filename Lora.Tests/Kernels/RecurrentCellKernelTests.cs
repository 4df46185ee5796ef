using Lora.Kernels;
using static Lora.Tests.Kernels.KernelTestData;

namespace Lora.Tests.Kernels;

/// <summary>
/// The fused GRU and Elman gate kernels against a double-precision oracle that carries a running error bound
/// (<see cref="Bounded"/>). Hidden widths 0..17 and a few larger run every vector-tail length, for the vector path
/// and the scalar twin.
/// </summary>
public class RecurrentCellKernelTests
{
    public static TheoryData<int, bool> Cases()
    {
        var d = new TheoryData<int, bool>();
        foreach (int h in Enumerable.Range(0, 18).Concat([31, 64]))
        {
            d.Add(h, true);
            d.Add(h, false);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GruForwardMatchesTheOracle(int h, bool vector)
    {
        const int n = 3;
        float[] gx = Uniform(3 * n * h, -3, 3, 1), gh = Uniform(3 * n * h, -3, 3, 2), hp = Uniform(n * h, -1, 1, 3);
        float[] gates = new float[3 * n * h], hOut = new float[n * h];
        if (vector) RecurrentCells.GruForward(n, h, gx, gh, hp, gates, hOut);
        else RecurrentCells.GruForwardScalar(n, h, gx, gh, hp, gates, hOut);
        double[] eg = new double[gates.Length], tg = new double[gates.Length], eh = new double[hOut.Length], th = new double[hOut.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < h; j++)
            {
                int g = 3 * i * h + j, k = i * h + j;
                var r = Bounded.Sigmoid(Bounded.Exact(gx[g]) + Bounded.Exact(gh[g]));
                var z = Bounded.Sigmoid(Bounded.Exact(gx[g + h]) + Bounded.Exact(gh[g + h]));
                var c = Bounded.Tanh(Bounded.Exact(gx[g + 2 * h]) + r * Bounded.Exact(gh[g + 2 * h]));
                var y = c + z * (Bounded.Exact(hp[k]) - c);
                (eg[g], tg[g]) = (r.V, r.E);
                (eg[g + h], tg[g + h]) = (z.V, z.E);
                (eg[g + 2 * h], tg[g + 2 * h]) = (c.V, c.E);
                (eh[k], th[k]) = (y.V, y.E);
            }
        Close(gates, eg, tg, $"gates (h = {h}, vector = {vector})");
        Close(hOut, eh, th, $"h (h = {h}, vector = {vector})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GruBackwardMatchesTheOracleAndAddsIntoTheGradients(int h, bool vector)
    {
        const int n = 3;
        float[] gh = Uniform(3 * n * h, -3, 3, 4), hp = Uniform(n * h, -1, 1, 5), dh = Uniform(n * h, -1, 1, 6);
        // Gates as the forward leaves them: r, z in (0, 1), ñ in (−1, 1).
        float[] gates = new float[3 * n * h];
        float[] u01 = Uniform(3 * n * h, 0.02, 0.98, 7), um = Uniform(3 * n * h, -0.98, 0.98, 8);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3 * h; j++) gates[3 * i * h + j] = j < 2 * h ? u01[3 * i * h + j] : um[3 * i * h + j];
        float[] dgx = Uniform(3 * n * h, -1, 1, 9), dgh = Uniform(3 * n * h, -1, 1, 10), dhp = Uniform(n * h, -1, 1, 11);
        float[] dgx0 = (float[])dgx.Clone(), dgh0 = (float[])dgh.Clone(), dhp0 = (float[])dhp.Clone();
        if (vector) RecurrentCells.GruBackward(n, h, gh, hp, gates, dh, dgx, dgh, dhp);
        else RecurrentCells.GruBackwardScalar(n, h, gh, hp, gates, dh, dgx, dgh, dhp);
        double[] ex = new double[dgx.Length], tx = new double[dgx.Length], eg = new double[dgh.Length], tg = new double[dgh.Length];
        double[] ep = new double[dhp.Length], tp = new double[dhp.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < h; j++)
            {
                int g = 3 * i * h + j, k = i * h + j;
                Bounded r = Bounded.Exact(gates[g]), z = Bounded.Exact(gates[g + h]), c = Bounded.Exact(gates[g + 2 * h]);
                Bounded d = Bounded.Exact(dh[k]), p = Bounded.Exact(hp[k]), ghn = Bounded.Exact(gh[g + 2 * h]);
                var an = d * Bounded.OneMinus(z) * Bounded.OneMinus(c * c);
                var ar = an * ghn * r * Bounded.OneMinus(r);
                var az = d * (p - c) * z * Bounded.OneMinus(z);
                Set(ex, tx, g, Bounded.Exact(dgx0[g]) + ar);
                Set(ex, tx, g + h, Bounded.Exact(dgx0[g + h]) + az);
                Set(ex, tx, g + 2 * h, Bounded.Exact(dgx0[g + 2 * h]) + an);
                Set(eg, tg, g, Bounded.Exact(dgh0[g]) + ar);
                Set(eg, tg, g + h, Bounded.Exact(dgh0[g + h]) + az);
                Set(eg, tg, g + 2 * h, Bounded.Exact(dgh0[g + 2 * h]) + an * r);
                Set(ep, tp, k, Bounded.Exact(dhp0[k]) + d * z);
            }
        Close(dgx, ex, tx, $"dgx (h = {h})");
        Close(dgh, eg, tg, $"dgh (h = {h})");
        Close(dhp, ep, tp, $"dhPrev (h = {h})");

        // Empty gradient spans are skipped; the others get exactly the same values.
        float[] dgx2 = (float[])dgx0.Clone();
        if (vector) RecurrentCells.GruBackward(n, h, gh, hp, gates, dh, dgx2, default, default);
        else RecurrentCells.GruBackwardScalar(n, h, gh, hp, gates, dh, dgx2, default, default);
        Assert.Equal(dgx, dgx2);
    }

    static void Set(double[] e, double[] t, int i, Bounded b) => (e[i], t[i]) = (b.V, b.E);

    [Theory]
    [MemberData(nameof(LengthData), MemberType = typeof(KernelTestData))]
    public void TanhOfSumMatchesTheOracle(int n)
    {
        float[] x = Uniform(n, -4, 4, 12), y = Uniform(n, -4, 4, 13);
        float[] v = new float[n], s = new float[n];
        Elementwise.Binary<TanhOfSumOperator>(x, y, v);
        Elementwise.BinaryScalar<TanhOfSumOperator>(x, y, s);
        double[] e = new double[n], t = new double[n];
        for (int i = 0; i < n; i++) Set(e, t, i, Bounded.Tanh(Bounded.Exact(x[i]) + Bounded.Exact(y[i])));
        Close(v, e, t, "tanh(x + y)");
        Close(s, e, t, "tanh(x + y).scalar");
    }

    [Fact]
    public void WrongSizesAreRejectedWithTheShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => RecurrentCells.GruForward(2, 4, new float[24], new float[23], new float[8], new float[24], new float[8]));
        Assert.Contains("gh", ex.Message);
        Assert.Contains("(2, 12)", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => RecurrentCells.GruBackward(2, 4, new float[24], new float[8], new float[24], new float[8], new float[24], new float[24], new float[7]));
        Assert.Contains("dhPrev", ex.Message);
        Assert.Throws<ArgumentException>(() => RecurrentCells.GruForward(-1, 4, [], [], [], [], []));
    }
}
