namespace Lora.Kernels;

/// <summary>Embedding lookup (a row gather) and its backward (a row scatter-add).</summary>
public static class EmbeddingKernels
{
    /// <summary>y[i, :] = table[ids[i], :] for table (vocab, dim), ids (n), y (n, dim).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, vocab), naming its position.</exception>
    public static void Gather(int vocab, int dim, ReadOnlySpan<float> table, ReadOnlySpan<int> ids, Span<float> y)
    {
        Check(vocab, dim, table.Length, ids, y.Length, "y");
        SpanOverlap.Disjoint("Embedding", "y", y, "table", table);
        for (int i = 0; i < ids.Length; i++) table.Slice(ids[i] * dim, dim).CopyTo(y.Slice(i * dim, dim));
    }

    /// <summary>dtable[ids[i], :] += dy[i, :]; repeated ids add up.</summary>
    public static void ScatterAdd(int vocab, int dim, ReadOnlySpan<float> dy, ReadOnlySpan<int> ids, Span<float> dtable)
    {
        Check(vocab, dim, dtable.Length, ids, dy.Length, "dy");
        SpanOverlap.Disjoint("Embedding", "dtable", dtable, "dy", dy);
        for (int i = 0; i < ids.Length; i++) Elementwise.AddInto(dy.Slice(i * dim, dim), dtable.Slice(ids[i] * dim, dim));
    }

    /// <summary>Converts ids stored as floats (the datasets and module pipelines carry floats) to ints:
    /// ids[i] = x[i], each of which must be an exact integer in [0, vocab).</summary>
    /// <returns>−1 when every element converted, else the position of the first element that is not an integer in
    /// [0, vocab) (NaN and ±∞ included); <paramref name="ids"/> is then filled only up to that position.</returns>
    /// <exception cref="ArgumentException">Negative vocab, or <paramref name="ids"/> shorter than <paramref name="x"/>.</exception>
    public static int TryIdsFromFloats(int vocab, ReadOnlySpan<float> x, Span<int> ids)
    {
        if (vocab < 0) throw new ArgumentException($"Embedding: vocab {vocab} must be non-negative.", nameof(vocab));
        if (ids.Length < x.Length) throw new ArgumentException($"Embedding: ids has {ids.Length} elements, fewer than the {x.Length} ids to convert.", nameof(ids));
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            // The range test first: it also rejects NaN, and keeps the cast below in range.
            if (!(v >= 0f && v < vocab) || v != MathF.Floor(v)) return i;
            ids[i] = (int)v;
        }
        return -1;
    }

    static void Check(int vocab, int dim, int tableLength, ReadOnlySpan<int> ids, int rowsLength, string rowsName)
    {
        if (vocab < 0 || dim < 0) throw new ArgumentException($"Embedding: sizes must be non-negative, got ({vocab}, {dim}).");
        if (tableLength != (long)vocab * dim) throw new ArgumentException($"Embedding: table has {tableLength} elements, expected ({vocab}, {dim}).", "table");
        if (rowsLength != (long)ids.Length * dim) throw new ArgumentException($"Embedding: {rowsName} has {rowsLength} elements, expected ({ids.Length}, {dim}).", rowsName);
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), $"Embedding: id {ids[i]} at position {i} is outside [0, {vocab}).");
    }
}
