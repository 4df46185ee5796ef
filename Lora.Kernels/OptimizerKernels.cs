using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>In-place parameter updates for SGD and AdamW, following PyTorch's formulas.</summary>
public static class OptimizerKernels
{
    /// <summary>One AdamW step (decoupled weight decay, bias-corrected moments) at step t ≥ 1.</summary>
    /// <remarks>
    /// m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; p ← p·(1 − lr·λ) − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps).
    /// </remarks>
    public static void AdamW(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, long step)
        => AdamW(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="AdamW(Span{float}, ReadOnlySpan{float}, Span{float}, Span{float}, float, float, float, float, float, long)"/>.</summary>
    public static void AdamWScalar(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, long step)
        => AdamW(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step, false);

    /// <summary>One SGD step with optional weight decay, momentum (with dampening) and Nesterov momentum.</summary>
    /// <remarks>
    /// g ← g + λp; with momentum μ: b ← g on the first step, else b ← μb + (1 − dampening)g; g ← g + μb (Nesterov)
    /// or g ← b; then p ← p − lr·g. <paramref name="momentumBuffer"/> may be empty when μ = 0.
    /// </remarks>
    public static void Sgd(Span<float> param, ReadOnlySpan<float> grad, Span<float> momentumBuffer,
        float lr, float momentum, float dampening, float weightDecay, bool nesterov, bool firstStep)
    {
        Elementwise.CheckPair("param", param, "grad", grad);
        if (momentum != 0f) Elementwise.CheckPair("param", param, "momentumBuffer", momentumBuffer);
        for (int i = 0; i < param.Length; i++)
        {
            float g = grad[i] + weightDecay * param[i];
            if (momentum != 0f)
            {
                float b = firstStep ? g : momentum * momentumBuffer[i] + (1f - dampening) * g;
                momentumBuffer[i] = b;
                g = nesterov ? g + momentum * b : b;
            }
            param[i] -= lr * g;
        }
    }

    static void AdamW(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, long step, bool vector)
    {
        Elementwise.CheckPair("param", param, "grad", grad);
        Elementwise.CheckPair("param", param, "m", m);
        Elementwise.CheckPair("param", param, "v", v);
        if (step < 1) throw new ArgumentException($"AdamW step must be ≥ 1, got {step}.", nameof(step));
        float decay = 1f - lr * weightDecay;
        float stepSize = (float)(lr / (1 - Math.Pow(beta1, step)));
        float invSqrtBc2 = (float)(1 / Math.Sqrt(1 - Math.Pow(beta2, step)));
        float c1 = 1f - beta1, c2 = 1f - beta2;
        int n = param.Length, i = 0;
        ref float pr = ref MemoryMarshal.GetReference(param);
        ref float gr = ref MemoryMarshal.GetReference(grad);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float vr = ref MemoryMarshal.GetReference(v);
        if (vector)
        {
            var vb1 = Vector256.Create(beta1); var vb2 = Vector256.Create(beta2);
            var vc1 = Vector256.Create(c1); var vc2 = Vector256.Create(c2);
            var vdecay = Vector256.Create(decay); var vstep = Vector256.Create(stepSize);
            var vinv = Vector256.Create(invSqrtBc2); var veps = Vector256.Create(eps);
            for (; i <= n - 8; i += 8)
            {
                var g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                var mi = vb1 * Vector256.LoadUnsafe(ref mr, (nuint)i) + vc1 * g;
                var vi = vb2 * Vector256.LoadUnsafe(ref vr, (nuint)i) + vc2 * (g * g);
                var p = Vector256.LoadUnsafe(ref pr, (nuint)i) * vdecay - vstep * mi / (Vector256.Sqrt(vi) * vinv + veps);
                mi.StoreUnsafe(ref mr, (nuint)i);
                vi.StoreUnsafe(ref vr, (nuint)i);
                p.StoreUnsafe(ref pr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float g = Unsafe.Add(ref gr, i);
            float mi = beta1 * Unsafe.Add(ref mr, i) + c1 * g;
            float vi = beta2 * Unsafe.Add(ref vr, i) + c2 * (g * g);
            Unsafe.Add(ref mr, i) = mi;
            Unsafe.Add(ref vr, i) = vi;
            Unsafe.Add(ref pr, i) = Unsafe.Add(ref pr, i) * decay - stepSize * mi / (MathF.Sqrt(vi) * invSqrtBc2 + eps);
        }
    }
}
