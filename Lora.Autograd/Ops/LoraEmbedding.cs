using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>
    /// LoRA on an embedding table (PEFT's formulation): y[i, :] = T[ids[i], :] + s·(A[:, ids[i]])ᵀ·Bᵀ for a table
    /// T (num, dim), A (r, num), B (dim, r) and scale s; y is (ids.Length, dim). With <paramref name="table"/> null,
    /// y is the low-rank term alone (for adding further adapters).
    /// </summary>
    /// <remarks>
    /// Runs on <see cref="LoraEmbeddingKernels"/>: the columns of A the ids select are gathered into h (n, r) and
    /// y = T[ids] + s·h·Bᵀ is one GEMM over the gathered rows. Backward, with g = s·dy·B: dT[ids[i]] += dy_i (only
    /// when T requires a gradient), dA[:, ids[i]] += g_i (only the columns the batch used; repeated ids add up),
    /// dB += s·dyᵀ·h. The ids are read again in the backward: do not change them before it runs.
    /// </remarks>
    /// <exception cref="ArgumentException">Shapes that do not fit together; an id outside [0, num) (an
    /// <see cref="ArgumentOutOfRangeException"/> naming its position).</exception>
    public static Tensor LoraEmbedding(ReadOnlyMemory<int> ids, Tensor? table, Tensor a, Tensor b, float scale)
    {
        CheckLoraEmbedding(table, a, b);
        return LoraEmbeddingOf(ids, table, a, b, scale, new Shape(ids.Length, b.Shape[0]));
    }

    /// <summary>The LoRA lookup with ids held as floats: x (any shape of rank ≤ 3) holds exact integers in
    /// [0, num); y has shape x.Shape + (dim). See <see cref="LoraEmbedding(ReadOnlyMemory{int}, Tensor?, Tensor, Tensor, float)"/>.</summary>
    /// <remarks>The ids are converted into an int buffer rented from the tape (valid until <see cref="Tape.Reset"/>);
    /// x gets no gradient.</remarks>
    /// <exception cref="ArgumentException">Shapes that do not fit together; x of rank 4; an element that is not an
    /// integer in [0, num), naming its index and value.</exception>
    public static Tensor LoraEmbedding(Tensor x, Tensor? table, Tensor a, Tensor b, float scale)
    {
        const string op = "LoraEmbedding";
        CheckLoraEmbedding(table, a, b);
        RequireNotNull(op, x);
        var shape = AppendAxis(op, x.Shape, b.Shape[0]);
        return LoraEmbeddingOf(IdsOf(op, x, a.Shape[1]), table, a, b, scale, shape);
    }

    static void CheckLoraEmbedding(Tensor? table, Tensor a, Tensor b)
    {
        const string op = "LoraEmbedding";
        RequireRank(op, a, 2, 2);
        RequireRank(op, b, 2, 2);
        if (b.Shape[1] != a.Shape[0]) throw Mismatch(op, "A must be (r, num) and B (dim, r) with the same r", a, b);
        if (table != null && (table.Shape.Rank != 2 || table.Shape[0] != a.Shape[1] || table.Shape[1] != b.Shape[0]))
            throw new ArgumentException($"{op}: {table.Describe()} must be ({a.Shape[1]}, {b.Shape[0]}) for A {a.Shape} and B {b.Shape}.");
    }

    static Tensor LoraEmbeddingOf(ReadOnlyMemory<int> ids, Tensor? table, Tensor a, Tensor b, float scale, Shape shape)
    {
        const string op = "LoraEmbedding";
        int r = a.Shape[0], num = a.Shape[1], dim = b.Shape[0], n = ids.Length;
        var tape = Tape.Current;
        var y = tape.NewTensor(shape);
        var h = tape.NewTensor(new Shape(n, r));
        LoraEmbeddingKernels.Forward(num, dim, r, scale, table != null ? table.Data : default, a.Data, b.Data,
            ids.Span, h.Data, y.Data);
        if (Tape.NeedsGrad(table, a, b))
        {
            ref var node = ref tape.Record(op, &LoraEmbeddingBackward, y);
            node.A = table; node.B = a; node.C = b; node.Saved0 = h; node.Ints = ids; node.F0 = scale;
        }
        return tape.Finish(op, y);
    }

    static void LoraEmbeddingBackward(ref Node node)
    {
        Tensor a = node.B!, b = node.C!;
        int r = a.Shape[0], num = a.Shape[1], dim = b.Shape[0], n = node.Ints.Length;
        var pool = node.Out._tape!.Pool;
        float[]? g = Wants(a) && n * r > 0 ? pool.RentFloats(n * r) : null;
        LoraEmbeddingKernels.Backward(num, dim, r, node.F0, b.Data, node.Ints.Span, node.Saved0!.Data, node.Out.Grad,
            g != null ? g.AsSpan(0, n * r) : default, GradOf(node.A), GradOf(a), GradOf(b));
        if (g != null) pool.Return(g);
    }
}
