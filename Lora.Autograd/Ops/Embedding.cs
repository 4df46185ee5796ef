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
        const string op = "Embedding";
        RequireRank(op, table, 2, 2);
        int vocab = table.Shape[0], dim = table.Shape[1];
        var tape = Tape.Current;
        var y = tape.NewTensor(new Shape(ids.Length, dim));
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
}
