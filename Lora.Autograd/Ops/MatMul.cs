using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Matrix product y = a·b for a (…, k) seen as rows × k and b (k, n); y is (…, n).</summary>
    /// <remarks>Backward: da += dy·bᵀ, db += aᵀ·dy, each GEMM only when that input requires a gradient.</remarks>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        const string op = "MatMul";
        RequireRank(op, a, 1);
        RequireRank(op, b, 2, 2);
        int k = a.Shape.Last, n = b.Shape[1], m = a.Shape.Rows;
        if (b.Shape[0] != k) throw Mismatch(op, "inner dimensions differ", a, b);
        var tape = Tape.Current;
        var y = tape.NewTensor(a.Shape.WithLast(n));
        // a: (m, k), b: (k, n), y: (m, n)
        Gemm.Sgemm(Transpose.No, Transpose.No, m, n, k, 1f, a.Data, Ld(k), b.Data, Ld(n), 0f, y.Data, Ld(n));
        if (Tape.NeedsGrad(a, b))
        {
            ref var node = ref tape.Record(op, &MatMulBackward, y);
            node.A = a; node.B = b; node.I0 = m; node.I1 = k; node.I2 = n;
        }
        return tape.Finish(op, y);
    }

    static void MatMulBackward(ref Node node)
    {
        int m = node.I0, k = node.I1, n = node.I2;
        var dy = node.Out.Grad;
        if (Wants(node.A)) Gemm.Sgemm(Transpose.No, Transpose.Yes, m, k, n, 1f, dy, Ld(n), node.B!.Data, Ld(n), 1f, node.A!.Grad, Ld(k));
        if (Wants(node.B)) Gemm.Sgemm(Transpose.Yes, Transpose.No, k, n, m, 1f, node.A!.Data, Ld(k), dy, Ld(n), 1f, node.B!.Grad, Ld(n));
    }

    /// <summary>The leading dimension of a dense row-major matrix with this many columns: BLAS wants at least 1
    /// even for zero columns (a zero-size product is then a valid no-op, or a zero fill of y when k = 0).</summary>
    static int Ld(int cols) => Math.Max(1, cols);
}
