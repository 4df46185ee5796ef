using System.Runtime.CompilerServices;

namespace Lora.Autograd;

/// <summary>
/// The differentiable operations. Each lives in its own file under <c>Ops/</c> with its forward (which computes the
/// output with Lora.Kernels and records one tape node when an input requires a gradient) next to its backward
/// (which adds into the gradients of exactly those inputs that require one, skipping the rest's products).
/// </summary>
/// <remarks>
/// Outputs are activations owned by the thread's <see cref="Tape"/> and valid until <see cref="Tape.Reset"/>.
/// Shape mismatches throw <see cref="ArgumentException"/> naming the op and the shapes; a null tensor where one is
/// required, <see cref="ArgumentNullException"/> naming the op and the argument.
/// </remarks>
public static unsafe partial class Ops
{
    /// <summary>The gradient of an input that requires one, or an empty span (the backward then skips that work).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Span<float> GradOf(Tensor? t) => t is { _requiresGrad: true } ? t.Grad : Span<float>.Empty;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool Wants(Tensor? t) => t is { _requiresGrad: true };

    static ArgumentException Mismatch(string op, string what, Tensor a, Tensor b) =>
        new($"{op}: {what}: {a.Describe()} and {b.Describe()}.");

    /// <summary>An <see cref="ArgumentNullException"/> naming the op and the argument, instead of a bare
    /// NullReferenceException from inside the op.</summary>
    static void RequireNotNull(string op, Tensor? t, [CallerArgumentExpression(nameof(t))] string name = "")
    {
        if (t is null) throw new ArgumentNullException(name, $"{op}: {name} is null.");
    }

    static void RequireRank(string op, Tensor t, int minRank, int maxRank = Shape.MaxRank, [CallerArgumentExpression(nameof(t))] string name = "")
    {
        RequireNotNull(op, t, name);
        if (t.Shape.Rank < minRank || t.Shape.Rank > maxRank)
            throw new ArgumentException(minRank == maxRank
                ? $"{op}: {t.Describe()} must have rank {minRank}."
                : $"{op}: {t.Describe()} must have rank {minRank} to {maxRank}.");
    }
}
