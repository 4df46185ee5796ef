namespace Lora.Kernels;

/// <summary>How many threads the kernels (GEMM and everything built on it) may use.</summary>
/// <remarks>
/// The default is <see cref="Environment.ProcessorCount"/>, overridden by the environment variable
/// <c>LORA_NUM_THREADS</c> (read once, at first use, like <c>OPENBLAS_NUM_THREADS</c>; values that are not a
/// positive integer are ignored). <see cref="Count"/> overrides both at run time and may be changed between calls.
/// Results never depend on the thread count: work is split only along the rows and columns of the output,
/// never along the inner dimension, so every element is summed in the same order.
/// </remarks>
public static class KernelThreads
{
    /// <summary>Upper bound on <see cref="Count"/>, far above any core count the kernels are tuned for.</summary>
    public const int MaxCount = 256;

    static readonly int s_default = ReadDefault();
    static int s_count = s_default;

    /// <summary>The thread count from <c>LORA_NUM_THREADS</c>, or the processor count when unset or invalid.</summary>
    public static int Default => s_default;

    /// <summary>The number of threads kernels use from now on (1 = run on the calling thread only).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above <see cref="MaxCount"/>.</exception>
    public static int Count
    {
        get => Volatile.Read(ref s_count);
        set
        {
            if (value < 1 || value > MaxCount)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"KernelThreads.Count must be in [1, {MaxCount}].");
            Volatile.Write(ref s_count, value);
        }
    }

    /// <summary>Restores <see cref="Count"/> to <see cref="Default"/>.</summary>
    public static void Reset() => Volatile.Write(ref s_count, s_default);

    static int ReadDefault()
    {
        string? text = Environment.GetEnvironmentVariable("LORA_NUM_THREADS");
        if (int.TryParse(text, out int n) && n >= 1) return Math.Min(n, MaxCount);
        return Math.Clamp(Environment.ProcessorCount, 1, MaxCount);
    }
}
