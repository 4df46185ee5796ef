namespace Lora.Autograd;

/// <summary>Settings for <see cref="GradCheck.Run(Func{Tensor}, IReadOnlyList{Tensor}, GradCheckOptions?)"/>.</summary>
public sealed class GradCheckOptions
{
    /// <summary>Perturbation relative to max(1, |x|); default 2⁻⁵.</summary>
    public double Step { get; init; } = 1.0 / 32;

    /// <summary>Relative tolerance for what the rounding-noise bound does not cover (the stencil's O(h⁴) truncation); default 1e-3.</summary>
    public double RelativeTolerance { get; init; } = 1e-3;

    /// <summary>κ: each output element is assumed accurate to κ·u·|y| (u = 2⁻²⁴); default 64, for graphs a few ops deep.</summary>
    public double RoundingFactor { get; init; } = 64;

    /// <summary>At most this many elements per input are perturbed (evenly spaced); default all.</summary>
    public int MaxElementsPerInput { get; init; } = int.MaxValue;

    /// <summary>Seed of the random output projection.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>The outcome of a gradient check: whether every element passed, and the worst one.</summary>
/// <param name="Passed">Every checked element is within tolerance.</param>
/// <param name="WorstRatio">max |numeric − analytic| / tolerance over the checked elements (≤ 1 passes).</param>
/// <param name="Worst">A description of the worst element.</param>
/// <param name="Checked">The number of elements compared.</param>
public sealed record GradCheckResult(bool Passed, double WorstRatio, string Worst, int Checked)
{
    /// <summary>A one-line summary.</summary>
    public override string ToString() => $"{(Passed ? "passed" : "FAILED")}: {Checked} elements, worst ratio {WorstRatio:F3}: {Worst}";
}

/// <summary>
/// Compares the gradients that backward computes with central finite differences, evaluated in double precision
/// around float32 forward passes.
/// </summary>
/// <remarks>
/// <para>The objective is a fixed random projection of the output, L = Σᵢ wᵢ·yᵢ (wᵢ ∈ ±[0.5, 1.5]), summed in
/// double. Its analytic gradient comes from one backward pass seeded with w. For each input element x the
/// objective is re-evaluated (under <see cref="Tape.NoGrad"/>) at the five float values nearest x + j·h,
/// j = −2…2, h = Step·max(1, |x|); the derivative at x is that of the degree-4 polynomial through the five points,
/// using the <em>actual</em> float offsets (so representation error in x + j·h costs nothing). Its truncation
/// error is O(h⁴), which <see cref="GradCheckOptions.RelativeTolerance"/> covers.</para>
/// <para>Why this is meaningful in float32: forward passes are deterministic, so output elements that the
/// perturbation does not change come out bit-identical and add no noise. Only the changed outputs carry rounding
/// noise, bounded by κ·u·|yᵢ| each; the noise of the derivative is then at most
/// Σⱼ|ℓⱼ′(0)|·κ·u·Σ_changed |wᵢ|·max|yᵢ| (ℓⱼ the Lagrange basis), a bound computed per element, plus the
/// double-precision rounding of the objective itself, Σⱼ|ℓⱼ′(0)|·16·2⁻⁵³·Σᵢ|wᵢyᵢ|. An element passes
/// when |numeric − analytic| ≤ that bound + RelativeTolerance·max(|numeric|, |analytic|). A missing term, a wrong
/// factor or a wrong index in a backward shows up far above this; the tests also check that a deliberately
/// wrong backward fails.</para>
/// <para>Inputs must be leaves you own (their data is perturbed and restored). Their existing gradients are
/// saved and restored. The thread's tape is reset before and after.</para>
/// </remarks>
public static class GradCheck
{
    const double U = 1.0 / (1 << 24);
    const double DoubleU = 1.1102230246251565e-16; // 2⁻⁵³

    /// <summary>Checks d(forward())/d(input) for every input that requires a gradient.</summary>
    public static GradCheckResult Run(Func<Tensor> forward, params Tensor[] inputs) => Run(forward, inputs, null);

    /// <summary>Checks d(forward())/d(input) for every input that requires a gradient.</summary>
    public static GradCheckResult Run(Func<Tensor> forward, IReadOnlyList<Tensor> inputs, GradCheckOptions? options)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new GradCheckOptions();
        Validate(options, inputs);
        var tape = Tape.Current;
        tape.Reset();
        float[] y0 = Evaluate(forward, tape);
        var rng = new Random(options.Seed);
        var w = new double[y0.Length];
        for (int i = 0; i < w.Length; i++) w[i] = (0.5 + rng.NextDouble()) * (rng.Next(2) == 0 ? -1 : 1);
        double f0 = Objective(y0, w);
        double fAbs = 0; // scale of the double-precision rounding in the objective and the stencil
        for (int i = 0; i < y0.Length; i++) fAbs += Math.Abs(w[i] * y0[i]);

        // Analytic gradients, leaving the callers' accumulated gradients as they were.
        var saved = inputs.Select(t => t.HasGrad ? t.Grad.ToArray() : null).ToArray();
        foreach (var t in inputs) t.ZeroGrad();
        Tensor output;
        bool callerNoGrad = !Tape.IsGradEnabled;
        Tape.SetNoGrad(false); // the gradients are what is checked: record even inside the caller's Tape.NoGrad() scope
        try { output = forward(); }
        finally { Tape.SetNoGrad(callerNoGrad); }
        if (!output.RequiresGrad) throw new InvalidOperationException("GradCheck: the output does not require a gradient; no input requires one.");
        output.Backward(w.Select(v => (float)v).ToArray());
        var analytic = inputs.Select(t => t.RequiresGrad ? t.Grad.ToArray() : null).ToArray();
        tape.Reset();
        for (int k = 0; k < inputs.Count; k++)
            if (saved[k] != null) saved[k].CopyTo(inputs[k].Grad); else inputs[k].ZeroGrad();

        double worst = 0;
        string worstText = "no element checked";
        int count = 0;
        bool passed = true;
        Span<double> t5 = stackalloc double[5], f5 = stackalloc double[5], l5 = stackalloc double[5];
        for (int k = 0; k < inputs.Count; k++)
        {
            if (analytic[k] == null) continue;
            var input = inputs[k];
            int n = input.Length, stride = Math.Max(1, (int)Math.Ceiling(n / (double)options.MaxElementsPerInput));
            for (int e = 0; e < n; e += stride)
            {
                float orig = input.Data[e];
                double h = options.Step * Math.Max(1.0, Math.Abs(orig));
                var changed = new double[y0.Length]; // max |yᵢ| over evaluations where yᵢ changed, else 0
                for (int j = -2; j <= 2; j++)
                {
                    if (j == 0) { t5[2] = 0; f5[2] = f0; continue; }
                    float xj = (float)(orig + j * h);
                    input.Data[e] = xj;
                    float[] yj = Evaluate(forward, tape);
                    input.Data[e] = orig;
                    t5[j + 2] = (double)xj - orig;
                    f5[j + 2] = Objective(yj, w);
                    for (int i = 0; i < yj.Length; i++)
                        if (yj[i].Equals(y0[i]) == false)
                            changed[i] = Math.Max(changed[i], Math.Max(Math.Abs((double)yj[i]), Math.Abs((double)y0[i])));
                }
                for (int j = 0; j < 4; j++)
                    if (!(t5[j] < t5[j + 1])) // coinciding nodes: the stencil would divide by zero and report NaN as a failure
                        throw new ArgumentException($"GradCheck: Step {options.Step} is below float resolution at {input.Describe()}[{e}] = {orig:R}: " +
                            "two perturbed values round to the same float; use a larger step.", nameof(options));
                LagrangeDerivativeWeights(t5, l5);
                double numeric = 0, lsum = 0, s = 0;
                for (int j = 0; j < 5; j++) { numeric += l5[j] * f5[j]; lsum += Math.Abs(l5[j]); }
                for (int i = 0; i < w.Length; i++) s += Math.Abs(w[i]) * changed[i];
                double a = analytic[k]![e];
                double tol = lsum * (options.RoundingFactor * U * s + 16 * DoubleU * fAbs)
                    + options.RelativeTolerance * Math.Max(Math.Abs(numeric), Math.Abs(a)) + 1e-300;
                double ratio = Math.Abs(numeric - a) / tol;
                count++;
                if (!(ratio <= 1)) passed = false;
                if (!(ratio <= worst))
                {
                    worst = double.IsNaN(ratio) ? double.PositiveInfinity : ratio;
                    worstText = $"{input.Describe()}[{e}]: analytic {a:G6}, numeric {numeric:G6}, tolerance {tol:E2}";
                }
            }
        }
        return new GradCheckResult(passed, worst, worstText, count);
    }

    /// <summary>Settings that would make every verdict meaningless (a zero step divides by zero; a NaN tolerance
    /// fails everything; no element per input checks nothing) are rejected instead of reported as a failed check.</summary>
    static void Validate(GradCheckOptions o, IReadOnlyList<Tensor> inputs)
    {
        if (!(o.Step > 0 && double.IsFinite(o.Step)))
            throw new ArgumentException($"GradCheck: Step must be positive and finite, got {o.Step}.", nameof(o.Step));
        if (!(o.RelativeTolerance >= 0 && double.IsFinite(o.RelativeTolerance)))
            throw new ArgumentException($"GradCheck: RelativeTolerance must be non-negative and finite, got {o.RelativeTolerance}.", nameof(o.RelativeTolerance));
        if (!(o.RoundingFactor >= 0 && double.IsFinite(o.RoundingFactor)))
            throw new ArgumentException($"GradCheck: RoundingFactor must be non-negative and finite, got {o.RoundingFactor}.", nameof(o.RoundingFactor));
        if (o.MaxElementsPerInput < 1)
            throw new ArgumentException($"GradCheck: MaxElementsPerInput must be at least 1, got {o.MaxElementsPerInput}.", nameof(o.MaxElementsPerInput));
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i] is null) throw new ArgumentException($"GradCheck: input {i} is null.", nameof(inputs));
    }

    static float[] Evaluate(Func<Tensor> forward, Tape tape)
    {
        float[] y;
        using (Tape.NoGrad()) y = forward().ToArray();
        tape.Reset();
        return y;
    }

    static double Objective(float[] y, double[] w)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += w[i] * y[i];
        return s;
    }

    /// <summary>ℓⱼ′(0) for the Lagrange basis on nodes t (one of which is 0): the derivative weights at 0.</summary>
    internal static void LagrangeDerivativeWeights(ReadOnlySpan<double> t, Span<double> weights)
    {
        int n = t.Length;
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < n; p++)
            {
                if (p == j) continue;
                double term = 1 / (t[j] - t[p]);
                for (int m = 0; m < n; m++)
                    if (m != j && m != p) term *= (0 - t[m]) / (t[j] - t[m]);
                sum += term;
            }
            weights[j] = sum;
        }
    }
}
