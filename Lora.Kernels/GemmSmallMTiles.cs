using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;

/// <summary>A compile-time count: generic code over these structs is specialised and its branches fold away.</summary>
internal interface ICount { static abstract int Value { get; } }
internal struct R1 : ICount { public static int Value => 1; }
internal struct R2 : ICount { public static int Value => 2; }
internal struct R3 : ICount { public static int Value => 3; }
internal struct R4 : ICount { public static int Value => 4; }
internal struct R5 : ICount { public static int Value => 5; }
internal struct R6 : ICount { public static int Value => 6; }

/// <summary>A compile-time switch, as <see cref="ICount"/>.</summary>
internal interface IFlag { static abstract bool On { get; } }
internal struct Yes : IFlag { public static bool On => true; }
internal struct No : IFlag { public static bool On => false; }

internal static unsafe partial class GemmSmallM
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load<TMask>(float* p, Vector256<float> mask) where TMask : struct, IFlag =>
        TMask.On ? Avx.MaskLoad(p, mask) : Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<TMask>(float* p, Vector256<float> mask, Vector256<float> v) where TMask : struct, IFlag
    {
        if (TMask.On) Avx.MaskStore(p, mask, v);
        else Vector256.Store(v, p);
    }

    /// <summary>
    /// t[TR×16] (=|+=) Σ_p a[p·lda + r]·b[p·ldb + 0..16] over p &lt; kb; first: start from zero, else from t.
    /// TMask: only the columns selected by m0 (0..7) and m1 (8..15) are read from b and t or written to t.
    /// </summary>
    static void AxpyTile<TR, TMask>(int kb, float* a, nint lda, float* b, nint ldb, float* t, nint ldt, bool first,
        Vector256<float> m0, Vector256<float> m1) where TR : struct, ICount where TMask : struct, IFlag
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (!first)
        {
            c00 = Load<TMask>(t, m0); c01 = Load<TMask>(t + 8, m1);
            if (TR.Value > 1) { c10 = Load<TMask>(t + ldt, m0); c11 = Load<TMask>(t + ldt + 8, m1); }
            if (TR.Value > 2) { c20 = Load<TMask>(t + 2 * ldt, m0); c21 = Load<TMask>(t + 2 * ldt + 8, m1); }
            if (TR.Value > 3) { c30 = Load<TMask>(t + 3 * ldt, m0); c31 = Load<TMask>(t + 3 * ldt + 8, m1); }
            if (TR.Value > 4) { c40 = Load<TMask>(t + 4 * ldt, m0); c41 = Load<TMask>(t + 4 * ldt + 8, m1); }
            if (TR.Value > 5) { c50 = Load<TMask>(t + 5 * ldt, m0); c51 = Load<TMask>(t + 5 * ldt + 8, m1); }
        }
        for (int p = 0; p < kb; p++, a += lda, b += ldb)
        {
            Vector256<float> b0 = Load<TMask>(b, m0), b1 = Load<TMask>(b + 8, m1);
            Vector256<float> av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            if (TR.Value > 1) { av = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11); }
            if (TR.Value > 2) { av = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21); }
            if (TR.Value > 3) { av = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31); }
            if (TR.Value > 4) { av = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41); }
            if (TR.Value > 5) { av = Vector256.Create(a[5]); c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51); }
        }
        Store<TMask>(t, m0, c00); Store<TMask>(t + 8, m1, c01);
        if (TR.Value > 1) { Store<TMask>(t + ldt, m0, c10); Store<TMask>(t + ldt + 8, m1, c11); }
        if (TR.Value > 2) { Store<TMask>(t + 2 * ldt, m0, c20); Store<TMask>(t + 2 * ldt + 8, m1, c21); }
        if (TR.Value > 3) { Store<TMask>(t + 3 * ldt, m0, c30); Store<TMask>(t + 3 * ldt + 8, m1, c31); }
        if (TR.Value > 4) { Store<TMask>(t + 4 * ldt, m0, c40); Store<TMask>(t + 4 * ldt + 8, m1, c41); }
        if (TR.Value > 5) { Store<TMask>(t + 5 * ldt, m0, c50); Store<TMask>(t + 5 * ldt + 8, m1, c51); }
    }

    /// <summary>
    /// sums[i·4 + j] = Σ_p a[i·k + p]·b[j·ldb + p] for i &lt; TI, j &lt; TJ: vector partial sums along k (the last
    /// stretch masked), each reduced once at the end.
    /// </summary>
    static void DotTile<TI, TJ>(int k, float* a, float* b, nint ldb, float* sums) where TI : struct, ICount where TJ : struct, ICount
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default,
            c12 = default, c13 = default, c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> a0, a1 = default, a2 = default, b0, b1 = default, b2 = default, b3 = default;
        int p = 0;
        for (; p + 8 <= k; p += 8)
        {
            a0 = Vector256.Load(a + p);
            if (TI.Value > 1) a1 = Vector256.Load(a + k + p);
            if (TI.Value > 2) a2 = Vector256.Load(a + 2 * k + p);
            b0 = Vector256.Load(b + p);
            if (TJ.Value > 1) { b1 = Vector256.Load(b + ldb + p); b2 = Vector256.Load(b + 2 * ldb + p); b3 = Vector256.Load(b + 3 * ldb + p); }
            c00 = Fma.MultiplyAdd(a0, b0, c00);
            if (TJ.Value > 1) { c01 = Fma.MultiplyAdd(a0, b1, c01); c02 = Fma.MultiplyAdd(a0, b2, c02); c03 = Fma.MultiplyAdd(a0, b3, c03); }
            if (TI.Value > 1)
            {
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                if (TJ.Value > 1) { c11 = Fma.MultiplyAdd(a1, b1, c11); c12 = Fma.MultiplyAdd(a1, b2, c12); c13 = Fma.MultiplyAdd(a1, b3, c13); }
            }
            if (TI.Value > 2)
            {
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                if (TJ.Value > 1) { c21 = Fma.MultiplyAdd(a2, b1, c21); c22 = Fma.MultiplyAdd(a2, b2, c22); c23 = Fma.MultiplyAdd(a2, b3, c23); }
            }
        }
        if (p < k)
        {
            var mask = Mask(k - p);
            a0 = Avx.MaskLoad(a + p, mask);
            if (TI.Value > 1) a1 = Avx.MaskLoad(a + k + p, mask);
            if (TI.Value > 2) a2 = Avx.MaskLoad(a + 2 * k + p, mask);
            b0 = Avx.MaskLoad(b + p, mask);
            if (TJ.Value > 1) { b1 = Avx.MaskLoad(b + ldb + p, mask); b2 = Avx.MaskLoad(b + 2 * ldb + p, mask); b3 = Avx.MaskLoad(b + 3 * ldb + p, mask); }
            c00 = Fma.MultiplyAdd(a0, b0, c00);
            if (TJ.Value > 1) { c01 = Fma.MultiplyAdd(a0, b1, c01); c02 = Fma.MultiplyAdd(a0, b2, c02); c03 = Fma.MultiplyAdd(a0, b3, c03); }
            if (TI.Value > 1)
            {
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                if (TJ.Value > 1) { c11 = Fma.MultiplyAdd(a1, b1, c11); c12 = Fma.MultiplyAdd(a1, b2, c12); c13 = Fma.MultiplyAdd(a1, b3, c13); }
            }
            if (TI.Value > 2)
            {
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                if (TJ.Value > 1) { c21 = Fma.MultiplyAdd(a2, b1, c21); c22 = Fma.MultiplyAdd(a2, b2, c22); c23 = Fma.MultiplyAdd(a2, b3, c23); }
            }
        }
        sums[0] = Vector256.Sum(c00);
        if (TJ.Value > 1) { sums[1] = Vector256.Sum(c01); sums[2] = Vector256.Sum(c02); sums[3] = Vector256.Sum(c03); }
        if (TI.Value > 1)
        {
            sums[4] = Vector256.Sum(c10);
            if (TJ.Value > 1) { sums[5] = Vector256.Sum(c11); sums[6] = Vector256.Sum(c12); sums[7] = Vector256.Sum(c13); }
        }
        if (TI.Value > 2)
        {
            sums[8] = Vector256.Sum(c20);
            if (TJ.Value > 1) { sums[9] = Vector256.Sum(c21); sums[10] = Vector256.Sum(c22); sums[11] = Vector256.Sum(c23); }
        }
    }
}
