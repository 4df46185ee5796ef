using Lora.Kernels;

namespace Lora.Autograd;

public static unsafe partial class Ops
{
    /// <summary>Looks up rows of a table: y[i, :] = table[ids[i], :] for table (vocab, dim); y is (ids.Length, dim).</summary>
    /// <remarks>Backward: a scatter-add, dtable[ids[i], :] += dy[i, :] (repeated ids add up). The ids are read
    /// again in the backward: do not change them before it runs.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, vocab), naming its position.</exception>
    public static Tensor Embedding(ReadOnlyMemory<int> ids, Tensor table)
    {
        RequireRank("Embedding", table, 2, 2);
        return EmbeddingOf(ids, table, new Shape(ids.Length, table.Shape[1]));
    }

    /// <summary>The lookup with ids stored as floats: x (any shape of rank ≤ 3) holds exact integers in
    /// [0, vocab); y has shape x.Shape + (dim), y[…, :] = table[x[…], :].</summary>
    /// <remarks>The ids are converted into an int buffer rented from the tape, which lives until
    /// <see cref="Tape.Reset"/>, so the backward reads them even if x changes in between. x gets no gradient
    /// (ids are not differentiable). Backward as in <see cref="Embedding(ReadOnlyMemory{int}, Tensor)"/>.</remarks>
    /// <exception cref="ArgumentException">x of rank 4, or an element that is not an integer in [0, vocab),
    /// naming its index and value.</exception>
    public static Tensor Embedding(Tensor x, Tensor table)
    {
        const string op = "Embedding";
        RequireRank(op, table, 2, 2);
        RequireNotNull(op, x);
        var shape = AppendAxis(op, x.Shape, table.Shape[1]);
        return EmbeddingOf(IdsOf(op, x, table.Shape[0]), table, shape);
    }

    static Tensor EmbeddingOf(ReadOnlyMemory<int> ids, Tensor table, Shape shape)
    {
        const string op = "Embedding";
        int vocab = table.Shape[0], dim = table.Shape[1];
        var tape = Tape.Current;
        var y = tape.NewTensor(shape);
        EmbeddingKernels.Gather(vocab, dim, table.Data, ids.Span, y.Data);
        if (Tape.NeedsGrad(table))
        {
            ref var node = ref tape.Record(op, &EmbeddingBackward, y);
            node.A = table; node.Ints = ids;
        }
        return tape.Finish(op, y);
    }

    static void EmbeddingBackward(ref Node node) =>
        EmbeddingKernels.ScatterAdd(node.A!.Shape[0], node.A.Shape[1], node.Out.Grad, node.Ints.Span, node.A.Grad);

    /// <summary>The ids held as floats in x, converted into a tape-owned buffer (valid until the next reset).</summary>
    static ReadOnlyMemory<int> IdsOf(string op, Tensor x, int vocab)
    {
        var tape = Tape.Current;
        int n = x.Length;
        int[] ids = tape.RentInts(n);
        int bad = EmbeddingKernels.TryIdsFromFloats(vocab, x.Data, ids);
        if (bad >= 0)
            throw new ArgumentException($"{op}: {x.Describe()} holds {x.Data[bad]:R} at index {IndexText(x.Shape, bad)}; ids must be integers in [0, {vocab}).", nameof(x));
        return new ReadOnlyMemory<int>(ids, 0, n);
    }

    /// <summary>shape + (size): the output shape of a lookup.</summary>
    static Shape AppendAxis(string op, Shape shape, int size) => shape.Rank switch
    {
        0 => new Shape(size),
        1 => new Shape(shape[0], size),
        2 => new Shape(shape[0], shape[1], size),
        3 => new Shape(shape[0], shape[1], shape[2], size),
        _ => throw new ArgumentException($"{op}: ids of shape {shape} would give rank 5; at most rank 3 ids are supported."),
    };

    /// <summary>The row-major multi-index of flat position <paramref name="flat"/>, e.g. <c>(1, 2)</c>.</summary>
    static string IndexText(Shape shape, int flat)
    {
        if (shape.Rank <= 1) return $"({flat})";
        Span<int> index = stackalloc int[Shape.MaxRank];
        for (int axis = shape.Rank - 1; axis >= 0; axis--)
        {
            index[axis] = flat % shape[axis];
            flat /= shape[axis];
        }
        return "(" + string.Join(", ", index[..shape.Rank].ToArray()) + ")";
    }
}
