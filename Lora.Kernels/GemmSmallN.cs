namespace Lora.Kernels;

/// <summary>
/// The small-n path (AVX2/FMA only): C (m×n) with 4 &lt; n ≤ 8 and m &gt; <see cref="GemmBlocking.SmallM"/> is computed
/// as its transpose Cᵀ (n×m) = op(B)ᵀ·op(A)ᵀ on the small-m path, into a per-thread scratch, then moved into C
/// with the beta term: C = Tᵀ + beta·C.
/// </summary>
/// <remarks>
/// Such skinny products are what LoRA's backward is made of: g = dy·B and dB = dyᵀ·h have r columns. On the packed
/// driver they pay for packing all of the tall operand to use it for only n ≤ 16 columns; the small-m path instead
/// streams that operand once, unpacked, and packs only the tiny one. Measured against the packed path in one run
/// (2 busy cores; docs/architecture.md, "Recurrent layers"): 0.5–0.9× the time for n = 8 from 32×8×256 to
/// 4096×8×4096 in every transpose combination; but slower for n ≤ 4 (the transposed problem then takes the axpy
/// tiles with a transposed B: 3× for 1024×4×1024), for n = 16 (1.2–1.5×) and for products below ~16k
/// multiply-adds (a fixed cost of ~1 µs) — hence the window. The result is bitwise the same for any thread count (the small-m path
/// splits along its n, here the original m, and each element is summed by one thread in a fixed order).
/// Rounding: alpha·(the sum) is rounded once into the scratch, then beta·C is added — the same operations as on
/// the other paths, so the oracle's bound is unchanged.
/// </remarks>
internal static unsafe class GemmSmallN
{
    [ThreadStatic] static float[]? t_array;

    /// <summary>On by default; a field only so that the benchmark can compare with the packed path in one run.</summary>
    internal static bool Enabled = true;

    /// <summary>Whether the product takes this path.</summary>
    public static bool Applies(int m, int n, int k) =>
        Enabled && MicroKernel.UseAvx2 && n > GemmBlocking.AxpyMaxM && n <= 8 && m > GemmBlocking.SmallM && (long)m * n * k >= 1 << 14;

    /// <summary>C = alpha·op(A)·op(B) + beta·C for op(A) m×k, op(B) k×n (m, n, k ≥ 1, alpha ≠ 0), via the transpose.</summary>
    public static void Run(int m, int n, int k, GemmOperand a, GemmOperand b, float alpha, float beta, float* c, nint ldc)
    {
        long need = (long)m * n;
        var array = t_array;
        if (array == null || array.Length < need) t_array = array = GC.AllocateUninitializedArray<float>((int)Math.Max(need, (array?.Length ?? 0) * 3L / 2), pinned: true);
        fixed (float* t = array)
        {
            // op(X)ᵀ is the same storage read with the other orientation.
            var bt = new GemmOperand(b.Ptr, b.Ld, !b.Trans);
            var at = new GemmOperand(a.Ptr, a.Ld, !a.Trans);
            if (n > GemmBlocking.AxpyMaxM) GemmSmallM.RunStrips(n, m, k, bt, at, alpha, 0f, t, m, null);
            else
            {
                var plan = new SmallMPlan { M = n, N = m, K = k, A = bt, B = at, Alpha = alpha, Beta = 0f, C = t, Ldc = m };
                GemmSmallM.Run(ref plan);
            }
            // C (m×n) = Tᵀ + beta·C; beta == 0 overwrites (NaN already in C does not leak).
            for (int i = 0; i < m; i++)
            {
                float* ci = c + i * ldc;
                if (beta == 0f) for (int j = 0; j < n; j++) ci[j] = t[(nint)j * m + i];
                else if (beta == 1f) for (int j = 0; j < n; j++) ci[j] += t[(nint)j * m + i];
                else for (int j = 0; j < n; j++) ci[j] = t[(nint)j * m + i] + beta * ci[j];
            }
        }
    }
}
