#!/usr/bin/env python3
"""Generates Lora.Kernels/MicroKernelAvx512*.cs: the AVX-512 register tiles, 12x32, 6x32 and 12x16, built from the AVX2 kernel's own
packed panels (two consecutive 6-row A panels times two consecutive 16-column B panels), so the packing, the
blocking and every bit of the result stay those of the 6x16 kernel (each element is the same FMA chain over p in
order, then the same epilogue). 24 zmm accumulators + 2 B vectors + the broadcast fit AVX-512's 32 registers.
Written out for the same reason as tools/gen_microkernel.py: the accumulators must stay named registers."""
MR, NV, UNROLL = 6, 2, 4


def kernel(rows, nv=NV):
    """The tile of `rows` (12: two A panels, a and an; 6: one) by 32 columns (nv = 2: two B panels, b and bn) or 16
    (nv = 1: one B panel, b)."""
    two = rows == 2 * MR
    acc = [[f"c{r:02d}{v}" for v in range(nv)] for r in range(rows)]

    def step(indent, p):
        if nv == 1:
            s = [f"{indent}b0 = Vector512.Load(b + {p * 16});"]
        else:
            s = [f"{indent}b0 = Vector512.Load(b + {p * 16}); b1 = Vector512.Load(bn + {p * 16});"]
        for r in range(rows):
            src = "a" if r < MR else "an"
            fmas = " ".join(f"{acc[r][v]} = Avx512F.FusedMultiplyAdd(av, b{v}, {acc[r][v]});" for v in range(nv))
            s.append(f"{indent}av = Vector512.Create({src}[{p * MR + r % MR}]); {fmas}")
        return "\n".join(s)

    adv = lambda n: f"a += {MR * n};{f' an += {MR * n};' if two else ''} b += {16 * n};{f' bn += {16 * n};' if nv == 2 else ''}"

    def loops(kc):
        """One stretch's k loop, counted down to zero as in the 6x16 kernel (one compare-and-branch per iteration)."""
        body = "\n".join(step("            ", p) for p in range(UNROLL))
        if two and nv == 2 and kc == "kc":
            body += "\n" + NEXT_LINES
        return f'''        for (int q = {kc} / {UNROLL}; q > 0; q--)
        {{
{body}
            {adv(UNROLL)}
        }}
        for (int q = {kc} % {UNROLL}; q > 0; q--)
        {{
{step("            ", 0)}
            {adv(1)}
        }}'''

    decl = ", ".join(f"{x} = Vector512<float>.Zero" for row in acc for x in row)
    stores = "\n".join(f"            Store(c + {r} * ldc + {v * 16}, {acc[r][v]}, va, vb, bias{v}, beta);" for r in range(rows) for v in range(nv))
    nobias = stores.replace("bias0, beta", "beta").replace("bias1, beta", "beta").replace("Store(", "StoreNoBias(")
    # Three lines cover a 32-float row at any alignment; see tools/gen_microkernel.py for why C is requested early.
    if nv == 1:
        pf = "\n".join(f"        Sse.Prefetch0(c + {r} * ldc); Sse.Prefetch0(c + {r} * ldc + 15);" for r in range(rows))
    else:
        pf = "\n".join(f"        Sse.Prefetch0(c + {r} * ldc); Sse.Prefetch0(c + {r} * ldc + 16); Sse.Prefetch0(c + {r} * ldc + 31);" for r in range(rows))
    if nv == 1:
        doc = '''    /// <summary>As <see cref="Kernel12x32"/> for one 16-column B panel (and one second-stretch panel b2): C[12×16],
    /// 12 zmm accumulators, the bits of the two 6×16 tiles it covers. It serves a single B panel left over.</summary>'''
        sig = "Kernel12x16(int kc, float* a, nint aStride, float* b, int k2, float* a2, nint a2Stride, float* b2,\n        float* c, nint ldc, float alpha, float beta, float* bias)"
        ptrs = "float* an = a + aStride;"
        swap = "a = a2; an = a2 + a2Stride; b = b2;"
    elif two:
        doc = '''    /// <summary>
    /// Two 6-row packed A panels (kc, 6) p-major at a and a + aStride, times two 16-column packed B panels (kc, 16)
    /// p-major at b and b + bStride; then k2 steps of the second stretch's panels (a2, a2 + a2Stride) and (b2,
    /// b2 + b2Stride) into the same accumulators (k2 = 0: none). c: (12, 32) with row stride ldc. beta == 0:
    /// C = alpha·acc (+ bias); otherwise C = alpha·acc + beta·C (+ bias). bias: 32 per-column values or null.
    /// </summary>
    /// <remarks>Each element is one FMA chain over the kc then k2 steps in order, then the epilogue of
    /// <see cref="MicroKernelAvx2.Kernel6x16Tail"/>: the four 6×16 tiles it covers get the bits that kernel
    /// gives them. TNext.Lines lines from <paramref name="next"/> on are asked into L2 every four k steps of the
    /// first stretch (<see cref="INextLines"/>; 0: none, next unused): spread over the calls on one pair of B
    /// panels, the next pair arrives from L3 while this one is in use. A prefetch changes no arithmetic.</remarks>'''
        sig = "Kernel12x32<TNext>(int kc, float* a, nint aStride, float* b, nint bStride, int k2, float* a2, nint a2Stride,\n        float* b2, nint b2Stride, float* c, nint ldc, float alpha, float beta, float* bias, float* next) where TNext : struct, INextLines"
        ptrs = "float* an = a + aStride, bn = b + bStride;"
        swap = "a = a2; an = a2 + a2Stride; b = b2; bn = b2 + b2Stride;"
    else:
        doc = '''    /// <summary>As <see cref="Kernel12x32"/> for one 6-row A panel (and one second-stretch panel a2): C[6×32], 12
    /// zmm accumulators, the bits of the two 6×16 tiles it covers. It serves the rows left below a pair of panels.</summary>'''
        sig = "Kernel6x32(int kc, float* a, float* b, nint bStride, int k2, float* a2, float* b2, nint b2Stride,\n        float* c, nint ldc, float alpha, float beta, float* bias)"
        ptrs = "float* bn = b + bStride;"
        swap = "a = a2; b = b2; bn = b2 + b2Stride;"
    return f'''{doc}
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void {sig}
    {{
        Vector512<float> {decl};
        Vector512<float> {"b0, av" if nv == 1 else "b0, b1, av"};
        {ptrs}
{pf}
{loops("kc")}
        {swap}
{loops("k2")}
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        if (bias == null)
        {{
            // Without bias the adds of zero are skipped (x + 0 would turn -0 into +0).
{nobias}
        }}
        else
        {{
            Vector512<float> {"bias0 = Vector512.Load(bias)" if nv == 1 else "bias0 = Vector512.Load(bias), bias1 = Vector512.Load(bias + 16)"};
{stores}
        }}
    }}'''


# The prefetch of the next B panels, folded away by the JIT for TNext.Lines = 0 (NoNext); Lines is 0, 1 or 4.
NEXT_LINES = """            if (TNext.Lines > 0)
            {
                Sse.Prefetch1(next);
                if (TNext.Lines > 1) { Sse.Prefetch1(next + 16); Sse.Prefetch1(next + 32); Sse.Prefetch1(next + 48); }
                next += 16 * TNext.Lines;
            }"""

WRAPPER = """    /// <summary><see cref="Kernel12x32{TNext}"/> without the prefetch of the next panels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Kernel12x32(int kc, float* a, nint aStride, float* b, nint bStride, int k2, float* a2, nint a2Stride,
        float* b2, nint b2Stride, float* c, nint ldc, float alpha, float beta, float* bias)
        => Kernel12x32<NoNext>(kc, a, aStride, b, bStride, k2, a2, a2Stride, b2, b2Stride, c, ldc, alpha, beta, bias, null);"""

HEADER = """// <auto-generated> by tools/gen_microkernel512.py; edit the generator, not this file. </auto-generated>
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lora.Kernels;
"""

wide = f'''{HEADER}
/// <summary>The AVX-512 register tiles: C[12×32] (here), C[6×32] (MicroKernelAvx512Narrow.cs) and C[12×16]
/// (MicroKernelAvx512Single.cs) (op)= alpha·Ap·Bp over kc, in 24, 12 and 12 zmm accumulators, on the 6×16 kernel's
/// packed panels.</summary>
internal static unsafe partial class MicroKernelAvx512
{{
{kernel(2 * MR)}

{WRAPPER}

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreNoBias(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, float betaScalar)
    {{
        Vector512<float> r = betaScalar == 0f ? acc * alpha : Avx512F.FusedMultiplyAdd(acc, alpha, Vector512.Load(c) * beta);
        Vector512.Store(r, c);
    }}

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, Vector512<float> bias, float betaScalar)
    {{
        Vector512<float> r = betaScalar == 0f ? acc * alpha : Avx512F.FusedMultiplyAdd(acc, alpha, Vector512.Load(c) * beta);
        Vector512.Store(r + bias, c);
    }}
}}
'''
narrow = f'''{HEADER}
internal static unsafe partial class MicroKernelAvx512
{{
{kernel(MR)}
}}
'''
single = f'''{HEADER}
internal static unsafe partial class MicroKernelAvx512
{{
{kernel(2 * MR, 1)}
}}
'''
open("Lora.Kernels/MicroKernelAvx512.cs", "w").write(wide)
open("Lora.Kernels/MicroKernelAvx512Single.cs", "w").write(single)
open("Lora.Kernels/MicroKernelAvx512Narrow.cs", "w").write(narrow)
