using Lora.Tests.Kernels;

namespace Lora.Tests.Core.Modules;

/// <summary>
/// A double-precision single-layer Elman RNN or GRU (PyTorch's equations, batch-first) with backpropagation
/// through time for L = Σ proj ⊙ output, carrying per-element error bounds (<see cref="Bounded"/>) for Lora's
/// float32 evaluation: the same operations in the same grouping as the module and its kernels, with every sum
/// that Lora computes as a GEMM or reduction bounded for any summation order.
/// </summary>
internal sealed class RecurrentReference
{
    public Bounded[] Output { get; }
    public Bounded[] DInput { get; }
    public Bounded[] DInitial { get; }
    public Bounded[] DWeightIh { get; }
    public Bounded[] DBiasIh { get; }
    public Bounded[] DWeightHh { get; }
    public Bounded[] DBiasHh { get; }

    public static Bounded[] Exact(float[] a) => a.Select(v => Bounded.Exact(v)).ToArray();

    /// <summary>Exact float32 weights, as a plain module holds them.</summary>
    public RecurrentReference(bool gru, int n, int steps, int inputSize, int hidden,
        float[] wih, float[] bih, float[] whh, float[] bhh, float[] x, float[] h0, float[] proj)
        : this(gru, n, steps, inputSize, hidden, Exact(wih), Exact(bih), Exact(whh), Exact(bhh), x, h0, proj) { }

    /// <summary>Weights given as values with error bounds: the float32 layer may use any weights within those bounds
    /// (e.g. a merged W + s·B·A, or a LoRA layer's unmerged evaluation seen as one).</summary>
    public RecurrentReference(bool gru, int n, int steps, int inputSize, int hidden,
        Bounded[] Wih, Bounded[] Bih, Bounded[] Whh, Bounded[] Bhh, float[] x, float[] h0, float[] proj)
    {
        int width = (gru ? 3 : 1) * hidden;
        Bounded[] X = Exact(x), H0 = Exact(h0);
        Bounded Row(Bounded[] w, int j, int k0, int len, Bounded[] v, int v0)
            => Bounded.Dot(w.AsSpan(j * len + k0, len), v.AsSpan(v0, len));

        // Forward: per step t and row i, gx = W_ih·x + b_ih, gh = W_hh·h + b_hh, then the cell.
        var states = new Bounded[steps + 1][];       // states[t + 1] = h_t (n, hidden); states[0] = h0
        var gh = new Bounded[steps][];                // (n, width)
        var gates = new Bounded[steps][];             // GRU: [r | z | ñ] (n, width)
        states[0] = H0;
        Output = new Bounded[n * steps * hidden];
        for (int t = 0; t < steps; t++)
        {
            states[t + 1] = new Bounded[n * hidden];
            gh[t] = new Bounded[n * width];
            gates[t] = new Bounded[n * width];
            for (int i = 0; i < n; i++)
            {
                var gxRow = new Bounded[width];
                for (int j = 0; j < width; j++)
                {
                    gxRow[j] = Row(Wih, j, 0, inputSize, X, (i * steps + t) * inputSize) + Bih[j];
                    gh[t][i * width + j] = Row(Whh, j, 0, hidden, states[t], i * hidden) + Bhh[j];
                }
                for (int k = 0; k < hidden; k++)
                {
                    Bounded h;
                    if (!gru) h = Bounded.Tanh(gxRow[k] + gh[t][i * width + k]);
                    else
                    {
                        int g = i * width + k;
                        var r = Bounded.Sigmoid(gxRow[k] + gh[t][g]);
                        var z = Bounded.Sigmoid(gxRow[hidden + k] + gh[t][g + hidden]);
                        var c = Bounded.Tanh(gxRow[2 * hidden + k] + r * gh[t][g + 2 * hidden]);
                        (gates[t][g], gates[t][g + hidden], gates[t][g + 2 * hidden]) = (r, z, c);
                        h = c + z * (states[t][i * hidden + k] - c);
                    }
                    states[t + 1][i * hidden + k] = h;
                    Output[(i * steps + t) * hidden + k] = h;
                }
            }
        }

        // Backward through time. dh_t collects proj, the next step's direct path (GRU: dh_{t+1} ⊙ z) and the next
        // step's dgh·W_hh (a GEMM accumulating onto it), in any order: one dot product over all of them.
        var dgx = new Bounded[steps][];
        var dgh = new Bounded[steps][];
        var one = Bounded.Exact(1);
        Bounded[]? dhNext = null;
        for (int t = steps; t >= 0; t--)
        {
            var dh = new Bounded[n * hidden];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < hidden; k++)
                {
                    var a = new List<Bounded>();
                    var b = new List<Bounded>();
                    if (t > 0) { a.Add(Bounded.Exact(proj[(i * steps + t - 1) * hidden + k])); b.Add(one); }
                    if (t < steps)
                    {
                        if (gru) { a.Add(dhNext![i * hidden + k]); b.Add(gates[t][i * width + hidden + k]); }
                        for (int j = 0; j < width; j++) { a.Add(dgh[t][i * width + j]); b.Add(Whh[j * hidden + k]); }
                    }
                    dh[i * hidden + k] = Bounded.Dot(a.ToArray(), b.ToArray());
                }
            if (t == 0) { DInitial = dh; break; }
            int s = t - 1; // the step whose output is h_t
            dgx[s] = new Bounded[n * width];
            dgh[s] = new Bounded[n * width];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < hidden; k++)
                {
                    var d = dh[i * hidden + k];
                    if (!gru)
                    {
                        var h = states[t][i * hidden + k];
                        dgx[s][i * width + k] = dgh[s][i * width + k] = d * Bounded.OneMinus(h * h);
                        continue;
                    }
                    int g = i * width + k;
                    Bounded r = gates[s][g], z = gates[s][g + hidden], c = gates[s][g + 2 * hidden], hp = states[s][i * hidden + k];
                    var an = d * Bounded.OneMinus(z) * Bounded.OneMinus(c * c);
                    var ar = an * gh[s][g + 2 * hidden] * r * Bounded.OneMinus(r);
                    var az = d * (hp - c) * z * Bounded.OneMinus(z);
                    (dgx[s][g], dgx[s][g + hidden], dgx[s][g + 2 * hidden]) = (ar, az, an);
                    (dgh[s][g], dgh[s][g + hidden], dgh[s][g + 2 * hidden]) = (ar, az, an * r);
                }
            dhNext = dh;
        }

        // Parameter and input gradients: sums over all N·T rows (GEMMs and column sums), any order.
        DWeightIh = new Bounded[width * inputSize];
        DWeightHh = new Bounded[width * hidden];
        DBiasIh = new Bounded[width];
        DBiasHh = new Bounded[width];
        for (int j = 0; j < width; j++)
        {
            var gxs = new Bounded[n * steps];
            var ghs = new Bounded[n * steps];
            for (int t = 0; t < steps; t++)
                for (int i = 0; i < n; i++) { gxs[t * n + i] = dgx[t][i * width + j]; ghs[t * n + i] = dgh[t][i * width + j]; }
            DBiasIh[j] = Bounded.Sum(gxs);
            DBiasHh[j] = Bounded.Sum(ghs);
            var col = new Bounded[n * steps];
            for (int k = 0; k < inputSize; k++)
            {
                for (int t = 0; t < steps; t++)
                    for (int i = 0; i < n; i++) col[t * n + i] = X[(i * steps + t) * inputSize + k];
                DWeightIh[j * inputSize + k] = Bounded.Dot(gxs, col);
            }
            for (int k = 0; k < hidden; k++)
            {
                for (int t = 0; t < steps; t++)
                    for (int i = 0; i < n; i++) col[t * n + i] = states[t][i * hidden + k];
                DWeightHh[j * hidden + k] = Bounded.Dot(ghs, col);
            }
        }
        DInput = new Bounded[n * steps * inputSize];
        var wcol = new Bounded[width];
        for (int k = 0; k < inputSize; k++)
        {
            for (int j = 0; j < width; j++) wcol[j] = Wih[j * inputSize + k];
            for (int t = 0; t < steps; t++)
                for (int i = 0; i < n; i++) DInput[(i * steps + t) * inputSize + k] = Bounded.Dot(dgx[t].AsSpan(i * width, width), wcol);
        }
        DInitial ??= [];
    }
}
