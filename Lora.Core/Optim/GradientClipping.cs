namespace Lora.Core.Optim;

/// <summary>Gradient-norm clipping over several gradient buffers treated as one vector (PyTorch's clip_grad_norm_).</summary>
/// <remarks>
/// The total norm is ‖g‖ = √(Σ_buffers Σ_i g_i²), accumulated in double in a fixed order (so the result does not
/// depend on threading). When ‖g‖ &gt; maxNorm every gradient is multiplied by maxNorm/(‖g‖ + 1e-6), PyTorch's
/// coefficient; otherwise nothing changes. A non-finite norm is returned and nothing is scaled, so the caller sees it.
/// </remarks>
public static class GradientClipping
{
    /// <summary>The Euclidean norm of all <paramref name="gradients"/> together.</summary>
    public static double TotalNorm(IReadOnlyList<float[]> gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        double sum = 0;
        for (int b = 0; b < gradients.Count; b++) sum += SumOfSquares(gradients[b]);
        return Math.Sqrt(sum);
    }

    /// <summary>Σ g_i² in double.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> g)
    {
        double s = 0;
        for (int i = 0; i < g.Length; i++) s += (double)g[i] * g[i];
        return s;
    }

    /// <summary>The factor applied for a total norm: min(1, maxNorm/(norm + 1e-6)); 1 for a non-finite norm.</summary>
    /// <exception cref="ArgumentException"><paramref name="maxNorm"/> not finite and positive.</exception>
    public static double Coefficient(double norm, double maxNorm)
    {
        if (!(double.IsFinite(maxNorm) && maxNorm > 0))
            throw new ArgumentException($"Gradient clipping: maxNorm {maxNorm} must be finite and positive.", nameof(maxNorm));
        if (!double.IsFinite(norm)) return 1;
        return Math.Min(1.0, maxNorm / (norm + 1e-6));
    }

    /// <summary>Clips in place and returns the norm before clipping.</summary>
    public static double Clip(IReadOnlyList<float[]> gradients, double maxNorm)
    {
        double norm = TotalNorm(gradients);
        double coef = Coefficient(norm, maxNorm);
        if (coef < 1)
        {
            float f = (float)coef;
            for (int b = 0; b < gradients.Count; b++)
            {
                var g = gradients[b];
                for (int i = 0; i < g.Length; i++) g[i] *= f;
            }
        }
        return norm;
    }
}
