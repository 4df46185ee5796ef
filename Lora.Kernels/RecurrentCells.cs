using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lora.Kernels;

/// <summary>tanh(x + y): the Elman cell's update from its two pre-activations (input part, hidden part).</summary>
public readonly struct TanhOfSumOperator : IBinaryOperator
{
    /// <inheritdoc/>
    public static float Invoke(float x, float y) => TanhOperator.Invoke(x + y);
    /// <inheritdoc/>
    public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => TanhOperator.Invoke(x + y);
}

/// <summary>
/// The gate arithmetic of one recurrent time step for a batch of rows, fused into one pass: the GEMMs that feed it
/// (input-to-hidden over the whole sequence, hidden-to-hidden per step) run outside.
/// </summary>
/// <remarks>
/// <para>GRU, PyTorch's equations and gate order (r, z, n). With the pre-activations gx = x·W_ihᵀ + b_ih and
/// gh = h_prev·W_hhᵀ + b_hh, each (n, 3h) laid out [r | z | n] per row:</para>
/// <code>
/// r = σ(gx_r + gh_r),  z = σ(gx_z + gh_z),  ñ = tanh(gx_n + r ⊙ gh_n),  h = (1 − z) ⊙ ñ + z ⊙ h_prev
/// </code>
/// <para>Backward, given dh: dñ = dh ⊙ (1 − z), dz = dh ⊙ (h_prev − ñ), dh_prev += dh ⊙ z; the pre-activation
/// gradients are a_n = dñ ⊙ (1 − ñ²), a_r = a_n ⊙ gh_n ⊙ r(1 − r), a_z = dz ⊙ z(1 − z); then
/// dgx += [a_r | a_z | a_n] and dgh += [a_r | a_z | a_n ⊙ r].</para>
/// <para>Each element is computed on its own (no reductions), so results do not depend on threads. The vector path
/// runs 8 columns at a time when <see cref="Vector256.IsHardwareAccelerated"/>; the <c>…Scalar</c> twins are the
/// fallback and the oracle.</para>
/// </remarks>
public static class RecurrentCells
{
    /// <summary>GRU step forward. gx, gh: (n, 3h); hPrev: (n, h); gates: (n, 3h) receives [r | z | ñ]; hOut: (n, h).</summary>
    public static void GruForward(int n, int h, ReadOnlySpan<float> gx, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev,
        Span<float> gates, Span<float> hOut) => GruForward(n, h, gx, gh, hPrev, gates, hOut, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="GruForward(int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float})"/>.</summary>
    public static void GruForwardScalar(int n, int h, ReadOnlySpan<float> gx, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev,
        Span<float> gates, Span<float> hOut) => GruForward(n, h, gx, gh, hPrev, gates, hOut, false);

    /// <summary>GRU step backward: adds into dgx, dgh (n, 3h) and dhPrev (n, h); an empty gradient span is skipped.
    /// gh, hPrev and gates are the forward's; dh (n, h) is the gradient of its output.</summary>
    public static void GruBackward(int n, int h, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> gates,
        ReadOnlySpan<float> dh, Span<float> dgx, Span<float> dgh, Span<float> dhPrev)
        => GruBackward(n, h, gh, hPrev, gates, dh, dgx, dgh, dhPrev, Vector256.IsHardwareAccelerated);

    /// <summary>Scalar twin of <see cref="GruBackward(int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float})"/>.</summary>
    public static void GruBackwardScalar(int n, int h, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> gates,
        ReadOnlySpan<float> dh, Span<float> dgx, Span<float> dgh, Span<float> dhPrev)
        => GruBackward(n, h, gh, hPrev, gates, dh, dgx, dgh, dhPrev, false);

    static void Check(string kernel, int n, int h, ReadOnlySpan<float> gates3, string gatesName, ReadOnlySpan<float> hidden, string hiddenName, bool optional = false)
    {
        if (n < 0 || h < 0) throw new ArgumentException($"{kernel}: sizes must be non-negative: n = {n}, h = {h}.");
        if (gates3.Length != 3L * n * h && !(optional && gates3.IsEmpty))
            throw new ArgumentException($"{kernel}: {gatesName} has {gates3.Length} elements, expected ({n}, {3L * h}).", gatesName);
        if (hidden.Length != (long)n * h && !(optional && hidden.IsEmpty))
            throw new ArgumentException($"{kernel}: {hiddenName} has {hidden.Length} elements, expected ({n}, {h}).", hiddenName);
    }

    static void GruForward(int n, int h, ReadOnlySpan<float> gx, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev,
        Span<float> gates, Span<float> hOut, bool vector)
    {
        const string k = "GruForward";
        Check(k, n, h, gx, "gx", hPrev, "hPrev");
        Check(k, n, h, gh, "gh", hOut, "hOut");
        Check(k, n, h, gates, "gates", hOut, "hOut");
        // Element by element, so hOut may be hPrev and gates may be gx (each is read before it is written at the same
        // index); any other sharing overwrites values a later column or row still reads.
        SpanOverlap.SameOrDisjoint(k, "hOut", hOut, "hPrev", hPrev);
        SpanOverlap.DisjointFromAll(k, "hOut", hOut, "gx|gh|gates", gx, gh, gates);
        SpanOverlap.SameOrDisjoint(k, "gates", gates, "gx", gx);
        SpanOverlap.DisjointFromAll(k, "gates", gates, "gh|hPrev", gh, hPrev);
        ref float gxr = ref MemoryMarshal.GetReference(gx);
        ref float ghr = ref MemoryMarshal.GetReference(gh);
        ref float hpr = ref MemoryMarshal.GetReference(hPrev);
        ref float gar = ref MemoryMarshal.GetReference(gates);
        ref float hor = ref MemoryMarshal.GetReference(hOut);
        for (int row = 0; row < n; row++)
        {
            nuint g0 = (nuint)(3 * row * h), h0 = (nuint)(row * h), gz = (nuint)h, gn = (nuint)(2 * h);
            int j = 0;
            if (vector)
                for (; j <= h - 8; j += 8)
                {
                    nuint gj = g0 + (nuint)j, hj = h0 + (nuint)j;
                    var r = SigmoidOperator.Invoke(Vector256.LoadUnsafe(ref gxr, gj) + Vector256.LoadUnsafe(ref ghr, gj));
                    var z = SigmoidOperator.Invoke(Vector256.LoadUnsafe(ref gxr, gj + gz) + Vector256.LoadUnsafe(ref ghr, gj + gz));
                    var c = TanhOperator.Invoke(Vector256.LoadUnsafe(ref gxr, gj + gn) + r * Vector256.LoadUnsafe(ref ghr, gj + gn));
                    r.StoreUnsafe(ref gar, gj);
                    z.StoreUnsafe(ref gar, gj + gz);
                    c.StoreUnsafe(ref gar, gj + gn);
                    (c + z * (Vector256.LoadUnsafe(ref hpr, hj) - c)).StoreUnsafe(ref hor, hj);
                }
            for (; j < h; j++)
            {
                nuint gj = g0 + (nuint)j, hj = h0 + (nuint)j;
                float r = SigmoidOperator.Invoke(Unsafe.Add(ref gxr, gj) + Unsafe.Add(ref ghr, gj));
                float z = SigmoidOperator.Invoke(Unsafe.Add(ref gxr, gj + gz) + Unsafe.Add(ref ghr, gj + gz));
                float c = TanhOperator.Invoke(Unsafe.Add(ref gxr, gj + gn) + r * Unsafe.Add(ref ghr, gj + gn));
                Unsafe.Add(ref gar, gj) = r;
                Unsafe.Add(ref gar, gj + gz) = z;
                Unsafe.Add(ref gar, gj + gn) = c;
                Unsafe.Add(ref hor, hj) = c + z * (Unsafe.Add(ref hpr, hj) - c);
            }
        }
    }

    static void GruBackward(int n, int h, ReadOnlySpan<float> gh, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> gates,
        ReadOnlySpan<float> dh, Span<float> dgx, Span<float> dgh, Span<float> dhPrev, bool vector)
    {
        const string k = "GruBackward";
        Check(k, n, h, gh, "gh", hPrev, "hPrev");
        Check(k, n, h, gates, "gates", dh, "dh");
        Check(k, n, h, dgx, "dgx", dhPrev, "dhPrev", optional: true);
        Check(k, n, h, dgh, "dgh", dh, "dh", optional: true);
        SpanOverlap.DisjointFromAll(k, "dgx", dgx, "gh|hPrev|gates|dh|dgh|dhPrev", gh, hPrev, gates, dh, dgh, dhPrev);
        SpanOverlap.DisjointFromAll(k, "dgh", dgh, "gh|hPrev|gates|dh|dhPrev", gh, hPrev, gates, dh, dhPrev);
        SpanOverlap.DisjointFromAll(k, "dhPrev", dhPrev, "gh|hPrev|gates|dh", gh, hPrev, gates, dh);
        bool wantX = !dgx.IsEmpty, wantH = !dgh.IsEmpty, wantP = !dhPrev.IsEmpty;
        if (n * h == 0 || !(wantX || wantH || wantP)) return;
        ref float ghr = ref MemoryMarshal.GetReference(gh);
        ref float hpr = ref MemoryMarshal.GetReference(hPrev);
        ref float gar = ref MemoryMarshal.GetReference(gates);
        ref float dhr = ref MemoryMarshal.GetReference(dh);
        // Skipped gradients point at a dummy (never touched: the flags guard every store).
        float dummy = 0f;
        ref float dxr = ref wantX ? ref MemoryMarshal.GetReference(dgx) : ref dummy;
        ref float dgr = ref wantH ? ref MemoryMarshal.GetReference(dgh) : ref dummy;
        ref float dpr = ref wantP ? ref MemoryMarshal.GetReference(dhPrev) : ref dummy;
        for (int row = 0; row < n; row++)
        {
            nuint g0 = (nuint)(3 * row * h), h0 = (nuint)(row * h), gz = (nuint)h, gn = (nuint)(2 * h);
            int j = 0;
            if (vector)
            {
                var one = Vector256<float>.One;
                for (; j <= h - 8; j += 8)
                {
                    nuint gj = g0 + (nuint)j, hj = h0 + (nuint)j;
                    var r = Vector256.LoadUnsafe(ref gar, gj);
                    var z = Vector256.LoadUnsafe(ref gar, gj + gz);
                    var c = Vector256.LoadUnsafe(ref gar, gj + gn);
                    var d = Vector256.LoadUnsafe(ref dhr, hj);
                    var hp = Vector256.LoadUnsafe(ref hpr, hj);
                    var an = d * (one - z) * (one - c * c);
                    var ar = an * Vector256.LoadUnsafe(ref ghr, gj + gn) * r * (one - r);
                    var az = d * (hp - c) * z * (one - z);
                    if (wantX)
                    {
                        (Vector256.LoadUnsafe(ref dxr, gj) + ar).StoreUnsafe(ref dxr, gj);
                        (Vector256.LoadUnsafe(ref dxr, gj + gz) + az).StoreUnsafe(ref dxr, gj + gz);
                        (Vector256.LoadUnsafe(ref dxr, gj + gn) + an).StoreUnsafe(ref dxr, gj + gn);
                    }
                    if (wantH)
                    {
                        (Vector256.LoadUnsafe(ref dgr, gj) + ar).StoreUnsafe(ref dgr, gj);
                        (Vector256.LoadUnsafe(ref dgr, gj + gz) + az).StoreUnsafe(ref dgr, gj + gz);
                        (Vector256.LoadUnsafe(ref dgr, gj + gn) + an * r).StoreUnsafe(ref dgr, gj + gn);
                    }
                    if (wantP) (Vector256.LoadUnsafe(ref dpr, hj) + d * z).StoreUnsafe(ref dpr, hj);
                }
            }
            for (; j < h; j++)
            {
                nuint gj = g0 + (nuint)j, hj = h0 + (nuint)j;
                float r = Unsafe.Add(ref gar, gj), z = Unsafe.Add(ref gar, gj + gz), c = Unsafe.Add(ref gar, gj + gn);
                float d = Unsafe.Add(ref dhr, hj), hp = Unsafe.Add(ref hpr, hj);
                float an = d * (1f - z) * (1f - c * c);
                float ar = an * Unsafe.Add(ref ghr, gj + gn) * r * (1f - r);
                float az = d * (hp - c) * z * (1f - z);
                if (wantX)
                {
                    Unsafe.Add(ref dxr, gj) += ar;
                    Unsafe.Add(ref dxr, gj + gz) += az;
                    Unsafe.Add(ref dxr, gj + gn) += an;
                }
                if (wantH)
                {
                    Unsafe.Add(ref dgr, gj) += ar;
                    Unsafe.Add(ref dgr, gj + gz) += az;
                    Unsafe.Add(ref dgr, gj + gn) += an * r;
                }
                if (wantP) Unsafe.Add(ref dpr, hj) += d * z;
            }
        }
    }
}
